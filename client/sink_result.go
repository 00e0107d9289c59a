package client

import (
	"context"
	"fmt"
	"time"
)

// The sink's attempts and their outcomes: send, handle, re-sequencing
// after a batch failed for good, and in-order delivery of results.

// send starts an attempt of out[i].
func (s *sink) send(ctx context.Context, i int) {
	b := s.out[i]
	b.headAtSend = true
	for _, a := range s.out[:i] {
		if a.state != stateAcked {
			b.headAtSend = false
		}
	}
	s.sends++
	b.lastSend, b.state = s.sends, stateInFlight
	b.attempts++
	s.inflight++
	data := b.data
	s.p.wg.Add(1) // the sink's own goroutine is counted, so Wait has not returned
	go func() {
		defer s.p.wg.Done()
		resp, err := s.p.c.produceBatch(ctx, s.key, data)
		s.results <- sendResult{b: b, resp: resp, err: err}
	}()
}

// handle takes the outcome of an attempt.
func (s *sink) handle(r sendResult, now time.Time) {
	b := r.b
	s.inflight--
	if r.err == nil {
		b.state, b.base, b.err = stateAcked, r.resp.GetBaseOffset(), nil
		return
	}
	b.err = r.err
	e := asError(r.err)
	switch {
	case e != nil && e.Code == CodeOutOfOrderSequence && !b.headAtSend:
		// An earlier batch had not been written when this one arrived.
		b.state, b.retryAt, b.failedAt = stateFailed, now, s.sends
	case transient(r.err):
		b.state, b.retryAt, b.failedAt = stateFailed, now.Add(s.p.c.backoff(b.attempts)), s.sends
	case e != nil && (e.Code == CodeUnknownStream || e.Code == CodeProducerFenced):
		// Every batch of the partition would fail the same way.
		for _, a := range s.out {
			if a.state == stateQueued || a.state == stateFailed {
				s.fail(a, r.err)
			}
		}
		s.fail(b, r.err)
		s.expireQueued(time.Time{}, r.err)
	default:
		s.fail(b, r.err)
	}
}

// fail settles b with err. A batch that was sent under a producer id
// leaves a gap in its sequence: the sink must re-sequence what follows.
func (s *sink) fail(b *pbatch, err error) {
	b.state, b.err = stateFatal, err
	if b.lastSend > 0 && b.pid >= 0 {
		s.broken = true
	}
}

// resequence moves the batches after a failed one to a new producer id,
// re-encoding them from sequence 0. Called with nothing in flight and
// every failed batch delivered.
func (s *sink) resequence(ctx context.Context, now time.Time) error {
	id, epoch, err := s.p.c.initProducer(ctx)
	if err != nil {
		return err
	}
	s.pid, s.epoch, s.seq, s.havePID, s.broken = id, epoch, 0, true, false
	for _, b := range s.out {
		if b.state == stateAcked {
			continue
		}
		if err := s.encode(b); err != nil {
			b.state, b.err = stateFatal, err
			continue
		}
		b.state, b.retryAt, b.failedAt = stateFailed, now, s.sends
	}
	return nil
}

// deliver hands the results of settled batches at the head of out to
// their callbacks, in order.
func (s *sink) deliver() {
	n := 0
	for n < len(s.out) && (s.out[n].state == stateAcked || s.out[n].state == stateFatal) {
		s.complete(s.out[n])
		n++
	}
	if n > 0 {
		s.out = append(s.out[:0], s.out[n:]...)
	}
}

// complete releases b's buffer room and calls its callbacks.
func (s *sink) complete(b *pbatch) {
	s.p.releaseBytes(b.bytes)
	for i, cb := range b.cbs {
		res := RecordResult{Stream: s.key.stream, Partition: s.key.part, Offset: -1,
			Timestamp: time.UnixMilli(b.recs[i].Timestamp)}
		if b.state == stateAcked {
			res.Offset = b.base + int64(i)
			cb(res, nil)
		} else {
			cb(res, b.err)
		}
	}
	s.p.doneRecords(len(b.cbs))
}

// expireQueued fails the queued batches whose deadline is before now
// (every one for a zero now) when nothing is out, so that results stay in
// order.
func (s *sink) expireQueued(now time.Time, cause error) {
	if len(s.out) > 0 {
		return
	}
	var expired []*pbatch
	s.mu.Lock()
	for len(s.mu.full) > 0 && (now.IsZero() || !now.Before(s.mu.full[0].deadline)) {
		expired = append(expired, s.mu.full[0])
		s.mu.full = s.mu.full[1:]
	}
	if b := s.mu.open; b != nil && len(s.mu.full) == 0 && (now.IsZero() || !now.Before(b.deadline)) {
		expired = append(expired, b)
		s.mu.open = nil
	}
	s.mu.Unlock()
	err := cause
	if !now.IsZero() {
		err = deliveryTimeout(s.p.cfg.DeliveryTimeout, cause)
	}
	for _, b := range expired {
		b.state, b.err = stateFatal, err
		s.complete(b)
	}
}

// abort fails everything the sink holds with ErrClosed (delivering acked
// batches as acked) and makes add refuse from now on.
func (s *sink) abort() {
	s.mu.Lock()
	s.mu.dead = true
	queued := append(s.mu.full, s.mu.open)
	s.mu.full, s.mu.open = nil, nil
	s.mu.Unlock()
	for _, b := range append(s.out, queued...) {
		if b == nil {
			continue
		}
		if b.state != stateAcked {
			b.state, b.err = stateFatal, ErrClosed
		}
		s.complete(b)
	}
	s.out = nil
}

// deliveryTimeout is the error of a batch not acknowledged within d; last
// is its last failure.
func deliveryTimeout(d time.Duration, last error) error {
	if last == nil {
		return fmt.Errorf("%w: not acknowledged within %v", ErrDeliveryTimeout, d)
	}
	return fmt.Errorf("%w: not acknowledged within %v: %w", ErrDeliveryTimeout, d, last)
}
