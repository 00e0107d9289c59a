package bench

import (
	"context"
	"fmt"
	"time"
)

// wait runs the windows (see maybeWindow) until cond holds (checked
// every pollInterval, and at once when wake is ready), until deadline
// (when not zero), or until ctx is done. It reports whether cond held,
// and returns ctx's error when ctx ended the wait. A closed wake must
// make cond true.
func (r *run) wait(ctx context.Context, deadline time.Time, wake <-chan struct{}, cond func() bool) (bool, error) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := r.clk.Now()
		r.maybeWindow(now)
		r.refillBacklog(now)
		if cond != nil && cond() {
			return true, nil
		}
		if !deadline.IsZero() && !now.Before(deadline) {
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		d := min(pollInterval, r.nextWin.Sub(now))
		if !deadline.IsZero() {
			d = min(d, deadline.Sub(now))
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
		case <-wake:
		}
	}
}

// maybeWindow ends the window in progress if now is past its end: it
// harvests the recorder, samples the processes, notes each topic's acks
// (for the backlog catch-up) and reports progress. When the caller was
// late by more than a window, the events of the missed windows go into
// the window just ended.
func (r *run) maybeWindow(now time.Time) {
	if now.Before(r.nextWin) {
		return
	}
	cur := int(now.Sub(r.started) / windowLength) // the window now in progress
	w := r.rec.harvest()
	w.Second = cur - 1
	r.windows = append(r.windows, w)
	r.nextWin = r.started.Add(time.Duration(cur+1) * windowLength)
	r.lastRate = float64(w.Acked) / windowLength.Seconds()

	copy(r.topicAckedPrev, r.topicAckedLast)
	clear(r.topicAckedLast)
	for _, p := range r.prods {
		r.topicAckedLast[p.topic] += p.ackedAll.Load()
	}
	if r.phase == PhaseMeasure {
		r.procs.sample(false, true, false, r.errs.note)
	}
	r.report(now)
}

// report calls the Progress callback.
func (r *run) report(now time.Time) {
	if r.cfg.Progress == nil {
		return
	}
	p := Progress{
		Phase: r.phase, Elapsed: now.Sub(r.phaseStart), Total: r.phaseTotal, Rate: r.lastRate,
		PublishP99:  ms(r.rec.pubTotal.ValueAtPercentile(99)),
		EndToEndP99: ms(r.rec.e2eTotal.ValueAtPercentile(99)),
	}
	for _, pr := range r.prods {
		p.Sent += pr.sentAll.Load()
		p.Acked += pr.ackedAll.Load()
		p.Failed += pr.failedAll.Load()
	}
	for _, c := range r.cons {
		p.Received += c.receivedAll.Load()
	}
	r.cfg.Progress(p)
}

// result fills the Result once every client is closed. gaveUp is when
// the drain ended; complete is false when ctx ended the run, in which
// case records not received are not charged to the end-to-end
// histogram (they were not waited for).
func (r *run) result(gaveUp time.Time, complete bool) *Result {
	res := &Result{
		Version: ResultVersion, Label: r.cfg.Label, Driver: r.driverName, Target: r.cfg.Target,
		Workload: r.w, Started: r.started, BacklogDrainS: r.backlogDrain.Seconds(),
	}
	if r.kMeasure >= 0 && r.measureEnded.After(r.measureBegan) {
		res.Seconds = r.measureEnded.Sub(r.measureBegan).Seconds()
	}
	var ackedBytes int64
	for _, p := range r.prods {
		res.Sent += p.sent.Load()
		res.SentBytes += p.sentBytes.Load()
		res.Acked += p.acked.Load()
		ackedBytes += p.ackedBytes.Load()
		res.Failed += p.failed.Load()
	}
	// A record neither acknowledged nor failed by now (a Flush that
	// timed out, a cancelled run) is counted as failed, so that
	// Sent = Acked + Failed.
	if pending := res.Sent - res.Acked - res.Failed; pending > 0 {
		res.Failed += pending
		r.errs.note(fmt.Sprintf("%d records of the measured phase were neither acknowledged nor failed at the end: counted as failed", pending))
	}
	for _, c := range r.cons {
		res.Received += c.received.Load()
		res.ReceivedBytes += c.receivedBytes.Load()
		res.Misdelivered += c.misdelivered.Load()
	}
	for _, l := range r.lags(true) {
		if l.missing <= 0 {
			continue
		}
		res.Unreceived += l.missing
		r.errs.note(fmt.Sprintf("%s/sub-%d: %d records acknowledged in the measured phase were not received", r.topics[l.topic], l.sub, l.missing))
	}
	r.noteEmptyFilters(res.Acked)
	if complete {
		// Each unreceived record was sent by the end of the measured
		// phase, so when the run gave up it had waited at least this.
		r.rec.addUnreceived(gaveUp.Sub(r.measureEnded), res.Unreceived)
	}
	if s := res.Seconds; s > 0 {
		res.PublishRate = float64(res.Acked) / s
		res.PublishMBps = float64(ackedBytes) / (1 << 20) / s
		res.ConsumeRate = float64(res.Received) / s
		res.ConsumeMBps = float64(res.ReceivedBytes) / (1 << 20) / s
	}
	res.Publish = summarize(r.rec.pubTotal)
	res.EndToEnd = summarize(r.rec.e2eTotal)

	k := r.kMeasure
	if k < 0 && len(r.windows) > 0 {
		k = r.windows[len(r.windows)-1].Second + 1 // never measured: every window came before
	}
	res.Windows = make([]Window, len(r.windows))
	for i, w := range r.windows {
		w.Second -= k
		res.Windows[i] = w
	}
	res.Processes = r.procs.stats(res.Seconds)
	return res
}

// noteEmptyFilters notes each subscription whose filter matched none of
// the records acknowledged in the measured phase (acked of them), which
// is more likely a mistake in the workload than a benchmark.
func (r *run) noteEmptyFilters(acked int64) {
	if r.filt == nil || acked == 0 {
		return
	}
	subs := r.w.SubscriptionsPerTopic
	for s := range subs {
		var n int64
		for _, p := range r.prods {
			n += p.subAcked[s].Load()
		}
		if n == 0 {
			r.errs.note(fmt.Sprintf("sub-%d: its filter %s matched none of the %d records acknowledged in the measured phase",
				s, r.w.SubscriptionFilters[s], acked))
		}
	}
}
