package history

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// everyKind returns one valid op of each kind, with every field of its
// payload set (so that a field missing from a decoding table shows up).
func everyKind() []Op {
	return []Op{
		{ID: 0, Process: 0, Kind: KindCreateStream, Outcome: OK, Invoke: 1, Complete: 2,
			Stream: &StreamSpec{Name: "s", Partitions: 2}},
		{ID: 1, Process: 0, Kind: KindCreateQueue, Outcome: OK, Invoke: 3, Complete: 4,
			Queue: &QueueSpec{Name: "q", Stream: "s", DeadLetter: "dlq", MaxReceives: 3}},
		{ID: 2, Process: 1, Kind: KindProduce, Outcome: OK, Invoke: 5, Complete: 9, Error: "none",
			Produce: &Produce{Stream: "s", Partition: 1, Key: "k", Value: "p1-0", Producer: "p1", Seq: 0,
				Idempotent: true, Ordered: true, Result: &Position{Partition: 1, Offset: 0}}},
		{ID: 3, Process: 2, Kind: KindSend, Outcome: Unknown, Invoke: 6, Complete: 20, Error: "deadline exceeded",
			Produce: &Produce{Stream: "s", Queue: "q", Partition: AnyPartition, Key: "k2", Value: "p2-0",
				Producer: "p2", Seq: 0, Idempotent: true}},
		{ID: 4, Process: 3, Kind: KindFetch, Outcome: OK, Invoke: 21, Complete: 22,
			Fetch: &Fetch{Stream: "s", Partition: 1, From: 0, Final: true,
				Result: &FetchResult{LogStart: 0, HighWatermark: 2, Records: []Record{{0, "p1-0"}, {1, "p2-0"}}}}},
		{ID: 5, Process: 4, Kind: KindJoin, Outcome: OK, Invoke: 1, Complete: 2,
			Join: &Join{Group: "g", Member: "m1", Streams: []string{"s"}}},
		{ID: 6, Process: 4, Kind: KindDeliver, Outcome: OK, Invoke: 10, Complete: 11,
			Deliver: &Deliver{Group: "g", Member: "m1", Stream: "s", Partition: 1, Offset: 0, Value: "p1-0"}},
		{ID: 7, Process: 4, Kind: KindCommit, Outcome: Failed, Invoke: 12, Complete: 13,
			Commit: &Commit{Group: "g", Member: "m1", Offsets: []Offset{{Stream: "s", Partition: 1, Offset: 1}}}},
		{ID: 8, Process: 4, Kind: KindOffsets, Outcome: OK, Invoke: 30, Complete: 31,
			Commit: &Commit{Group: "g", Offsets: []Offset{{Stream: "s", Partition: 1, Offset: 2}}}},
		{ID: 9, Process: 5, Kind: KindReceive, Outcome: OK, Invoke: 14, Complete: 15,
			Receive: &Receive{Queue: "q", Partition: 1, Offset: 1, Receipt: "r1", ReceiveCount: 1, Value: "p2-0"}},
		{ID: 10, Process: 5, Kind: KindReceive, Outcome: Failed, Invoke: 16, Complete: 17, Receive: &Receive{Queue: "q"}},
		{ID: 11, Process: 5, Kind: KindAck, Outcome: OK, Invoke: 18, Complete: 19,
			Ack: &Ack{Queue: "q", Partition: 1, Offset: 1, Receipt: "r1"}},
		{ID: 12, Process: 6, Kind: KindDeadLetter, Outcome: OK, Invoke: 20, Complete: 21,
			DeadLetter: &DeadLetter{Queue: "q", Stream: "dlq", Partition: 0, Offset: 4, Value: "p2-0",
				Source: Location{Stream: "s", Partition: 1, Offset: 1}}},
		{ID: 13, Process: -1, Kind: KindFault, Outcome: OK, Invoke: 7, Complete: 8,
			Fault: &Fault{Action: FaultPartition, Nodes: []string{"n1", "n2"}, Note: "majority cut off"}},
	}
}
