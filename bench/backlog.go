package bench

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// backlogGate holds producers back while a subscription of their topic
// lags by Workload.MaxBacklog records or more, so that an unpaced run
// measures the rate at which records are sent and received together (a
// queue's send + receive + ack) rather than producers outrunning
// consumers until the end.
//
// The run's goroutine refills it on every turn of its wait loop (at least
// every pollInterval): each topic's room is MaxBacklog minus its backlog,
// which is the largest lag of its subscriptions (records acknowledged
// that a subscription takes and has not received) plus the topic's
// records sent and not yet acknowledged (which may all be taken). Between
// refills producers take room one record at a time; at none they wait
// for the next refill. So the backlog exceeds MaxBacklog by at most what
// producers send in one refill interval.
type backlogGate struct {
	max  int64
	room []atomic.Int64 // by topic: records that may still be sent before the next refill
	// wake is closed, and replaced, at each refill.
	wake atomic.Pointer[chan struct{}]
	// open is set when the gate gave up holding producers back.
	open atomic.Bool

	// Owned by the run's goroutine.
	lastReceived int64     // receipts at the last refill
	lastProgress time.Time // when receipts last grew
}

// newBacklogGate returns the gate of a run of topics topics, or nil when
// max is 0 (no limit).
func newBacklogGate(max int64, topics int) *backlogGate {
	if max <= 0 {
		return nil
	}
	g := &backlogGate{max: max, room: make([]atomic.Int64, topics)}
	for t := range g.room {
		g.room[t].Store(max)
	}
	ch := make(chan struct{})
	g.wake.Store(&ch)
	return g
}

// take takes room for one record of topic t, waiting for a refill while
// there is none. It returns false if stop or done is closed first.
func (g *backlogGate) take(t int, stop, done <-chan struct{}) bool {
	for {
		// Load wake before taking: a refill between the two closes this
		// channel, so the wait below ends at once.
		w := g.wake.Load()
		if g.room[t].Add(-1) >= 0 || g.open.Load() {
			return true
		}
		select {
		case <-*w:
		case <-stop:
			return false
		case <-done:
			return false
		}
	}
}

// refillBacklog recomputes each topic's room and wakes the producers
// waiting for it. If consumers received nothing for the drain timeout
// while producers waited, the gate opens for good (with a note), so that
// a stalled consumer cannot hold a run bounded by a record count forever.
func (r *run) refillBacklog(now time.Time) {
	g := r.gate
	if g == nil || g.open.Load() {
		return
	}
	backlog := make([]int64, len(r.topics))
	for _, l := range r.lags(false) {
		backlog[l.topic] = max(backlog[l.topic], l.missing)
	}
	for _, p := range r.prods {
		backlog[p.topic] += max(0, p.sentAll.Load()-p.ackedAll.Load()-p.failedAll.Load())
	}
	var received int64
	for _, c := range r.cons {
		received += c.receivedAll.Load()
	}
	if received != g.lastReceived || g.lastProgress.IsZero() {
		g.lastReceived, g.lastProgress = received, now
	}
	full := false
	for t, b := range backlog {
		room := g.max - b
		full = full || room <= 0
		g.room[t].Store(room)
	}
	if full && now.Sub(g.lastProgress) > r.drainTimeout && len(r.cons) > 0 {
		g.open.Store(true)
		for t := range g.room {
			g.room[t].Store(math.MaxInt64 / 2)
		}
		r.errs.note(fmt.Sprintf("maxBacklog: consumers received nothing for %v with %d records waiting; producers no longer wait for them",
			r.drainTimeout, slices.Max(backlog)))
	}
	ch := make(chan struct{})
	old := g.wake.Swap(&ch)
	close(*old)
}
