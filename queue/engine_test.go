package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// direct applies each proposal at once, as a one-replica group would.
type direct struct {
	mu    sync.Mutex
	r     *partition.Replica
	index uint64
}

func (d *direct) Propose(_ context.Context, cmd []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.index++
	resp := d.r.Apply(replication.Entry{Index: d.index, Term: 1, Data: append([]byte(nil), cmd...)})
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// replica opens a one-replica partition on an in-memory file system.
func replica(t *testing.T) *partition.Replica {
	t.Helper()
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r, err := partition.Open(partition.Config{ID: "p0", DB: db, Log: log.Config{FS: fs, Dir: "logs/p0"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	r.Attach(&direct{r: r})
	return r
}

// send appends records with the given keys (and headers, name=value
// pairs for every record) at time ts.
func send(t *testing.T, r *partition.Replica, ts time.Time, keys []string, headers ...string) {
	t.Helper()
	recs := make([]batch.Record, len(keys))
	for i, k := range keys {
		recs[i] = batch.Record{Timestamp: ts.UnixMilli(), Key: []byte(k), Value: []byte("v-" + k)}
		for j := 0; j+1 < len(headers); j += 2 {
			recs[i].Headers = append(recs[i].Headers, batch.RecordHeader{Key: headers[j], Value: []byte(headers[j+1])})
		}
	}
	b, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Produce(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

var t0 = time.Unix(1_700_000_000, 0)

func engine(t *testing.T, r *partition.Replica, c *clock, cfg Config) *Engine {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "jobs"
	}
	if cfg.Visibility == 0 {
		cfg.Visibility = 30 * time.Second
	}
	e, err := NewEngine(cfg, r, 0, 1, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func offsetsOf(ms []Message) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Record.Offset)
	}
	return out
}

func receive(t *testing.T, e *Engine, n int) Result {
	t.Helper()
	res, err := e.Receive(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVisibilityAckNackExtend(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{})
	send(t, r, t0, []string{"a", "b", "c"})
	first := receive(t, e, 2)
	if got := offsetsOf(first.Messages); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("received %v", got)
	}
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{2}) {
		t.Fatalf("leased messages were received again: %v", got)
	}
	ctx := context.Background()
	// Ack is final (and idempotent).
	if err := e.Ack(ctx, first.Messages[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if err := e.Ack(ctx, first.Messages[0].Receipt); err != nil {
		t.Fatalf("second ack: %v", err)
	}
	// Extend offset 1 past the visibility timeout; nack nothing yet.
	if err := e.Extend(first.Messages[1].Receipt, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.now = t0.Add(31 * time.Second) // offset 2's lease expired
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{2}) {
		t.Fatalf("after the visibility timeout: %v, want only the expired 2", got)
	}
	// Nack with a delay: visible again after it.
	if err := e.Nack(first.Messages[1].Receipt, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if res := receive(t, e, 10); len(res.Messages) != 0 || !res.NextVisible.Equal(c.now.Add(5*time.Second)) {
		t.Fatalf("during the nack delay: %v next %v", offsetsOf(res.Messages), res.NextVisible)
	}
	c.now = c.now.Add(5 * time.Second)
	again := receive(t, e, 10)
	if got := offsetsOf(again.Messages); !slices.Equal(got, []int64{1}) || again.Messages[0].ReceiveCount != 2 {
		t.Fatalf("after the nack delay: %v (count %d)", got, again.Messages[0].ReceiveCount)
	}
	// The acked message never comes back.
	c.now = c.now.Add(time.Hour)
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("an hour later: %v, want 1 and 2 (0 was acked)", got)
	}
}

func TestReceiptErrors(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{})
	send(t, r, t0, []string{"a", "b"})
	res := receive(t, e, 1)
	rc := res.Messages[0].Receipt
	other, _ := consumergroup.ParseReceipt(rc)
	other.Queue = "other"
	c.now = t0.Add(time.Minute) // expired
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"ack expired", func() error { return e.Ack(context.Background(), rc) }, consumergroup.ErrInvalidReceipt},
		{"ack garbage", func() error { return e.Ack(context.Background(), "not-a-receipt") }, consumergroup.ErrInvalidReceipt},
		{"ack other queue", func() error { return e.Ack(context.Background(), other.String()) }, ErrWrongPartition},
		{"nack expired", func() error { return e.Nack(rc, 0) }, consumergroup.ErrInvalidReceipt},
		{"nack delay too long", func() error { return e.Nack(rc, 16*time.Minute) }, ErrInvalidArgument},
		{"extend too long", func() error { return e.Extend(rc, 13*time.Hour) }, ErrInvalidArgument},
		{"receive zero", func() error { _, err := e.Receive(context.Background(), 0); return err }, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("%v, want %v", err, tt.want)
			}
		})
	}
	for _, cfg := range []Config{{Name: "q", Visibility: time.Millisecond}, {Name: "q", Visibility: time.Minute, Delay: time.Hour}, {Visibility: time.Minute}} {
		if _, err := NewEngine(cfg, r, 0, 1, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewEngine(%+v): %v", cfg, err)
		}
	}
}

