package queue

import (
	"context"
	"testing"
	"time"

	"github.com/sluicedb/sluice/consumergroup"
)

func stats(t *testing.T, e *Engine) Stats {
	t.Helper()
	st, err := e.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStats: each pending message counts once, as visible, in flight or
// delayed (by its own delay or a nack); acked ones and those the filter
// rejects do not count; the oldest is the first pending one.
func TestStats(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0.Add(time.Minute)}
	f, err := consumergroup.ParseFilter(`{"headers.kind": [{"anything-but": ["noise"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t, r, c, Config{Filter: f})
	if st := stats(t, e); st != (Stats{}) {
		t.Fatalf("empty queue: %+v", st)
	}
	send(t, r, t0, []string{"a", "b", "c", "d"}, "kind", "job")                             // 0-3
	send(t, r, t0.Add(time.Second), []string{"e"}, "kind", "noise")                         // 4: filtered out
	send(t, r, t0.Add(2*time.Second), []string{"f"}, DelayHeader, "3600000", "kind", "job") // 5: delayed an hour
	// Nothing received yet: the partition has no state for the queue.
	want := Stats{Floor: 0, HighWatermark: 6, Pending: 5, Visible: 4, Delayed: 1, Oldest: time.UnixMilli(t0.UnixMilli())}
	if st := stats(t, e); st != want {
		t.Fatalf("before any receive:\n got %+v\nwant %+v", st, want)
	}
	res := receive(t, e, 3) // leases 0, 1, 2
	if err := e.Ack(context.Background(), res.Messages[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if err := e.Nack(res.Messages[1].Receipt, time.Minute); err != nil {
		t.Fatal(err)
	}
	// 0 acked (the floor moves past it), 1 nacked for a minute, 2 in
	// flight, 3 visible, 4 filtered, 5 delayed.
	want = Stats{Floor: 1, HighWatermark: 6, Pending: 4, Visible: 1, Delayed: 2, InFlight: 1,
		Oldest: time.UnixMilli(t0.UnixMilli())}
	if st := stats(t, e); st != want {
		t.Fatalf("after receive, ack and nack:\n got %+v\nwant %+v", st, want)
	}
	// Later the nack and the lease have ended; the delay has not.
	c.now = c.now.Add(2 * time.Minute)
	want = Stats{Floor: 1, HighWatermark: 6, Pending: 4, Visible: 3, Delayed: 1, Oldest: time.UnixMilli(t0.UnixMilli())}
	if st := stats(t, e); st != want {
		t.Fatalf("after the nack delay and the lease:\n got %+v\nwant %+v", st, want)
	}
	if _, err := e.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, e); st != (Stats{Floor: 6, HighWatermark: 6}) {
		t.Fatalf("after purge: %+v", st)
	}
}

// TestStatsApproximate: past what one scan reads, pending records count
// as visible and the statistics say they are approximate.
func TestStatsApproximate(t *testing.T) {
	r := replica(t)
	c := &clock{now: t0}
	e := engine(t, r, c, Config{})
	big := make([]string, 20)
	for i := range big {
		big[i] = string(make([]byte, 64<<10)) // 64 KiB keys: 1.3 MiB per batch
	}
	for range 5 {
		send(t, r, t0, big)
	}
	st := stats(t, e)
	if !st.Approximate || st.Pending != 100 || st.Visible != 100 || st.HighWatermark != 100 {
		t.Fatalf("a backlog past the scan: %+v, want approximate, 100 visible", st)
	}
	small := replica(t)
	send(t, small, t0, []string{"a"})
	if st := stats(t, engine(t, small, c, Config{})); st.Approximate {
		t.Fatalf("a small backlog is exact: %+v", st)
	}
}
