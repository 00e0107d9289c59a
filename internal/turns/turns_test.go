package turns

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate holds each step until the test lets it go, and records its batch.
type gate struct {
	steps   chan []int
	release chan struct{}
}

func (g *gate) run(_ context.Context, _ string, ins []int) []int {
	g.steps <- ins
	<-g.release
	out := make([]int, len(ins))
	for i, in := range ins {
		out[i] = in * 10
	}
	return out
}

func waitQueued(t *testing.T, b *Batcher[string, int, int], k string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.Queued(k) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", b.Queued(k), n)
		}
		<-time.After(time.Millisecond)
	}
}

func TestBatchesWhileBusy(t *testing.T) {
	b := New[string, int, int](100, nil)
	g := &gate{steps: make(chan []int, 10), release: make(chan struct{})}
	results := make([]int, 6)
	var wg sync.WaitGroup
	do := func(i int) {
		defer wg.Done()
		out, err := b.Do(context.Background(), "k", i, g.run)
		if err != nil {
			t.Error(err)
		}
		results[i] = out
	}
	wg.Add(1)
	go do(0)
	if first := <-g.steps; len(first) != 1 {
		t.Fatalf("first step %v", first)
	}
	for i := 1; i < 6; i++ {
		wg.Add(1)
		go do(i)
	}
	waitQueued(t, b, "k", 5)
	g.release <- struct{}{}
	if second := <-g.steps; len(second) != 5 {
		t.Fatalf("second step %v, want the 5 queued", second)
	}
	g.release <- struct{}{}
	wg.Wait()
	for i, r := range results {
		if r != i*10 {
			t.Errorf("call %d got %d", i, r)
		}
	}
	if len(b.lanes) != 0 {
		t.Error("an idle lane was kept")
	}
}

func TestWeightLimit(t *testing.T) {
	b := New[string, int, int](5, func(n int) int { return n })
	g := &gate{steps: make(chan []int, 10), release: make(chan struct{})}
	var wg sync.WaitGroup
	for i, w := range []int{1, 3, 3, 2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Do(context.Background(), "k", w, g.run); err != nil {
				t.Error(err)
			}
		}()
		if i == 0 {
			<-g.steps
		}
	}
	waitQueued(t, b, "k", 3)
	g.release <- struct{}{}
	second := <-g.steps
	sum := 0
	for _, w := range second {
		sum += w
	}
	if sum > 5 {
		t.Errorf("a step of weight %d over 5: %v", sum, second)
	}
	g.release <- struct{}{}
	<-g.steps
	g.release <- struct{}{}
	wg.Wait()
}

func TestCancelledWhileQueued(t *testing.T) {
	b := New[string, int, int](100, nil)
	g := &gate{steps: make(chan []int, 10), release: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = b.Do(context.Background(), "k", 1, g.run)
	}()
	<-g.steps
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx, "k", 2, g.run)
		errc <- err
	}()
	waitQueued(t, b, "k", 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	g.release <- struct{}{}
	wg.Wait()
	// The lane is idle again: the next call runs at once.
	go func() { g.release <- struct{}{} }()
	if out, err := b.Do(context.Background(), "k", 3, g.run); err != nil || out != 30 {
		t.Fatalf("after: %d %v", out, err)
	}
	if s := <-g.steps; len(s) != 1 || s[0] != 3 {
		t.Errorf("the cancelled call ran: %v", s)
	}
}

func TestLanesIndependent(t *testing.T) {
	b := New[string, int, int](100, nil)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := []string{"a", "b", "c"}[i%3]
			out, err := b.Do(context.Background(), k, i, func(_ context.Context, lane string, ins []int) []int {
				out := make([]int, len(ins))
				for j, in := range ins {
					if []string{"a", "b", "c"}[in%3] != lane {
						t.Errorf("input %d in lane %s", in, lane)
					}
					out[j] = in + 1
				}
				return out
			})
			if err != nil || out != i+1 {
				t.Errorf("call %d: %d %v", i, out, err)
			}
		}()
	}
	wg.Wait()
}
