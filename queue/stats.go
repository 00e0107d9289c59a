package queue

import (
	"context"
	"time"

	"github.com/sluicedb/sluice/consumergroup"
)

// Stats is a queue's state in one partition, as its leader sees it.
type Stats struct {
	// Floor: every offset below it is done.
	Floor         int64
	HighWatermark int64
	// Pending counts the messages not done: Visible + Delayed +
	// InFlight. Records a filter rejects are not messages.
	Pending  int64
	Visible  int64
	Delayed  int64 // before their delivery delay ends, or held back by a nack
	InFlight int64 // leased now
	// Oldest is the timestamp of the oldest pending message; zero when
	// none is.
	Oldest time.Time
	// Approximate: the statistics looked at the first scanBytes of log
	// above the floor only; the pending records past them count as
	// visible (and, in a filtered queue, as matching).
	Approximate bool
}

// Stats reads the queue's state in the partition: the replicated ack
// state, the engine's leases and the pending records themselves (for
// their delays and the filter). It changes nothing; a partition with no
// state for the queue counts every record from the log start as pending.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	st := Stats{HighWatermark: e.p.HighWatermark(), Floor: e.p.LogStartOffset()}
	var state *consumergroup.AckState
	e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) { state = s.Clone() })
	if state != nil {
		st.Floor = max(st.Floor, state.Floor())
	}
	recs, err := e.scan(ctx, st.Floor)
	if err != nil {
		return Stats{}, err
	}
	scanned, doneSeen := st.Floor, int64(0)
	for i := range recs {
		r := &recs[i]
		scanned = r.Offset + 1
		if state != nil && state.Done(r.Offset) {
			doneSeen++
			continue
		}
		if e.cfg.Filter != nil && !e.cfg.Filter.Match(r.Key, headerOf(r)) {
			continue
		}
		if st.Oldest.IsZero() {
			st.Oldest = time.UnixMilli(r.Timestamp)
		}
		_, leased := e.leases.Leased(r.Offset, now)
		switch {
		case leased:
			st.InFlight++
		case !e.leases.Visible(r.Offset, now) || now.Before(e.visibleAt(r)):
			st.Delayed++
		default:
			st.Visible++
		}
	}
	// Past the scan: the records not looked at, less those done.
	if rest := st.HighWatermark - scanned; rest > 0 {
		if state != nil {
			rest -= max(0, state.DoneAbove()-doneSeen)
		}
		if rest > 0 {
			st.Visible += rest
			st.Approximate = true
		}
	}
	st.Pending = st.Visible + st.Delayed + st.InFlight
	return st, nil
}
