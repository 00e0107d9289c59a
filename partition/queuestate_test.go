package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/replication"
)

// TestApplyQueueCommands runs queue commands through Apply on a log
// holding [5, 10) and checks each op's result and the final states.
func TestApplyQueueCommands(t *testing.T) {
	type step struct {
		cmd  []byte
		want []QueueOpResult // per op; nil for a delete
		// err is the whole command's refusal (an *InvalidQueueUpdateError
		// compared by Field).
		err error
	}
	unknown := func(q string) QueueOpResult { return refused(-1, &UnknownQueueError{Queue: q}) }
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"init creates at the floor", []step{
			{cmd: queueCmd(1, "q", qInit(7)), want: []QueueOpResult{ok(7)}},
		}, []string{"q: floor 7 done [] receives []"}},
		{"init of an existing queue changes nothing", []step{
			{cmd: queueCmd(1, "q", qInit(7), qInit(2), qInit(9)), want: []QueueOpResult{ok(7), ok(7), ok(7)}},
		}, []string{"q: floor 7 done [] receives []"}},
		{"init at 0, below the log start, and at the log end", []step{
			{cmd: queueCmd(1, "a", qInit(0)), want: []QueueOpResult{ok(0)}},
			{cmd: queueCmd(1, "b", qInit(10)), want: []QueueOpResult{ok(10)}},
		}, []string{"a: floor 0 done [] receives []", "b: floor 10 done [] receives []"}},
		{"init out of range refused", []step{
			{cmd: queueCmd(1, "q", qInit(-1), qInit(11), qInit(1<<62)), want: []QueueOpResult{
				refused(-1, outOfRange("q", QueueInit, -1, -1, 10)),
				refused(-1, outOfRange("q", QueueInit, 11, -1, 10)),
				refused(-1, outOfRange("q", QueueInit, 1<<62, -1, 10))}},
			{cmd: queueCmd(1, "q", qInit(5), qInit(11)), want: []QueueOpResult{ok(5), refused(5, outOfRange("q", QueueInit, 11, 5, 10))}},
		}, []string{"q: floor 5 done [] receives []"}},
		{"ops on a queue without state refused", []step{
			{cmd: queueCmd(1, "q", qRecv(5), qAck(5), qAckRange(5, 10)), want: []QueueOpResult{unknown("q"), unknown("q"), unknown("q")}},
		}, nil},
		{"receive counts", []step{
			{cmd: queueCmd(1, "q", qInit(5), qRecv(6), qRecv(6), qRecv(9), qRecv(6)),
				want: []QueueOpResult{ok(5), counted(5, 1), counted(5, 2), counted(5, 1), counted(5, 3)}},
		}, []string{"q: floor 5 done [] receives [6:3 9:1]"}},
		{"receive out of range refused", []step{
			{cmd: queueCmd(1, "q", qInit(6), qRecv(10), qRecv(-1), qRecv(1<<62), qRecv(9)), want: []QueueOpResult{ok(6),
				refused(6, outOfRange("q", QueueReceive, 10, 6, 10)),
				refused(6, outOfRange("q", QueueReceive, -1, 6, 10)),
				refused(6, outOfRange("q", QueueReceive, 1<<62, 6, 10)),
				counted(6, 1)}},
		}, []string{"q: floor 6 done [] receives [9:1]"}},
		{"receive of a done offset is not counted", []step{
			{cmd: queueCmd(1, "q", qInit(6), qRecv(5), qAck(8), qRecv(8), qRecv(0)),
				want: []QueueOpResult{ok(6), counted(6, 0), acked(6), counted(6, 0), counted(6, 0)}},
		}, []string{"q: floor 6 done [8] receives []"}},
		{"ack is idempotent", []step{
			{cmd: queueCmd(1, "q", qInit(5), qRecv(7), qAck(7), qAck(7)), want: []QueueOpResult{ok(5), counted(5, 1), acked(5), ok(5)}},
			{cmd: queueCmd(1, "q", qAck(7), qAck(4), qAck(0)), want: []QueueOpResult{ok(5), ok(5), ok(5)}},
		}, []string{"q: floor 5 done [7] receives []"}},
		{"acks move the floor over what is done", []step{
			{cmd: queueCmd(1, "q", qInit(5), qRecv(5), qRecv(6), qAck(6), qAck(8), qAck(5), qAck(7)),
				want: []QueueOpResult{ok(5), counted(5, 1), counted(5, 1), acked(5), acked(5), acked(7), acked(9)}},
			{cmd: queueCmd(1, "q", qAck(9)), want: []QueueOpResult{acked(10)}},
		}, []string{"q: floor 10 done [] receives []"}},
		{"ack out of range refused", []step{
			{cmd: queueCmd(1, "q", qInit(5), qAck(10), qAck(-1), qAck(1<<62)), want: []QueueOpResult{ok(5),
				refused(5, outOfRange("q", QueueAck, 10, 5, 10)),
				refused(5, outOfRange("q", QueueAck, -1, 5, 10)),
				refused(5, outOfRange("q", QueueAck, 1<<62, 5, 10))}},
		}, []string{"q: floor 5 done [] receives []"}},
		{"ack range clipped to the floor and the log end", []step{
			{cmd: queueCmd(1, "q", qInit(5), qRecv(8), qAckRange(7, 1<<62)), want: []QueueOpResult{ok(5), counted(5, 1), acked(5)}},
			{cmd: queueCmd(1, "q", qAckRange(-5, 6)), want: []QueueOpResult{acked(6)}},
			{cmd: queueCmd(1, "q", qAckRange(0, 6), qAckRange(8, 10), qAckRange(9, 3), qAckRange(10, 20)),
				want: []QueueOpResult{ok(6), ok(6), ok(6), ok(6)}},
			{cmd: queueCmd(1, "q", qAckRange(5, 7)), want: []QueueOpResult{acked(10)}},
		}, []string{"q: floor 10 done [] receives []"}},
		{"ack range over a gap", []step{
			{cmd: queueCmd(1, "q", qInit(5), qAck(6), qAck(8), qRecv(7), qAckRange(6, 9)),
				want: []QueueOpResult{ok(5), acked(5), acked(5), counted(5, 1), acked(5)}},
		}, []string{"q: floor 5 done [6 7 8] receives []"}},
		{"queues are independent", []step{
			{cmd: queueCmd(1, "b", qInit(5), qRecv(5)), want: []QueueOpResult{ok(5), counted(5, 1)}},
			{cmd: queueCmd(1, "a", qInit(8), qAck(8)), want: []QueueOpResult{ok(8), acked(9)}},
			{cmd: queueCmd(1, "b", qRecv(5)), want: []QueueOpResult{counted(5, 2)}},
		}, []string{"a: floor 9 done [] receives []", "b: floor 5 done [] receives [5:2]"}},
		{"delete drops the state", []step{
			{cmd: queueCmd(1, "q", qInit(5), qRecv(6)), want: []QueueOpResult{ok(5), counted(5, 1)}},
			{cmd: queueDeleteCmd("q")},
			{cmd: queueCmd(1, "q", qRecv(6)), want: []QueueOpResult{unknown("q")}},
			{cmd: queueDeleteCmd("q")},
			{cmd: queueCmd(1, "q", qInit(8), qRecv(9)), want: []QueueOpResult{ok(8), counted(8, 1)}},
		}, []string{"q: floor 8 done [] receives [9:1]"}},
		{"invalid names refused, not fatal", []step{
			{cmd: queueCmd(1, "q", qInit(5)), want: []QueueOpResult{ok(5)}},
			{cmd: queueCmd(1, "", qInit(5)), err: &InvalidQueueUpdateError{Field: "queue"}},
			{cmd: queueCmd(1, strings.Repeat("q", MaxQueueNameBytes+1), qInit(5)), err: &InvalidQueueUpdateError{Field: "queue"}},
			{cmd: queueCmd(1, "q\n", qInit(5)), err: &InvalidQueueUpdateError{Field: "queue"}},
			{cmd: queueCmd(1, "q\xff", qInit(5)), err: &InvalidQueueUpdateError{Field: "queue"}},
			{cmd: queueDeleteCmd(""), err: &InvalidQueueUpdateError{Field: "queue"}},
			{cmd: queueDeleteCmd("q\x00"), err: &InvalidQueueUpdateError{Field: "queue"}},
		}, []string{"q: floor 5 done [] receives []"}},
		{"name limits accepted", []step{
			{cmd: queueCmd(1, strings.Repeat("q", MaxQueueNameBytes), qInit(5)), want: []QueueOpResult{ok(5)}},
			{cmd: queueCmd(1, "grüße · 组", qInit(6)), want: []QueueOpResult{ok(6)}},
		}, []string{"grüße · 组: floor 6 done [] receives []", strings.Repeat("q", MaxQueueNameBytes) + ": floor 5 done [] receives []"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, d := offsetReplica(t)
			for i, st := range tc.steps {
				d.index++
				resp := r.Apply(replication.Entry{Index: d.index, Term: 1, Data: st.cmd})
				if fe, isFatal := resp.(*replication.FatalError); isFatal {
					t.Fatalf("step %d: fatal: %v", i, fe)
				}
				if st.err != nil {
					var got *InvalidQueueUpdateError
					if err, _ := resp.(error); !errors.Is(err, ErrInvalidQueueUpdate) || !errors.As(err, &got) ||
						got.Field != st.err.(*InvalidQueueUpdateError).Field {
						t.Fatalf("step %d: Apply = %v, want %v", i, resp, st.err)
					}
					continue
				}
				if st.want == nil {
					if resp != nil {
						t.Fatalf("step %d: Apply = %#v, want nil", i, resp)
					}
					continue
				}
				got, isResults := resp.(queueResults)
				if !isResults || len(got) != len(st.want) {
					t.Fatalf("step %d: Apply = %#v", i, resp)
				}
				for j := range got {
					checkQueueResult(t, fmt.Sprintf("step %d op %d", i, j), got[j], st.want[j])
				}
				checkQueueBytes(t, r)
			}
			if got := describeQueues(r, 12); !slices.Equal(got, tc.want) {
				t.Fatalf("queues\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Every step was applied (refusals too); the partition goes on.
			if r.AppliedIndex() != d.index {
				t.Fatalf("applied %d, want %d", r.AppliedIndex(), d.index)
			}
			if _, err := r.Produce(context.Background(), plain(t, 1)); err != nil {
				t.Fatalf("produce after the steps: %v", err)
			}
		})
	}
}

