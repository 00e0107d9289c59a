package checker

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hb builds small histories. Ops get IDs in order and, unless span sets
// them, a time slot of their own after the previous op's.
type hb struct {
	ops []history.Op
	t   int64
}

func (b *hb) add(op history.Op) int64 {
	op.ID = int64(len(b.ops))
	b.t += 10
	op.Invoke, op.Complete = b.t, b.t+5
	if op.Outcome == "" {
		op.Outcome = history.OK
	}
	b.ops = append(b.ops, op)
	return op.ID
}

// span sets the times of op id.
func (b *hb) span(id, invoke, complete int64) {
	b.ops[id].Invoke, b.ops[id].Complete = invoke, complete
	b.t = max(b.t, complete)
}

func (b *hb) stream(name string, partitions int32) int64 {
	return b.add(history.Op{Kind: history.KindCreateStream, Stream: &history.StreamSpec{Name: name, Partitions: partitions}})
}

func (b *hb) queue(name, stream, deadLetter string) int64 {
	return b.add(history.Op{Kind: history.KindCreateQueue,
		Queue: &history.QueueSpec{Name: name, Stream: stream, DeadLetter: deadLetter, MaxReceives: 3}})
}

// produce writes value v (made by history.NewValue) to stream/part, key
// "k", with outcome o; offset is the acknowledged offset when ok.
func (b *hb) produce(stream string, part int32, v history.Value, o history.Outcome, offset int64) int64 {
	producer, seq, _ := v.Split()
	p := &history.Produce{Stream: stream, Partition: part, Key: "k", Value: v, Producer: producer, Seq: seq,
		Idempotent: true, Ordered: true}
	if o == history.OK {
		p.Result = &history.Position{Partition: part, Offset: offset}
	}
	return b.add(history.Op{Process: 1, Kind: history.KindProduce, Outcome: o, Produce: p})
}

// send sends v to queue q over stream.
func (b *hb) send(q, stream string, v history.Value, o history.Outcome, offset int64) int64 {
	id := b.produce(stream, 0, v, o, offset)
	b.ops[id].Kind, b.ops[id].Produce.Queue = history.KindSend, q
	return id
}

// recs returns records at offsets from, from+1, ...
func recs(from int64, vs ...history.Value) []history.Record {
	out := make([]history.Record, len(vs))
	for i, v := range vs {
		out[i] = history.Record{Offset: from + int64(i), Value: v}
	}
	return out
}

func (b *hb) fetch(stream string, part int32, final bool, hwm int64, rs []history.Record) int64 {
	from := int64(0)
	if len(rs) > 0 {
		from = rs[0].Offset
	}
	return b.add(history.Op{Process: 2, Kind: history.KindFetch, Fetch: &history.Fetch{Stream: stream,
		Partition: part, From: from, Final: final,
		Result: &history.FetchResult{HighWatermark: hwm, Records: rs}}})
}

func (b *hb) join(group string, streams ...string) int64 {
	return b.add(history.Op{Process: 3, Kind: history.KindJoin,
		Join: &history.Join{Group: group, Member: "m1", Streams: streams}})
}

func (b *hb) deliver(group, stream string, part int32, off int64, v history.Value) int64 {
	return b.add(history.Op{Process: 3, Kind: history.KindDeliver, Deliver: &history.Deliver{Group: group,
		Member: "m1", Stream: stream, Partition: part, Offset: off, Value: v}})
}

func (b *hb) commit(kind history.Kind, group string, o history.Outcome, offsets ...history.Offset) int64 {
	member := "m1"
	if kind == history.KindOffsets {
		member = ""
	}
	return b.add(history.Op{Process: 3, Kind: kind, Outcome: o,
		Commit: &history.Commit{Group: group, Member: member, Offsets: offsets}})
}

func (b *hb) receive(q string, off int64, v history.Value, count int) int64 {
	return b.add(history.Op{Process: 4, Kind: history.KindReceive, Receive: &history.Receive{Queue: q,
		Offset: off, Receipt: "r" + string(v), ReceiveCount: count, Value: v}})
}

func (b *hb) ack(q string, off int64, o history.Outcome) int64 {
	return b.add(history.Op{Process: 4, Kind: history.KindAck, Outcome: o,
		Ack: &history.Ack{Queue: q, Offset: off, Receipt: "r"}})
}

func (b *hb) deadLetter(q, dlq string, off int64, v history.Value, source history.Location) int64 {
	return b.add(history.Op{Process: 5, Kind: history.KindDeadLetter, DeadLetter: &history.DeadLetter{Queue: q,
		Stream: dlq, Offset: off, Value: v, Source: source}})
}

func (b *hb) fault(a history.FaultAction, nodes ...string) int64 {
	return b.add(history.Op{Process: -1, Kind: history.KindFault, Fault: &history.Fault{Action: a, Nodes: nodes}})
}
