package metadata

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/replication"
)

// raw encodes a command without validating it, so tests can propose what
// the Encode functions would refuse.
func raw(c any) []byte {
	switch c := c.(type) {
	case RegisterNode:
		return c.appendTo(nil)
	case RemoveNode:
		return c.appendTo(nil)
	case CreateStream:
		return c.appendTo(nil)
	case DeleteStream:
		return c.appendTo(nil)
	case AlterStream:
		return c.appendTo(nil)
	case AllocateProducerIDs:
		return c.appendTo(nil)
	case ReassignPartition:
		return c.appendTo(nil)
	case PutGroup:
		b, err := c.appendTo(nil)
		if err != nil {
			panic(fmt.Sprintf("raw: %+v: %v", c, err)) // AppendBinary encodes only valid states
		}
		return b
	case DeleteGroup:
		return c.appendTo(nil)
	case CreateQueue:
		return c.appendTo(nil)
	case AlterQueue:
		return c.appendTo(nil)
	case DeleteQueue:
		return c.appendTo(nil)
	}
	panic(fmt.Sprintf("raw: %T is not a command", c))
}

// harness applies commands to an FSM at consecutive raft indexes.
type harness struct {
	t     testing.TB
	f     *FSM
	index uint64
}

func newHarness(t testing.TB) *harness { return &harness{t: t, f: NewFSM()} }

// apply applies the encoded command b at the next index.
func (h *harness) apply(b []byte) any {
	h.index++
	return h.f.Apply(replication.Entry{Index: h.index, Term: 1, Data: b})
}

// do applies command c (encoded without validation).
func (h *harness) do(c any) any { return h.apply(raw(c)) }

// must applies c and fails the test if the response is an error.
func (h *harness) must(c any) any {
	h.t.Helper()
	resp := h.do(c)
	if err, ok := resp.(error); ok {
		h.t.Fatalf("%T %+v: %v", c, c, err)
	}
	return resp
}

// nodes registers n active nodes n1..n<n>.
func (h *harness) nodes(n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		h.must(node(fmt.Sprint("n", i), NodeActive))
	}
}

func node(id string, st NodeState) RegisterNode {
	return RegisterNode{ID: id, RaftAddr: id + ":7000", ClientAddr: id + ":9092", State: st, Timestamp: 1000}
}

// stream is a valid CreateStream with explicit values.
func stream(name string, partitions, rf int) CreateStream {
	return CreateStream{Name: name, Partitions: partitions, ReplicationFactor: rf,
		RetentionMs: DefaultRetentionMs, RetentionBytes: Unlimited, MaxRecordBytes: DefaultMaxRecordBytes, Timestamp: 5000}
}

// snapshotOf returns the snapshot bytes of f.
func snapshotOf(t testing.TB, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var w bytes.Buffer
	if err := s.Persist(&w); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

// encodeView is encodeSnapshot of a View that must encode.
func encodeView(t testing.TB, v *View, applied uint64) []byte {
	t.Helper()
	b, err := encodeSnapshot(v, applied)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// group is a valid consumer group state of the given generation: members
// m001, m002, …, subscribed to "orders" and "audit", with the partitions
// of "orders" 0..3 dealt round robin. Members, Streams and Assigned are
// non-nil only when they hold something, as decoding leaves them.
func group(name string, generation int32, members int) consumergroup.GroupState {
	g := consumergroup.GroupState{Name: name, Generation: generation, Strategy: consumergroup.RangeName}
	for i := range members {
		g.Members = append(g.Members, consumergroup.MemberState{
			ID: fmt.Sprintf("m%03d", i+1), Streams: []string{"audit", "orders"},
			SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
		})
	}
	for p := range int32(4) {
		if members > 0 {
			m := &g.Members[int(p)%members]
			m.Assigned = append(m.Assigned, consumergroup.TopicPartition{Stream: "orders", Partition: p})
		}
	}
	return g
}

// putGroup is a PutGroup of g at the leader time ts.
func putGroup(g consumergroup.GroupState, expect uint64, ts int64) PutGroup {
	return PutGroup{State: g, ExpectVersion: expect, Timestamp: ts}
}

// queue is a valid CreateQueue of name over stream with explicit values
// and no dead-letter stream, at the leader time 6000.
func queue(name, stream string) CreateQueue {
	return CreateQueue{Name: name, Stream: stream, VisibilityTimeoutMs: DefaultVisibilityTimeoutMs, Timestamp: 6000}
}