func TestMaxReceivesDeadLetters(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{MaxReceives: 2})
	send(t, r, t0, []string{"a"})
	for i := range 2 {
		if n := len(receive(t, e, 1).Messages); n != 1 {
			t.Fatalf("receive %d: %d messages", i, n)
		}
		c.now = c.now.Add(time.Minute)
	}
	res := receive(t, e, 1)
	if len(res.Messages) != 0 || len(res.DeadLetter) != 1 || res.DeadLetter[0].Offset != 0 {
		t.Fatalf("third receive: %v, dead letter %v", offsetsOf(res.Messages), res.DeadLetter)
	}
	if err := e.DeadLettered(context.Background(), []int64{0}); err != nil {
		t.Fatal(err)
	}
	if res := receive(t, e, 1); len(res.Messages)+len(res.DeadLetter) != 0 {
		t.Fatal("a dead-lettered message came back")
	}
}

func TestDelayAndFIFO(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{FIFO: true, Delay: 10 * time.Second})
	send(t, r, t0, []string{"a", "a", "b"})
	send(t, r, t0, []string{"c"}, DelayHeader, "0") // its own delay: none
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{3}) {
		t.Fatalf("before the queue delay: %v, want only 3", got)
	}
	c.now = t0.Add(10 * time.Second)
	res := receive(t, e, 10)
	if got := offsetsOf(res.Messages); !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("FIFO: %v, want 0 and 2 (1 waits for 0)", got)
	}
	if err := e.Ack(context.Background(), res.Messages[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{1}) {
		t.Fatalf("after acking 0: %v, want 1", got)
	}
}

func TestFilterSkipsAndAcks(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	f, err := consumergroup.ParseFilter(`{"headers.kind": ["order"]}`)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t, r, c, Config{Filter: f})
	send(t, r, t0, []string{"a", "b"}, "kind", "order")
	send(t, r, t0, []string{"c"}, "kind", "refund")
	send(t, r, t0, []string{"d"}, "kind", "order")
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{0, 1, 3}) {
		t.Fatalf("filtered receive: %v", got)
	}
	done := false
	r.QueueState("jobs", func(s *consumergroup.AckState) { done = s.Done(2) })
	if !done {
		t.Error("a record the filter rejects is not marked done")
	}
}

