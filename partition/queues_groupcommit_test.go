package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/consumergroup"
)

// TestUpdateQueueGroupCommit: while one update of a queue is in flight,
// further updates of that queue wait, and the next turn proposes all of
// them as one raft entry, each caller getting its own results; an update
// of another queue does not wait for them.
func TestUpdateQueueGroupCommit(t *testing.T) {
	r, d := offsetReplica(t) // log [5, 10)
	ctx := context.Background()
	for _, q := range []string{"q", "other"} {
		if _, err := r.UpdateQueue(ctx, q, []QueueOp{qInit(5)}); err != nil {
			t.Fatal(err)
		}
	}
	g := &gated{d: d, arrived: make(chan []byte, 64), release: make(chan struct{})}
	r.Attach(g)
	type result struct {
		res []QueueOpResult
		err error
	}
	const queued = 5
	results := make([]result, queued+1)
	var wg sync.WaitGroup
	update := func(i int, q string, ops ...QueueOp) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.UpdateQueue(ctx, q, ops)
			results[i] = result{res, err}
		}()
	}
	update(0, "q", qRecv(5))
	if c, err := decodeCommand(<-g.arrived); err != nil || c.queue != "q" || len(c.queueOps) != 1 {
		t.Fatalf("first proposal: %+v, %v", c, err)
	}
	// Caller i receives offset 5 + i%5 and acks it, except the last,
	// which acks past the log end: refused, alone.
	for i := 1; i <= queued; i++ {
		off := int64(5 + i%5)
		if i == queued {
			update(i, "q", qAck(99))
		} else {
			update(i, "q", qRecv(off), qAck(off))
		}
	}
	waitQueueWaiting(t, r, "q", queued)
	// Another queue has its own turn: it is proposed while q's waits.
	otherDone := make(chan error, 1)
	go func() {
		res, err := r.UpdateQueue(ctx, "other", []QueueOp{qRecv(9)})
		if err == nil && (res[0].Err != nil || res[0].Count != 1) {
			err = fmt.Errorf("other: %+v", res[0])
		}
		otherDone <- err
	}()
	if c, err := decodeCommand(<-g.arrived); err != nil || c.queue != "other" {
		t.Fatalf("other queue's proposal: %+v, %v", c, err)
	}
	g.release <- struct{}{} // whichever is first: both go through
	g.release <- struct{}{}
	next := <-g.arrived
	c, err := decodeCommand(next)
	if err != nil || c.queue != "q" || len(c.queueOps) != 2*(queued-1)+1 {
		t.Fatalf("the waiting updates went in %d ops (%v), want one command of %d", len(c.queueOps), err, 2*(queued-1)+1)
	}
	g.release <- struct{}{}
	wg.Wait()
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
	if res := results[0]; res.err != nil || len(res.res) != 1 || res.res[0].Count != 1 {
		t.Errorf("update 0: %+v %v", res.res, res.err)
	}
	for i := 1; i <= queued; i++ {
		res := results[i]
		switch {
		case res.err != nil:
			t.Errorf("update %d: %v", i, res.err)
		case i == queued:
			if len(res.res) != 1 || !errors.Is(res.res[0].Err, ErrQueueOffsetOutOfRange) {
				t.Errorf("update %d: %+v, want the ack refused", i, res.res)
			}
		case len(res.res) != 2 || res.res[0].Err != nil || res.res[0].Count == 0 || !res.res[1].NewlyDone:
			t.Errorf("update %d: %+v", i, res.res)
		}
	}
	if r.queueUpdates.Busy("q") {
		t.Error("the lane of q is left busy")
	}
}

// TestUpdateQueueCancelledWhileWaiting: an update whose context ends
// before it is proposed is dropped (never written), and the others go on.
func TestUpdateQueueCancelledWhileWaiting(t *testing.T) {
	r, d := offsetReplica(t)
	ctx := context.Background()
	if _, err := r.UpdateQueue(ctx, "q", []QueueOp{qInit(5)}); err != nil {
		t.Fatal(err)
	}
	g := &gated{d: d, arrived: make(chan []byte, 64), release: make(chan struct{})}
	r.Attach(g)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := r.UpdateQueue(ctx, "q", []QueueOp{qRecv(6)}); err != nil {
			t.Error(err)
		}
	}()
	<-g.arrived
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := r.UpdateQueue(cctx, "q", []QueueOp{qRecv(7)})
		errc <- err
	}()
	waitQueueWaiting(t, r, "q", 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled update: %v", err)
	}
	g.release <- struct{}{}
	wg.Wait()
	r.QueueState("q", func(s *consumergroup.AckState) {
		if s.ReceiveCount(7) != 0 || s.ReceiveCount(6) != 1 {
			t.Errorf("receive counts 6: %d, 7: %d", s.ReceiveCount(6), s.ReceiveCount(7))
		}
	})
	// The turn was given back: a new update goes straight through.
	go func() { g.release <- struct{}{} }()
	if _, err := r.UpdateQueue(ctx, "q", []QueueOp{qRecv(8)}); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	if r.queueUpdates.Busy("q") {
		t.Error("the lane of q is left busy")
	}
}

// waitQueueWaiting waits until n calls are in queue's lane.
func waitQueueWaiting(t *testing.T, r *Replica, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.queueUpdates.Queued(queue)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting on %s, want %d", got, queue, n)
		}
		<-time.After(time.Millisecond)
	}
}

// TestUpdateQueueConcurrent: many callers on a few queues, each receiving
// and acking its own offsets in order; every call is answered with its
// own results, and the states end with every offset done.
func TestUpdateQueueConcurrent(t *testing.T) {
	r, d := offsetReplica(t)
	ctx := context.Background()
	for range 20 {
		if _, err := r.Produce(ctx, plain(t, 50)); err != nil {
			t.Fatal(err)
		}
	}
	queues := []string{"a", "b", "c"}
	for _, q := range queues {
		if _, err := r.UpdateQueue(ctx, q, []QueueOp{qInit(10)}); err != nil {
			t.Fatal(err)
		}
	}
	before := d.index
	const workers, each = 30, 30 // offsets [10, 10+workers*each) per queue
	var wg sync.WaitGroup
	for w := range workers {
		for _, q := range queues {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					off := int64(10 + w*each + i)
					res, err := r.UpdateQueue(ctx, q, []QueueOp{qRecv(off), qRecv(off), qAck(off)})
					if err != nil || res[0].Count != 1 || res[1].Count != 2 || !res[2].NewlyDone {
						t.Errorf("%s offset %d: %+v %v", q, off, res, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, q := range queues {
		r.QueueState(q, func(s *consumergroup.AckState) {
			if s.Floor() != 10+workers*each || s.Ranges() != 0 || s.Receives() != 0 {
				t.Errorf("%s: floor %d, %d ranges, %d receives", q, s.Floor(), s.Ranges(), s.Receives())
			}
		})
	}
	t.Logf("%d calls in %d commands", workers*each*len(queues), d.index-before)
	checkQueueBytes(t, r)
}
