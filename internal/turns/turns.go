// Package turns lets concurrent callers share one expensive step (a raft
// proposal, a call to another node) without a goroutine of its own: the
// callers of a lane take turns. While one caller's step is in flight the
// others queue; when it ends, the first caller still waiting takes the
// turn and runs one step for everything queued (up to a limit). So a busy
// lane runs few, large steps, and an idle one runs each call at once.
package turns

import (
	"context"
	"slices"
	"sync"
)

// Batcher queues calls by lane (K), each with an input (T) and a result
// (R). Its zero value is not ready: use New. It is safe for concurrent
// use; its lock is a leaf.
type Batcher[K comparable, T, R any] struct {
	max    int               // the weight of one step, at most (a call alone may exceed it)
	weight func(T) int       // an input's weight
	mu     sync.Mutex        //
	lanes  map[K]*lane[T, R] // Protected by mu; a lane is dropped when idle
}

type lane[T, R any] struct {
	busy    bool          // a caller holds the turn
	waiting []*call[T, R] // not yet run
}

// call is one caller's share. A caller without the turn waits on wake,
// which is signalled once: when its result is in (done set), or when it
// is handed the turn (turn set, done not).
type call[T, R any] struct {
	in   T
	wake chan struct{}
	turn bool // Protected by Batcher.mu
	done bool // set before wake; read by the owner after wake
	out  R
}

// New returns a batcher whose steps carry inputs of total weight up to
// max (weight nil: each input weighs 1).
func New[K comparable, T, R any](max int, weight func(T) int) *Batcher[K, T, R] {
	if weight == nil {
		weight = func(T) int { return 1 }
	}
	return &Batcher[K, T, R]{max: max, weight: weight, lanes: map[K]*lane[T, R]{}}
}

// Do runs in through lane k and returns its result. run performs one step
// for a batch of inputs of lane k and returns one result per input, in
// order; it gets a context without ctx's cancellation (the batch is
// others' too), so it must bound itself. If ctx ends while the call
// waits and before it is taken into a step, Do returns ctx's error and
// in is never run; once taken, Do waits for the step.
func (b *Batcher[K, T, R]) Do(ctx context.Context, k K, in T, run func(ctx context.Context, k K, ins []T) []R) (R, error) {
	c := &call[T, R]{in: in, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	l := b.lanes[k]
	if l == nil {
		l = &lane[T, R]{}
		b.lanes[k] = l
	}
	l.waiting = append(l.waiting, c)
	if !l.busy {
		l.busy, c.turn = true, true
	}
	turn := c.turn
	b.mu.Unlock()
	if !turn {
		select {
		case <-c.wake:
		case <-ctx.Done():
			b.mu.Lock()
			if i := slices.Index(l.waiting, c); i >= 0 && !c.turn {
				l.waiting = slices.Delete(l.waiting, i, i+1) // never run
				b.mu.Unlock()
				var zero R
				return zero, ctx.Err()
			}
			b.mu.Unlock()
			<-c.wake // taken into a step, or handed the turn: see it through
		}
	}
	if !c.done {
		b.step(ctx, k, l, c, run)
	}
	return c.out, nil
}

// step runs own (whose caller holds l's turn) with l's other waiting calls
// as one step, answers each, and passes the turn to the first call still
// waiting, or drops the idle lane.
func (b *Batcher[K, T, R]) step(ctx context.Context, k K, l *lane[T, R], own *call[T, R], run func(context.Context, K, []T) []R) {
	b.mu.Lock()
	batch := []*call[T, R]{own}
	w := b.weight(own.in)
	l.waiting = slices.DeleteFunc(l.waiting, func(c *call[T, R]) bool {
		switch {
		case c == own:
			return true
		case !c.turn && w+b.weight(c.in) <= b.max:
			batch = append(batch, c)
			w += b.weight(c.in)
			return true
		}
		return false
	})
	b.mu.Unlock()
	ins := make([]T, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	outs := run(context.WithoutCancel(ctx), k, ins)
	for i, c := range batch {
		c.out, c.done = outs[i], true
	}
	b.mu.Lock()
	var next *call[T, R]
	if len(l.waiting) > 0 {
		next = l.waiting[0]
		next.turn = true
	} else {
		l.busy = false
		delete(b.lanes, k)
	}
	b.mu.Unlock()
	for _, c := range batch[1:] {
		c.wake <- struct{}{}
	}
	if next != nil {
		next.wake <- struct{}{}
	}
}

// Queued returns the calls of lane k waiting for a step (for tests).
func (b *Batcher[K, T, R]) Queued(k K) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.lanes[k]; l != nil {
		n := 0
		for _, c := range l.waiting {
			if !c.turn {
				n++
			}
		}
		return n
	}
	return 0
}

// Busy reports whether lane k has a call running or waiting (for tests).
func (b *Batcher[K, T, R]) Busy(k K) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lanes[k] != nil
}
