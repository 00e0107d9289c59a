package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/consumergroup"
)

// Shorthands for ops.
func qInit(floor int64) QueueOp { return QueueOp{Kind: QueueInit, Offset: floor} }
func qRecv(off int64) QueueOp   { return QueueOp{Kind: QueueReceive, Offset: off} }
func qAck(off int64) QueueOp    { return QueueOp{Kind: QueueAck, Offset: off} }
func qAckRange(start, end int64) QueueOp {
	return QueueOp{Kind: QueueAckRange, Offset: start, End: end}
}

func queueCmd(ts int64, queue string, ops ...QueueOp) []byte {
	return appendQueueUpdate(nil, ts, queue, ops)
}

func queueDeleteCmd(queue string) []byte { return appendQueueDelete(nil, queue) }

// testQueueTable is a table of three queues whose floors are at most 12.
func testQueueTable() queueTable {
	a := consumergroup.NewAckState(3)
	a.Receive(4)
	a.Receive(4)
	a.Ack(6)
	a.Receive(9)
	a.AckRange(10, 12)
	return queueTable{"a": a, "grüße · 组": consumergroup.NewAckState(12), strings.Repeat("q", MaxQueueNameBytes): consumergroup.NewAckState(0)}
}

// referenceQueueTableOf encodes t from the documented format
// (queuestate.go), independently of the code under test.
func referenceQueueTableOf(t queueTable) []byte {
	be := binary.BigEndian
	names := slices.Sorted(maps.Keys(t))
	b := be.AppendUint32(nil, uint32(len(names)))
	for _, name := range names {
		b = be.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = t[name].AppendBinary(b)
	}
	return b
}

// referenceQueueTable encodes r's queue table from the documented format.
func referenceQueueTable(t testing.TB, r *Replica) []byte {
	t.Helper()
	r.queues.RLock()
	defer r.queues.RUnlock()
	return referenceQueueTableOf(r.queues.table)
}

// describeQueue prints queue's state on offsets [0, end) as stable text:
// the floor, the done offsets above it and the receive counts.
func describeQueue(r *Replica, queue string, end int64) string {
	var out string
	ok := r.QueueState(queue, func(s *consumergroup.AckState) { out = describeAckState(s, end) })
	if !ok {
		return "none"
	}
	return out
}

func describeAckState(s *consumergroup.AckState, end int64) string {
	var done, recv []string
	for off := s.Floor(); off < end; off++ {
		if s.Done(off) {
			done = append(done, fmt.Sprint(off))
		}
		if c := s.ReceiveCount(off); c > 0 {
			recv = append(recv, fmt.Sprintf("%d:%d", off, c))
		}
	}
	return fmt.Sprintf("floor %d done [%s] receives [%s]", s.Floor(), strings.Join(done, " "), strings.Join(recv, " "))
}

// describeQueues describes every queue of r, sorted by name.
func describeQueues(r *Replica, end int64) []string {
	var out []string
	for _, q := range r.Queues() {
		out = append(out, q+": "+describeQueue(r, q, end))
	}
	return out
}

// checkQueueBytes checks the tracked size of r's queue table against its
// encoding.
func checkQueueBytes(t testing.TB, r *Replica) {
	t.Helper()
	r.queues.RLock()
	defer r.queues.RUnlock()
	if enc := int64(len(r.queues.table.appendTo(nil))); r.queueBytes != r.queues.table.size() || r.queueBytes != enc {
		t.Fatalf("tracked queue table size %d, size() %d, encoded %d", r.queueBytes, r.queues.table.size(), enc)
	}
}

// res builds expected results.
func ok(floor int64) QueueOpResult { return QueueOpResult{Floor: floor} }
func counted(floor int64, n uint32) QueueOpResult {
	return QueueOpResult{Floor: floor, Count: n}
}
func acked(floor int64) QueueOpResult { return QueueOpResult{Floor: floor, NewlyDone: true} }
func refused(floor int64, err error) QueueOpResult {
	return QueueOpResult{Floor: floor, Err: err}
}

func outOfRange(q string, k QueueOpKind, off, floor, end int64) error {
	return &QueueOffsetOutOfRangeError{Queue: q, Op: k, Offset: off, Floor: floor, LogEnd: end}
}

