package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gated is a Proposer that holds each proposal until the test lets it go.
type gated struct {
	d       *direct
	arrived chan []byte
	release chan struct{}
}

func (g *gated) Propose(ctx context.Context, cmd []byte) (any, error) {
	g.arrived <- cmd
	<-g.release
	return g.d.Propose(ctx, cmd)
}

// inFlight is how many commit commands a replica has in flight at once.
const inFlight = 1

// TestCommitOffsetGroupCommit: with inFlight commands in
// flight, further commits queue, and the next turn proposes all of them as
// one raft entry; each caller gets its own answer.
func TestCommitOffsetGroupCommit(t *testing.T) {
	r, d := offsetReplica(t)
	g := &gated{d: d, arrived: make(chan []byte, 64), release: make(chan struct{})}
	r.Attach(g)
	ctx := context.Background()
	type result struct {
		e   CommittedOffset
		err error
	}
	const queued = 5
	n := inFlight + queued
	results := make([]result, n)
	var wg sync.WaitGroup
	commit := func(i int) {
		defer wg.Done()
		c := OffsetCommit{Group: fmt.Sprint("g", i), Incarnation: 1, Generation: 1, Offset: int64(5 + i%5)}
		if i == n-1 {
			c.Offset = 99 // past the log end: refused, alone
		}
		e, err := r.CommitOffset(ctx, c)
		results[i] = result{e, err}
	}
	for i := range inFlight {
		wg.Add(1)
		go commit(i)
		if c, err := decodeCommand(<-g.arrived); err != nil || len(c.commits) != 1 {
			t.Fatalf("proposal %d: %d commits, %v", i, len(c.commits), err)
		}
	}
	for i := inFlight; i < n; i++ {
		wg.Add(1)
		go commit(i)
	}
	waitQueued(t, r, queued)
	g.release <- struct{}{} // one turn ends: the next takes the queue
	next := <-g.arrived
	if c, err := decodeCommand(next); err != nil || len(c.commits) != queued {
		t.Fatalf("the queued commits went in %d entries (%v), want one of %d", len(c.commits), err, queued)
	}
	for range inFlight {
		g.release <- struct{}{}
	}
	wg.Wait()
	for i, res := range results {
		switch {
		case i == n-1:
			if !errors.Is(res.err, ErrOffsetBeyondLogEnd) {
				t.Errorf("commit %d: %v, want ErrOffsetBeyondLogEnd", i, res.err)
			}
		case res.err != nil || res.e.Group != fmt.Sprint("g", i):
			t.Errorf("commit %d: %+v %v", i, res.e, res.err)
		}
	}
}

// TestCommitOffsetCancelledWhileQueued: a commit whose context ends before
// it is proposed is dropped from the queue (never written), and the
// others go on.
func TestCommitOffsetCancelledWhileQueued(t *testing.T) {
	r, d := offsetReplica(t)
	g := &gated{d: d, arrived: make(chan []byte, 64), release: make(chan struct{})}
	r.Attach(g)
	var wg sync.WaitGroup
	for i := range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.CommitOffset(context.Background(), OffsetCommit{Group: fmt.Sprint("a", i), Incarnation: 1, Offset: 6}); err != nil {
				t.Error(err)
			}
		}()
		<-g.arrived
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.CommitOffset(ctx, OffsetCommit{Group: "b", Incarnation: 1, Offset: 7})
		errc <- err
	}()
	waitQueued(t, r, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	for range inFlight {
		g.release <- struct{}{}
	}
	wg.Wait()
	if _, ok := r.CommittedOffset("b"); ok {
		t.Error("a commit cancelled before it was proposed was written")
	}
	// Every turn was given back: a new commit goes straight through.
	go func() { g.release <- struct{}{} }()
	if _, err := r.CommitOffset(context.Background(), OffsetCommit{Group: "c", Incarnation: 1, Offset: 8}); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	if r.commits.Busy(struct{}{}) {
		t.Error("batcher not idle")
	}
}

// waitQueued waits until n commits wait behind the one in flight.
func waitQueued(t *testing.T, r *Replica, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q := r.commits.Queued(struct{}{})
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, want %d", q, n)
		}
		<-time.After(time.Millisecond)
	}
}

// TestCommitOffsetConcurrent: many callers, each committing its own group
// in order; every call is answered with its own entry and the table ends
// with each group's last commit.
func TestCommitOffsetConcurrent(t *testing.T) {
	r, _ := offsetReplica(t)
	var wg sync.WaitGroup
	for w := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprint("w", w)
			for i := range 25 {
				e, err := r.CommitOffset(context.Background(), OffsetCommit{Group: group, Incarnation: 1, Generation: int32(i), Offset: int64(i % 11)})
				if err != nil || e.Group != group || e.Generation != int32(i) {
					t.Errorf("%s commit %d: %+v %v", group, i, e, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for w := range 40 {
		if e, ok := r.CommittedOffset(fmt.Sprint("w", w)); !ok || e.Generation != 24 || e.Offset != 24%11 {
			t.Errorf("w%d ends at %+v", w, e)
		}
	}
}