// checkQueueResult compares a result with want; errors are compared by
// their typed value (errors.As), or by sentinel for other errors.
func checkQueueResult(t testing.TB, where string, got, want QueueOpResult) {
	t.Helper()
	if got.Floor != want.Floor || got.Count != want.Count || got.NewlyDone != want.NewlyDone {
		t.Fatalf("%s: %+v, want %+v", where, got, want)
	}
	switch w := want.Err.(type) {
	case nil:
		if got.Err != nil {
			t.Fatalf("%s: %v, want no error", where, got.Err)
		}
	case *QueueOffsetOutOfRangeError:
		var e *QueueOffsetOutOfRangeError
		if !errors.Is(got.Err, ErrQueueOffsetOutOfRange) || !errors.As(got.Err, &e) || *e != *w {
			t.Fatalf("%s: %v, want %v", where, got.Err, w)
		}
	case *UnknownQueueError:
		var e *UnknownQueueError
		if !errors.Is(got.Err, ErrUnknownQueue) || !errors.As(got.Err, &e) || *e != *w {
			t.Fatalf("%s: %v, want %v", where, got.Err, w)
		}
	default:
		if !errors.Is(got.Err, want.Err) {
			t.Fatalf("%s: %v, want %v", where, got.Err, want.Err)
		}
	}
}