func TestUpdateQueueAPI(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	defer r.Close()
	ctx := context.Background()
	if _, err := r.UpdateQueue(ctx, "q", []QueueOp{qInit(0)}); !errors.Is(err, ErrNoProposer) {
		t.Fatalf("UpdateQueue without a group: %v", err)
	}
	if err := r.DeleteQueue(ctx, "q"); !errors.Is(err, ErrNoProposer) {
		t.Fatalf("DeleteQueue without a group: %v", err)
	}
	d := &direct{r: r, term: 1}
	r.Attach(d)

	// Malformed calls are refused before anything is proposed.
	for _, tc := range []struct {
		field string
		queue string
		ops   []QueueOp
	}{
		{"queue", "", []QueueOp{qInit(0)}},
		{"queue", strings.Repeat("q", MaxQueueNameBytes+1), []QueueOp{qInit(0)}},
		{"queue", strings.Repeat("q", 1<<17), []QueueOp{qInit(0)}},
		{"queue", "a\tb", []QueueOp{qInit(0)}},
		{"queue", "\xc3", []QueueOp{qInit(0)}},
		{"ops", "q", nil},
		{"ops", "q", make([]QueueOp, MaxQueueOps+1)},
		{"ops", "q", []QueueOp{qInit(0), {Kind: 5}}},
		{"ops", "q", []QueueOp{{Kind: 0}}},
	} {
		_, err := r.UpdateQueue(ctx, tc.queue, tc.ops)
		var ie *InvalidQueueUpdateError
		if !errors.Is(err, ErrInvalidQueueUpdate) || !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("UpdateQueue(%.20q, %d ops): %v, want field %s", tc.queue, len(tc.ops), err, tc.field)
		}
	}
	if err := r.DeleteQueue(ctx, "a\x00"); !errors.Is(err, ErrInvalidQueueUpdate) {
		t.Errorf("DeleteQueue of a bad name: %v", err)
	}
	if d.index != 0 {
		t.Fatalf("%d malformed calls were proposed", d.index)
	}

	if _, err := r.Produce(ctx, plain(t, 10)); err != nil {
		t.Fatal(err)
	}
	res, err := r.UpdateQueue(ctx, "q", []QueueOp{qInit(2), qRecv(3), qRecv(3), qAck(2), qAck(2), qAck(10)})
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueOpResult{ok(2), counted(2, 1), counted(2, 2), acked(3), ok(3), refused(3, outOfRange("q", QueueAck, 10, 3, 10))}
	for i := range want {
		checkQueueResult(t, fmt.Sprint("op ", i), res[i], want[i])
	}
	// The largest call is one command.
	ops := make([]QueueOp, MaxQueueOps)
	for i := range ops {
		ops[i] = qRecv(int64(i % 10))
	}
	before := d.index
	if res, err := r.UpdateQueue(ctx, "q", ops); err != nil || len(res) != MaxQueueOps || d.index != before+1 {
		t.Fatalf("%d ops: %d results, %v, %d commands", MaxQueueOps, len(res), err, d.index-before)
	}
	var floor int64
	if !r.QueueState("q", func(s *consumergroup.AckState) { floor = s.Floor() }) || floor != 3 {
		t.Fatalf("QueueState: floor %d", floor)
	}
	if r.QueueState("other", func(*consumergroup.AckState) { t.Fatal("fn called for an unknown queue") }) {
		t.Fatal("QueueState found an unknown queue")
	}
	for _, q := range []string{"b", "a", "é", "B"} {
		if _, err := r.UpdateQueue(ctx, q, []QueueOp{qInit(0)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Queues(); !slices.Equal(got, []string{"B", "a", "b", "q", "é"}) {
		t.Fatalf("Queues = %q", got)
	}
	if err := r.DeleteQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteQueue(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if got := r.Queues(); !slices.Equal(got, []string{"B", "a", "b", "é"}) {
		t.Fatalf("Queues after delete = %q", got)
	}
	checkQueueBytes(t, r)
}

func TestQueueCommandCodec(t *testing.T) {
	for _, tc := range []struct {
		ts    int64
		queue string
		ops   []QueueOp
	}{
		{0, "q", []QueueOp{qInit(0)}},
		{-1, "grüße", []QueueOp{qInit(1<<63 - 1), qRecv(-1), qAck(7), qAckRange(-5, 1<<62)}},
		{1 << 62, strings.Repeat("q", MaxQueueNameBytes), slices.Repeat([]QueueOp{qAckRange(1, 2), qRecv(3)}, MaxQueueOps/2)},
	} {
		b := appendQueueUpdate(nil, tc.ts, tc.queue, tc.ops)
		// The documented layout, written out by hand.
		be := binary.BigEndian
		want := be.AppendUint64([]byte{1, 6}, uint64(tc.ts))
		want = append(be.AppendUint16(want, uint16(len(tc.queue))), tc.queue...)
		want = be.AppendUint16(want, uint16(len(tc.ops)))
		for _, op := range tc.ops {
			want = be.AppendUint64(append(want, byte(op.Kind)), uint64(op.Offset))
			if op.Kind == QueueAckRange {
				want = be.AppendUint64(want, uint64(op.End))
			}
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("encoding of %d ops differs from the documented layout", len(tc.ops))
		}
		c, err := decodeCommand(b)
		if err != nil || c.typ != cmdQueueUpdate || c.timestamp != tc.ts || c.queue != tc.queue || !slices.Equal(c.queueOps, tc.ops) {
			t.Fatalf("decode: %v", err)
		}
		// The name does not alias the command.
		for i := range b {
			b[i] ^= 0xff
		}
		if c.queue != tc.queue {
			t.Fatal("decoded name aliases the command")
		}
		for n := range len(want) {
			if len(want) > 200 && n > 100 && n < len(want)-100 {
				continue // the middle of the long one teaches nothing more
			}
			if _, err := decodeCommand(want[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d of %d bytes: %v", n, len(want), err)
			}
		}
		if _, err := decodeCommand(append(want, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("trailing byte: %v", err)
		}
	}

	del := appendQueueDelete(nil, "grüße")
	if want := append([]byte{1, 7, 0, 7}, "grüße"...); !bytes.Equal(del, want) {
		t.Fatalf("delete encoding %x, want %x", del, want)
	}
	if c, err := decodeCommand(del); err != nil || c.typ != cmdQueueDelete || c.queue != "grüße" {
		t.Fatalf("decode delete: %+v, %v", c, err)
	}
	for n := range len(del) {
		if _, err := decodeCommand(del[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("delete truncated to %d bytes: %v", n, err)
		}
	}

	head := append([]byte{1, 6, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 1, 'q')
	for name, b := range map[string][]byte{
		"no ops":            append(head, 0, 0),
		"too many ops":      append(append(head, 0x10, 0x01), make([]byte, 9*(MaxQueueOps+1))...),
		"count over bytes":  append(head, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1),
		"unknown kind 0":    append(head, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1),
		"unknown kind 5":    append(head, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 1),
		"range without end": append(head, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 1),
		"name past the end": {1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 'q'},
		"delete trailing":   append(queueDeleteCmd("q"), 0),
		"delete past end":   {1, 7, 0, 2, 'q'},
	} {
		if _, err := decodeCommand(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// TestQueueReadersDuringApply reads queue states from several goroutines
// while Apply updates and deletes them and Restore replaces the table (run
// with -race). Every state read is whole: its receive counts never exceed
// the receives made.
func TestQueueReadersDuringApply(t *testing.T) {
	_, snap := snapshotBytes(t, 5)
	r := newNode(t, vfs.NewMem()).open(t, "p0")
	defer r.Close()
	r.Attach(&direct{r: r, term: 1})
	ctx := context.Background()
	if _, err := r.Produce(ctx, plain(t, 50)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := fmt.Sprint("q", i%2)
				r.QueueState(q, func(s *consumergroup.AckState) {
					if enc := s.AppendBinary(nil); int64(len(enc)) != ackStateSize(s) || s.ReceiveCount(s.Floor()) > 400 {
						errs <- fmt.Errorf("%s: torn state", q)
					}
				})
				for _, name := range r.Queues() {
					r.QueueState(name, func(s *consumergroup.AckState) { _ = s.NextPending(0) })
				}
			}
		}()
	}
	for i := range 400 {
		q := fmt.Sprint("q", i%2)
		off := int64(i % 50)
		if _, err := r.UpdateQueue(ctx, q, []QueueOp{qInit(0), qRecv(off), qRecv((off + 7) % 50), qAck(off)}); err != nil {
			t.Fatal(err)
		}
		if i%97 == 96 {
			if err := r.DeleteQueue(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if i == 200 {
			if err := r.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			r.Attach(&direct{r: r, term: 1, index: r.AppliedIndex()})
			if _, err := r.Produce(ctx, plain(t, 50)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkQueueBytes(t, r)
}