// TestManyConsumersOnePartition: ten consumers share a one-partition
// queue; all of them get work and every message is acked once.
func TestManyConsumersOnePartition(t *testing.T) {
	r := replica(t)
	e := engine(t, r, &clock{now: t0}, Config{})
	var keys []string
	for i := range 500 {
		keys = append(keys, fmt.Sprint("k", i))
	}
	send(t, r, t0, keys)
	var mu sync.Mutex
	got := map[int64]int{}
	per := make([]int, 10)
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := e.Receive(context.Background(), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Messages) == 0 {
					return
				}
				for _, m := range res.Messages {
					if err := e.Ack(context.Background(), m.Receipt); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got[m.Record.Offset]++
					per[w]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != 500 {
		t.Fatalf("%d distinct messages acked, want 500", len(got))
	}
	for off, n := range got {
		if n != 1 {
			t.Errorf("offset %d delivered %d times", off, n)
		}
	}
	for w, n := range per {
		if n == 0 {
			t.Errorf("consumer %d got no work: %v", w, per)
		}
	}
}

// TestAckAllMixed: one command acks the good receipts; each bad one gets
// its own error.
func TestAckAllMixed(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{})
	send(t, r, t0, []string{"a", "b", "c"})
	res := receive(t, e, 3)
	errs := e.AckAll(context.Background(), []string{res.Messages[0].Receipt, "junk", res.Messages[2].Receipt})
	if errs[0] != nil || !errors.Is(errs[1], consumergroup.ErrInvalidReceipt) || errs[2] != nil {
		t.Fatalf("errors %v", errs)
	}
	c.now = t0.Add(time.Hour)
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{1}) {
		t.Fatalf("after acking 0 and 2: %v, want 1", got)
	}
}

// TestPurge: every message sent before the purge is gone, in flight ones
// too (their receipts no longer ack); later ones are delivered.
func TestPurge(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{})
	send(t, r, t0, []string{"a", "b", "c"})
	res := receive(t, e, 1)
	if err := e.Ack(context.Background(), res.Messages[0].Receipt); err != nil {
		t.Fatal(err)
	}
	inFlight := receive(t, e, 1)
	n, err := e.Purge(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("purged %d (%v), want the 2 pending", n, err)
	}
	if len(receive(t, e, 10).Messages) != 0 {
		t.Fatal("a purged message was delivered")
	}
	// Its receipt acks without error (the message is done), as SQS does.
	if err := e.Ack(context.Background(), inFlight.Messages[0].Receipt); err != nil {
		t.Errorf("ack after purge: %v", err)
	}
	send(t, r, t0, []string{"d"})
	if got := offsetsOf(receive(t, e, 10).Messages); !slices.Equal(got, []int64{3}) {
		t.Fatalf("after the purge: %v, want 3", got)
	}
	if n, err := e.Purge(context.Background()); err != nil || n != 1 {
		t.Fatalf("second purge: %d %v", n, err)
	}
}

// TestFilterManyRejected: a receive that scans more runs of rejected
// records than one command holds acks them in several commands.
func TestFilterManyRejected(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	f, err := consumergroup.ParseFilter(`{"headers.kind": ["a"]}`)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t, r, c, Config{Filter: f})
	// Even offsets match but are delayed (the receive passes over
	// them), odd ones are rejected: 1.5 x MaxQueueOps runs of one.
	const n = 3 * partition.MaxQueueOps
	for i := range n {
		if i%2 == 0 {
			send(t, r, t0, []string{fmt.Sprint(i)}, "kind", "a", DelayHeader, "600000")
		} else {
			send(t, r, t0, []string{fmt.Sprint(i)}, "kind", "b")
		}
	}
	if got := receive(t, e, 100); len(got.Messages) != 0 {
		t.Fatalf("received %d delayed messages", len(got.Messages))
	}
	r.QueueState("jobs", func(s *consumergroup.AckState) {
		for off := int64(0); off < n; off++ {
			if s.Done(off) != (off%2 == 1) {
				t.Fatalf("offset %d done %v", off, s.Done(off))
			}
		}
	})
	c.now = t0.Add(11 * time.Minute)
	if got := receive(t, e, 100); len(got.Messages) != 100 || got.Messages[0].Record.Offset != 0 {
		t.Fatalf("after the delay: %d messages", len(got.Messages))
	}
}