// TestQueueClock: a queue update moves the state machine's clock like a
// produce, refused or not.
func TestQueueClock(t *testing.T) {
	r, d := offsetReplica(t)
	for _, tc := range []struct {
		cmd  []byte
		want int64
	}{
		{queueCmd(5_000_000_000_000, "q", qRecv(5)), 5_000_000_000_000},
		{queueCmd(4_000_000_000_000, "q", qInit(5)), 5_000_000_000_000},
		{queueCmd(6_000_000_000_000, "", qInit(5)), 6_000_000_000_000},
		{queueDeleteCmd("q"), 6_000_000_000_000},
	} {
		if _, err := d.Propose(context.Background(), tc.cmd); err != nil && !errors.Is(err, ErrInvalidQueueUpdate) {
			t.Fatal(err)
		}
		if r.clock != tc.want {
			t.Fatalf("clock %d, want %d", r.clock, tc.want)
		}
	}
}

// TestQueueRetention: moving the log start marks every queue's offsets
// below it done (retention deleted them), dropping their receive counts;
// queues whose floor is above it keep everything.
func TestQueueRetention(t *testing.T) {
	r := newNode(t, vfs.NewMem()).open(t, "p0")
	defer r.Close()
	d := &direct{r: r, term: 1}
	r.Attach(d)
	ctx := context.Background()
	for range 4 {
		if _, err := r.Produce(ctx, plain(t, 5)); err != nil {
			t.Fatal(err)
		}
	}
	update := func(q string, ops ...QueueOp) {
		t.Helper()
		res, err := r.UpdateQueue(ctx, q, ops)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range res {
			if x.Err != nil {
				t.Fatalf("%s op %d: %v", q, i, x.Err)
			}
		}
	}
	update("low", qInit(0), qRecv(1), qRecv(3), qAck(4), qRecv(9), qAck(12), qRecv(13))
	update("high", qInit(15), qRecv(16))
	update("empty", qInit(20))
	advance := func(to int64) {
		t.Helper()
		if _, err := d.Propose(ctx, encodeAdvanceLogStart(to)); err != nil {
			t.Fatal(err)
		}
		checkQueueBytes(t, r)
	}
	advance(5)
	want := []string{
		"empty: floor 20 done [] receives []",
		"high: floor 15 done [] receives [16:1]",
		"low: floor 5 done [12] receives [9:1 13:1]",
	}
	if got := describeQueues(r, 20); !slices.Equal(got, want) {
		t.Fatalf("after the log start moved to 5:\n%s", strings.Join(got, "\n"))
	}
	// A queue created below the log start is moved up by the next move.
	update("late", qInit(2), qRecv(3))
	advance(13)
	want = []string{
		"empty: floor 20 done [] receives []",
		"high: floor 15 done [] receives [16:1]",
		"late: floor 13 done [] receives []",
		"low: floor 13 done [] receives [13:1]",
	}
	if got := describeQueues(r, 20); !slices.Equal(got, want) {
		t.Fatalf("after the log start moved to 13:\n%s", strings.Join(got, "\n"))
	}
	// A move that the log refuses (past the high watermark) moves no floor.
	if _, err := d.Propose(ctx, encodeAdvanceLogStart(21)); err == nil {
		t.Fatal("advance past the high watermark accepted")
	}
	if got := describeQueues(r, 20); !slices.Equal(got, want) {
		t.Fatalf("after a refused move:\n%s", strings.Join(got, "\n"))
	}
	// Through retention itself: every record gone, every queue done.
	advance(20)
	for _, q := range r.Queues() {
		r.QueueState(q, func(s *consumergroup.AckState) {
			if s.Floor() != 20 || s.Ranges() != 0 || s.Receives() != 0 {
				t.Errorf("%s after everything was deleted: %s", q, describeAckState(s, 21))
			}
		})
	}
}

