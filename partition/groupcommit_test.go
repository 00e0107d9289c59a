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

// TestCommitOffsetGroupCommit: commits that arrive while one is in flight
// share the next raft entry, and each caller gets its own answer.
func TestCommitOffsetGroupCommit(t *testing.T) {
	r, d := offsetReplica(t)
	g := &gated{d: d, arrived: make(chan []byte, 16), release: make(chan struct{})}
	r.Attach(g)
	ctx := context.Background()
	type result struct {
		e   CommittedOffset
		err error
	}
	results := make([]result, 6)
	var wg sync.WaitGroup
	commit := func(i int, c OffsetCommit) {
		defer wg.Done()
		e, err := r.CommitOffset(ctx, c)
		results[i] = result{e, err}
	}
	wg.Add(1)
	go commit(0, OffsetCommit{Group: "g0", Incarnation: 1, Generation: 1, Offset: 6})
	first := <-g.arrived // in flight; the rest queue behind it
	for i := 1; i < 6; i++ {
		c := OffsetCommit{Group: fmt.Sprint("g", i), Incarnation: 1, Generation: 1, Offset: int64(5 + i)}
		if i == 5 {
			c.Offset = 99 // past the log end: refused, alone
		}
		wg.Add(1)
		go commit(i, c)
	}
	waitQueued(t, r, 5)
	g.release <- struct{}{}
	second := <-g.arrived
	g.release <- struct{}{}
	wg.Wait()
	c1, err1 := decodeCommand(first)
	c2, err2 := decodeCommand(second)
	if err1 != nil || err2 != nil || len(c1.commits) != 1 || len(c2.commits) != 5 {
		t.Fatalf("proposals of %d and %d commits (%v, %v), want 1 and 5", len(c1.commits), len(c2.commits), err1, err2)
	}
	for i, res := range results {
		switch {
		case i == 5:
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
	g := &gated{d: d, arrived: make(chan []byte, 16), release: make(chan struct{})}
	r.Attach(g)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := r.CommitOffset(context.Background(), OffsetCommit{Group: "a", Incarnation: 1, Offset: 6}); err != nil {
			t.Error(err)
		}
	}()
	<-g.arrived
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
	g.release <- struct{}{}
	wg.Wait()
	if _, ok := r.CommittedOffset("b"); ok {
		t.Error("a commit cancelled before it was proposed was written")
	}
	// The batcher is idle again: a new commit goes straight through.
	go func() { g.release <- struct{}{} }()
	if _, err := r.CommitOffset(context.Background(), OffsetCommit{Group: "c", Incarnation: 1, Offset: 8}); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
}

// waitQueued waits until n commits wait behind the one in flight.
func waitQueued(t *testing.T, r *Replica, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.commits.mu.Lock()
		q := len(r.commits.queue)
		r.commits.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, want %d", q, n)
		}
		<-time.After(time.Millisecond)
	}
}
