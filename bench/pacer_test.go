package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to, or when the pacer
// sleeps (which moves it to the time slept until, at once).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool {
	select {
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps++
	if t.After(c.now) {
		c.now = t
	}
	return true
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestPacerOnSchedule(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := newPacer(clk, t0, 1000, 0)
	for i := range 5 {
		got, ok := p.Next(t.Context(), nil)
		want := t0.Add(time.Duration(i) * time.Millisecond)
		if !ok || !got.Equal(want) {
			t.Fatalf("record %d: intended %v (%v), want %v", i, got.Sub(t0), ok, want.Sub(t0))
		}
		if !clk.Now().Equal(want) {
			t.Fatalf("record %d: pacer returned at %v, before its intended time %v", i, clk.Now().Sub(t0), want.Sub(t0))
		}
	}
}

// TestPacerBehind is the coordinated-omission check of the pacer: after
// a stall the intended times stay on the original schedule, so the
// records the stall delayed are sent at once and charged the delay.
func TestPacerBehind(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := newPacer(clk, t0, 1000, 0)
	for range 3 {
		p.Next(t.Context(), nil)
	}
	clk.advance(10 * time.Millisecond) // a Send blocked: now is t0+12ms
	sleeps := clk.sleeps
	for i := 3; i <= 12; i++ {
		got, ok := p.Next(t.Context(), nil)
		if want := t0.Add(time.Duration(i) * time.Millisecond); !ok || !got.Equal(want) {
			t.Fatalf("record %d: intended %v, want %v", i, got.Sub(t0), want.Sub(t0))
		}
		if lateness := clk.Now().Sub(got); lateness != time.Duration(12-i)*time.Millisecond {
			t.Fatalf("record %d: sent %v after its intended time, want %v", i, lateness, time.Duration(12-i)*time.Millisecond)
		}
	}
	if clk.sleeps != sleeps {
		t.Fatalf("the pacer slept %d times while behind", clk.sleeps-sleeps)
	}
	got, _ := p.Next(t.Context(), nil)
	if want := t0.Add(13 * time.Millisecond); !got.Equal(want) || !clk.Now().Equal(want) || clk.sleeps != sleeps+1 {
		t.Fatalf("caught up: intended %v at %v, want a sleep until %v", got.Sub(t0), clk.Now().Sub(t0), want.Sub(t0))
	}
}

// TestPacerEarly: a record due within early of now is sent at once
// and stamped with its send time, which is before it was due.
func TestPacerEarly(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := newPacer(clk, t0, 100, 2*time.Millisecond) // due every 10 ms
	if got, _ := p.Next(t.Context(), nil); !got.Equal(t0) {
		t.Fatalf("first record at %v", got.Sub(t0))
	}
	got, _ := p.Next(t.Context(), nil)
	if want := t0.Add(8 * time.Millisecond); !got.Equal(want) || !clk.Now().Equal(want) {
		t.Fatalf("second record stamped %v at %v; want a sleep until %v, 2 ms before it is due", got.Sub(t0), clk.Now().Sub(t0), want.Sub(t0))
	}
	clk.advance(11 * time.Millisecond) // now t0+19ms: the third record, due at 20 ms, is sent now
	sleeps := clk.sleeps
	if got, _ := p.Next(t.Context(), nil); !got.Equal(clk.Now()) || clk.sleeps != sleeps {
		t.Fatalf("third record stamped %v at %v after %d sleeps; want at once, stamped now", got.Sub(t0), clk.Now().Sub(t0), clk.sleeps-sleeps)
	}
}

func TestPacerUnpaced(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := newPacer(clk, t0, 0, 0)
	for i := range 3 {
		clk.advance(time.Duration(i) * time.Second)
		if got, ok := p.Next(t.Context(), nil); !ok || !got.Equal(clk.Now()) {
			t.Fatalf("unpaced: intended %v, want now %v", got, clk.Now())
		}
	}
	if clk.sleeps != 0 || !p.unpaced() {
		t.Fatalf("unpaced pacer slept %d times", clk.sleeps)
	}
}

func TestPacerStop(t *testing.T) {
	clk := &fakeClock{now: t0}
	p := newPacer(clk, t0.Add(time.Second), 10, 0)
	stop := make(chan struct{})
	close(stop)
	if _, ok := p.Next(t.Context(), stop); ok {
		t.Fatal("Next waited past a closed stop")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := p.Next(ctx, nil); ok {
		t.Fatal("Next waited past a cancelled context")
	}
}

func TestPacerNoDrift(t *testing.T) {
	p := newPacer(&fakeClock{now: t0}, t0, 3, 0) // 333.33… ms apart
	p.i = 3_000_000
	got, _ := p.Next(t.Context(), nil)
	if d := got.Sub(t0) - 1_000_000*time.Second; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("after 3M records at 3/s the schedule is off by %v", d)
	}
}

func TestRealClockSleepUntil(t *testing.T) {
	var c realClock
	stop := make(chan struct{})
	if !c.SleepUntil(t.Context(), stop, time.Now().Add(-time.Second)) {
		t.Fatal("a time in the past should not wait")
	}
	start := time.Now()
	if !c.SleepUntil(t.Context(), stop, start.Add(5*time.Millisecond)) || time.Since(start) < 5*time.Millisecond {
		t.Fatal("SleepUntil returned early")
	}
	close(stop)
	if c.SleepUntil(t.Context(), stop, time.Now().Add(time.Hour)) {
		t.Fatal("SleepUntil ignored stop")
	}
}
