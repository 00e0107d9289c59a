package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/sluicedb/sluice/batch"
)

// reorderTracker follows, per (partition, idempotent producer), the
// sequence the partition should expect next after the batches proposed
// and written through this node, so that a batch that arrives ahead of an
// earlier one of its producer (pipelined requests may be reordered on the
// way) waits for it instead of being proposed out of order and refused
// back to the client (produce.go, produceLocal).
//
// The knowledge is advisory: it only decides how long a produce waits
// before it is proposed. Whether a batch is in order is decided by the
// partition's state machine alone, so a wrong guess (another node led in
// between, a batch was lost on the way) costs time, at most the reorder
// wait, never correctness. It is trusted for reorderFresh after it last
// changed; after that a batch goes at once, and the partition's answer
// teaches the tracker again.
type reorderTracker struct {
	mu struct {
		sync.Mutex
		producers map[producerKey]*producerState // Protected by mu.
		acquires  int
	}
}

const (
	// reorderFresh is how long the expected sequence is trusted.
	reorderFresh = time.Second
	// reorderIdle is how long an unused entry is kept.
	reorderIdle = 10 * time.Second
)

type producerKey struct {
	part string
	pid  int64
}

// producerState is what the tracker knows of one producer's batches to
// one partition. Every field is protected by reorderTracker.mu.
type producerState struct {
	refs    int  // produces using the entry
	known   bool // next is known
	epoch   int16
	next    int32 // the sequence expected after what was proposed or written
	updated time.Time
	changed chan struct{} // closed and replaced at every change
}

func (t *reorderTracker) acquire(k producerKey) *producerState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.acquires++; t.mu.acquires%256 == 0 {
		now := time.Now()
		for k, ps := range t.mu.producers {
			if ps.refs == 0 && now.Sub(ps.updated) > reorderIdle {
				delete(t.mu.producers, k)
			}
		}
	}
	ps := t.mu.producers[k]
	if ps == nil {
		ps = &producerState{changed: make(chan struct{}), updated: time.Now()}
		t.mu.producers[k] = ps
	}
	ps.refs++
	return ps
}

func (t *reorderTracker) release(ps *producerState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps.refs--
}

// changedLocked records a change and wakes the waiters.
func (ps *producerState) changedLocked() {
	ps.updated = time.Now()
	close(ps.changed)
	ps.changed = make(chan struct{})
}

// lastSeq is the sequence of h's last record.
func lastSeq(h batch.Header) int32 {
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) & (1<<31 - 1))
}

// nextSeq is the sequence after s.
func nextSeq(s int32) int32 { return int32((int64(s) + 1) & (1<<31 - 1)) }

// advance records that the partition will expect next from the producer
// at epoch (a batch before it was proposed or written), unless it is known
// to expect a later one already.
func (t *reorderTracker) advance(ps *producerState, epoch int16, next int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ps.known || ps.epoch != epoch || seqBefore(ps.next, next) {
		ps.known, ps.epoch, ps.next = true, epoch, next
		ps.changedLocked()
	}
}

// learn records what the partition said it expects (it refused a batch
// as early): this corrects the tracker, backwards too.
func (t *reorderTracker) learn(ps *producerState, epoch int16, next int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps.known, ps.epoch, ps.next = true, epoch, next
	ps.changedLocked()
}

// forget drops what is known (a produce failed another way: the
// partition's state is unknown).
func (t *reorderTracker) forget(ps *producerState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps.known = false
	ps.changedLocked()
}

// waitTurn waits, until deadline, while the tracker (freshly) expects a
// sequence before h's: the batches in between have not been proposed
// yet. It reports whether it waited, and whether h's turn came (false:
// the wait ended early, by the deadline or ctx, and h is still ahead).
func (t *reorderTracker) waitTurn(ctx context.Context, ps *producerState, h batch.Header, deadline time.Time, stop <-chan struct{}) (waited, turn bool) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		t.mu.Lock()
		early := ps.known && ps.epoch == h.ProducerEpoch && seqBefore(ps.next, h.BaseSequence) &&
			time.Since(ps.updated) < reorderFresh
		ch := ps.changed
		t.mu.Unlock()
		if !early {
			return waited, true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return waited, false
		}
		waited = true
		if timer == nil {
			timer = time.NewTimer(left)
		}
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			return waited, false
		case <-stop:
			return waited, false
		}
	}
}
