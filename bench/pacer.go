package bench

import (
	"context"
	"time"
)

// clock is the pacer's view of time: tests inject a fake one that
// advances only when told to.
type clock interface {
	Now() time.Time
	// SleepUntil blocks until t, or until ctx is done or stop is closed
	// (then it returns false).
	SleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// pacer yields one producer's send times, so that latency is measured
// from when a record was due rather than from when a slow system let
// the producer send it (coordinated omission).
//
// At a rate r > 0 the i-th record is due at start + i/r, whatever
// happened before: a producer that fell behind (a Send that blocked, a
// full in-flight window) finds due times in the past, sends at once to
// catch up, and each of those records is charged the delay. At rate 0
// the producer is unpaced: Next returns the current time, and the
// caller takes the time again just before Send (see unpaced).
//
// Sleeping is coarse (a sleep under a millisecond often lasts one), and
// that oversleep would be charged to the system under test. So a record
// due within early of now is sent at once, and stamped with the time it
// is sent rather than the later time it was due: a record's time is the
// earlier of the two, and its latency is never understated.
//
// A pacer is used by one goroutine.
type pacer struct {
	clk      clock
	start    time.Time
	interval float64       // nanoseconds between due times; 0 = unpaced
	early    time.Duration // how early a record may be sent
	i        int64         // index of the next due time
}

// pacerEarly is how early the harness sends a record rather than sleep
// until it is due.
const pacerEarly = time.Millisecond

// newPacer returns a pacer starting at start and yielding rate records
// per second (0: unpaced), sending records up to early before they are
// due.
func newPacer(clk clock, start time.Time, rate float64, early time.Duration) *pacer {
	p := &pacer{clk: clk, start: start, early: early}
	if rate > 0 {
		p.interval = float64(time.Second) / rate
	}
	return p
}

// unpaced reports whether the pacer has no rate.
func (p *pacer) unpaced() bool { return p.interval == 0 }

// Next waits until the next record is due (or nearly: see pacer) and
// returns its time: when it was due, or when it is sent if that is
// earlier. When the producer is behind, Next returns at once with a
// time in the past. It returns false when ctx is done or stop is
// closed while waiting.
func (p *pacer) Next(ctx context.Context, stop <-chan struct{}) (time.Time, bool) {
	now := p.clk.Now()
	if p.unpaced() {
		return now, true
	}
	// Computing from the start (not by adding intervals) keeps rounding
	// from drifting over millions of records.
	due := p.start.Add(time.Duration(float64(p.i) * p.interval))
	p.i++
	if due.Sub(now) > p.early {
		if !p.clk.SleepUntil(ctx, stop, due.Add(-p.early)) {
			return due, false
		}
		now = p.clk.Now()
	}
	if now.Before(due) {
		return now, true
	}
	return due, true
}