// TestQueueWindow: receives, acks and ack ranges must stay below floor +
// consumergroup.MaxAckWindow, so a state stays within what its decoder
// accepts; as the floor moves up, so does the window.
func TestQueueWindow(t *testing.T) {
	const w = consumergroup.MaxAckWindow
	r := newNode(t, vfs.NewMem()).open(t, "p0")
	defer r.Close()
	d := &direct{r: r, term: 1}
	r.Attach(d)
	ctx := context.Background()
	tiny := tinyBatch(t, 10_000)
	for r.HighWatermark() < w+20 {
		if _, err := d.Propose(ctx, encodeProduce(nil, 1, tiny)); err != nil {
			t.Fatal(err)
		}
	}
	end := r.HighWatermark()
	res, err := r.UpdateQueue(ctx, "q", []QueueOp{
		qInit(0),
		qRecv(w - 1), qRecv(w), qAck(w), qAckRange(w, w+5),
		qAck(w - 2), qAckRange(w-10, w+5), // start inside, pending beyond: fine
		qAckRange(0, 3), // floor 3
		qRecv(w + 2), qRecv(w + 3), qAck(w + 3), qAck(w + 8), qAckRange(w+6, w+9), qAckRange(w-20, w+9),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueOpResult{
		ok(0),
		counted(0, 1), refused(0, outOfRange("q", QueueReceive, w, 0, end)),
		refused(0, outOfRange("q", QueueAck, w, 0, end)), refused(0, outOfRange("q", QueueAckRange, w, 0, end)),
		acked(0), acked(0),
		acked(3),
		counted(3, 0), counted(3, 0), ok(3), refused(3, outOfRange("q", QueueAck, w+8, 3, end)),
		refused(3, outOfRange("q", QueueAckRange, w+6, 3, end)), acked(3),
	}
	for i := range want {
		checkQueueResult(t, fmt.Sprint("op ", i), res[i], want[i])
	}
	r.QueueState("q", func(s *consumergroup.AckState) {
		if s.Floor() != 3 || s.Ranges() != 1 || s.Receives() != 0 || !s.Done(w+8) || s.Done(w+9) || !s.Done(w-20) || s.Done(w-21) {
			t.Fatalf("state: floor %d, %d ranges, %d receives", s.Floor(), s.Ranges(), s.Receives())
		}
	})
	checkQueueBytes(t, r)
}

// TestQueueTableFull: an op that could grow the encoded table past
// MaxQueueTableBytes is refused; ops that cannot grow it go through.
func TestQueueTableFull(t *testing.T) {
	r, _ := offsetReplica(t)
	ctx := context.Background()
	if _, err := r.UpdateQueue(ctx, "q", []QueueOp{qInit(5), qRecv(6), qAck(8)}); err != nil {
		t.Fatal(err)
	}
	// Pretend the rest of the table is taken up (filling 64 MiB for real
	// is slow and tells nothing more).
	fake := MaxQueueTableBytes - r.queueBytes
	r.queueBytes += fake
	res, err := r.UpdateQueue(ctx, "q", []QueueOp{
		qRecv(7),         // a new receive count
		qRecv(6),         // an existing one: no growth
		qAck(6),          // a new range, less a receive count: still 4 bytes more
		qAck(9),          // next to the range at 8: no growth
		qAck(5),          // the floor moves: shrinks
		qAckRange(5, 10), // starts in what is done: no growth
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueOpResult{refused(5, ErrQueueTableFull), counted(5, 2), refused(5, ErrQueueTableFull),
		acked(5), acked(6), acked(10)}
	for i := range want {
		checkQueueResult(t, fmt.Sprint("op ", i), res[i], want[i])
	}
	r.queueBytes -= fake
	checkQueueBytes(t, r)
	fake = MaxQueueTableBytes - r.queueBytes
	r.queueBytes += fake
	res, err = r.UpdateQueue(ctx, "other", []QueueOp{qInit(5)})
	if err != nil || !errors.Is(res[0].Err, ErrQueueTableFull) {
		t.Fatalf("new queue in a full table: %+v %v", res, err)
	}
	r.queueBytes -= fake
	checkQueueBytes(t, r)
	if err := r.DeleteQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	checkQueueBytes(t, r)
}

// TestAckStateSize: the size the state machine tracks is the encoding's.
func TestAckStateSize(t *testing.T) {
	for name, s := range testQueueTable() {
		if got, want := ackStateSize(s), int64(len(s.AppendBinary(nil))); got != want {
			t.Errorf("%s: size %d, encoded %d", name, got, want)
		}
	}
}

func TestQueueTableCodec(t *testing.T) {
	table := testQueueTable()
	enc := table.appendTo([]byte("prefix"))
	if !bytes.Equal(enc[6:], referenceQueueTableOf(table)) {
		t.Fatal("encoding differs from the documented format")
	}
	if int64(len(enc)-6) != table.size() {
		t.Fatalf("size %d, encoded %d", table.size(), len(enc)-6)
	}
	got, rest, err := decodeQueueTable(append(enc[6:], 9, 9), 12)
	if err != nil || !bytes.Equal(rest, []byte{9, 9}) || !bytes.Equal(referenceQueueTableOf(got), enc[6:]) {
		t.Fatalf("decode: %d queues, rest %v, %v", len(got), rest, err)
	}
	if got, rest, err := decodeQueueTable([]byte{0, 0, 0, 0}, 0); err != nil || got == nil || len(got) != 0 || len(rest) != 0 {
		t.Fatalf("empty table: %v %v %v", got, rest, err)
	}

	one := func(name string, s *consumergroup.AckState) []byte {
		return referenceQueueTableOf(queueTable{name: s})
	}
	good := one("q", consumergroup.NewAckState(3))
	count := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	badState := slices.Clone(good)
	badState[len(badState)-5] = 2 // two ranges, with no bytes for them
	twoOutOfOrder := append(count(2), append(good[4:], one("a", consumergroup.NewAckState(0))[4:]...)...)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short count":    {0, 0, 1},
		"count too big":  count(1 << 31),
		"count over one": append(count(2), good[4:]...),
		"truncated":      good[:len(good)-1],
		"name length":    append(count(1), append([]byte{0xff, 0xff}, make([]byte, 30)...)...),
		"out of order":   twoOutOfOrder,
		"duplicate":      append(count(2), append(good[4:], good[4:]...)...),
		"empty name":     one("", consumergroup.NewAckState(0)),
		"control char":   one("a\x01", consumergroup.NewAckState(0)),
		"name too long":  one(strings.Repeat("q", MaxQueueNameBytes+1), consumergroup.NewAckState(0)),
		"state":          badState,
		"state version":  append(good[:4+2+1:4+2+1], append([]byte{2}, good[4+2+1+1:]...)...),
		"floor past end": one("q", consumergroup.NewAckState(13)),
	} {
		if _, _, err := decodeQueueTable(b, 12); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
