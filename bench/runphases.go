package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// run runs the phases and returns the result; see Run.
func (r *run) run(ctx context.Context) (*Result, error) {
	if err := r.setup(ctx); err != nil {
		r.closeClients()
		r.cleanup(ctx)
		errs := []error{err}
		for _, n := range r.errs.list() {
			errs = append(errs, errors.New("bench: cleanup: "+n))
		}
		return nil, errors.Join(errs...)
	}
	r.procs = newProcSampler(r.cfg.Processes, r.errs.note)

	// Producers get a context of their own, so that producers that
	// will not stop can be cancelled without cancelling the run.
	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	r.started = r.clk.Now()
	r.nextWin = r.started.Add(windowLength)
	if r.w.ConsumerBacklogSizeGB == 0 {
		r.setMeasured(windowsIn(r.w.Warmup()))
	}
	r.startProducers(sendCtx)

	var err error
	if r.w.ConsumerBacklogSizeGB > 0 {
		err = r.backlog(ctx)
	}
	if err == nil {
		err = r.measure(ctx)
	}
	r.stopProducers()
	if r.measureEnded.IsZero() {
		r.measureEnded = r.clk.Now()
	}
	r.setPhase(PhaseDrain, r.drainTimeout)
	if err == nil {
		err = r.waitProducers(ctx, cancelSend)
	} else {
		cancelSend()
		r.prodWG.Wait()
	}
	if err == nil {
		err = r.flush(ctx)
	}
	if err == nil {
		_, err = r.wait(ctx, r.clk.Now().Add(r.drainTimeout), nil, r.drained)
	}
	gaveUp := r.clk.Now()
	r.closeClients()
	// The last, partial window: events up to the clients' close.
	w := r.rec.harvest()
	w.Second = int(r.clk.Now().Sub(r.started) / windowLength)
	r.windows = append(r.windows, w)
	res := r.result(gaveUp, err == nil)
	r.cleanup(ctx)
	res.Errors = r.errs.list()
	return res, err
}

// backlog lets producers build a backlog of ConsumerBacklogSizeGB
// acknowledged bytes, starts the consumers, measures how long they take
// to catch up (see caughtUp), and then fixes the measured phase to
// start after the warm-up.
func (r *run) backlog(ctx context.Context) error {
	r.setPhase(PhaseBacklog, 0)
	target := int64(r.w.ConsumerBacklogSizeGB * (1 << 30))
	var last int64
	lastProgress := r.clk.Now()
	stalled := false
	if _, err := r.wait(ctx, time.Time{}, nil, func() bool {
		var b int64
		for _, p := range r.prods {
			b += p.ackedBytesAll.Load()
		}
		now := r.clk.Now()
		switch {
		case b >= target:
			return true
		case b > last:
			last, lastProgress = b, now
		case now.Sub(lastProgress) > r.drainTimeout:
			stalled = true
			return true
		}
		return false
	}); err != nil {
		return err
	}
	if stalled {
		r.errs.note(fmt.Sprintf("backlog: acknowledged bytes stopped growing at %d of %d for %v; starting consumers", last, target, r.drainTimeout))
	}

	began := r.clk.Now()
	if err := r.startConsumers(ctx); err != nil {
		return err
	}
	limit := max(r.drainTimeout, r.w.TestDuration())
	caught, err := r.wait(ctx, began.Add(limit), nil, r.caughtUp)
	if err != nil {
		return err
	}
	r.backlogDrain = r.clk.Now().Sub(began)
	if !caught {
		r.errs.note(fmt.Sprintf("backlog: consumers had not caught up after %v; measuring anyway", limit))
	}
	cur := int(r.clk.Now().Sub(r.started) / windowLength)
	r.setMeasured(cur + 1 + windowsIn(r.w.Warmup()))
	return nil
}

// measure runs the warm-up, then the measured phase, which ends at its
// planned end, or when producers stop (record count reached).
func (r *run) measure(ctx context.Context) error {
	r.setPhase(PhaseWarmup, r.measureBegan.Sub(r.clk.Now()))
	if _, err := r.wait(ctx, r.measureBegan, nil, nil); err != nil {
		return err
	}
	r.setPhase(PhaseMeasure, r.w.TestDuration())
	r.procs.sample(true, false, false, r.errs.note)
	var end time.Time // none: only a record count ends the phase
	if d := r.w.TestDuration(); d > 0 {
		end = r.measureBegan.Add(d)
	}
	_, err := r.wait(ctx, end, r.stop, r.stopped)
	r.measureEnded = r.clk.Now()
	if !end.IsZero() && r.measureEnded.After(end) {
		r.measureEnded = end
	}
	r.procs.sample(false, false, true, r.errs.note)
	return err
}

// waitProducers waits for the producer goroutines to return, up to the
// drain timeout; then it cancels their Sends and waits on.
func (r *run) waitProducers(ctx context.Context, cancelSend context.CancelFunc) error {
	ok, err := r.wait(ctx, r.clk.Now().Add(r.drainTimeout), nil, func() bool { return r.live.Load() == 0 })
	if !ok {
		if err == nil {
			r.errs.note(fmt.Sprintf("producers still in Send after %v: cancelled", r.drainTimeout))
		}
		cancelSend()
	}
	r.prodWG.Wait()
	return err
}

// flush waits, up to the drain timeout, for every producer's Flush.
func (r *run) flush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(ctx, r.drainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var pending atomic.Int64
	pending.Store(int64(len(r.prods)))
	for _, p := range r.prods {
		wg.Go(func() {
			defer pending.Add(-1)
			if err := p.p.Flush(fctx); err != nil {
				r.errs.add("flush", err)
			}
		})
	}
	_, err := r.wait(ctx, time.Time{}, fctx.Done(), func() bool { return pending.Load() == 0 || fctx.Err() != nil })
	cancel()
	wg.Wait()
	return err
}

// closeClients closes every consumer, then every producer.
func (r *run) closeClients() {
	for _, c := range r.cons {
		if err := c.c.Close(); err != nil {
			r.errs.note(fmt.Sprintf("close consumer of %s/sub-%d: %v", r.topics[c.topic], c.sub, err))
		}
	}
	for _, p := range r.prods {
		if err := p.p.Close(); err != nil {
			r.errs.note(fmt.Sprintf("close producer of %s: %v", r.topics[p.topic], err))
		}
	}
}

// cleanup deletes the topics and closes the driver, best effort: with a
// context of its own, so that it runs after ctx ended too.
func (r *run) cleanup(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for _, t := range r.topics {
		if err := r.cfg.Driver.DeleteTopic(cctx, t); err != nil {
			r.errs.note(fmt.Sprintf("delete topic %s: %v", t, err))
		}
	}
	if err := r.cfg.Driver.Close(); err != nil {
		r.errs.note(fmt.Sprintf("close driver: %v", err))
	}
}
