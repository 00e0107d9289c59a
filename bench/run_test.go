package bench

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// seconds converts seconds to a workload's minutes.
func seconds(s float64) float64 { return s / 60 }

// testWorkload is a small paced workload of one second, changed by mut.
func testWorkload(mut func(*Workload)) *Workload {
	w := &Workload{MessageSize: 64, PartitionsPerTopic: 2, ProducerRate: 2000, TestDurationMinutes: seconds(1)}
	if mut != nil {
		mut(w)
	}
	return w
}

// runFake runs w against a fake driver with opts, with a drain timeout
// of 5 s unless mut changes the config.
func runFake(t *testing.T, w *Workload, opts fakeOptions, mut func(*RunConfig)) (*Result, *fakeDriver, error) {
	t.Helper()
	d := newFakeDriver(opts)
	cfg := RunConfig{Workload: w, Driver: d, Label: "fake", Target: "memory", DrainTimeout: 5 * time.Second, Seed: 1}
	if mut != nil {
		mut(&cfg)
	}
	res, err := Run(t.Context(), cfg)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed != 1 {
		t.Errorf("driver closed %d times, want 1", d.mu.closed)
	}
	if len(d.mu.deleted) != len(d.mu.topics) {
		t.Errorf("deleted %d of %d topics", len(d.mu.deleted), len(d.mu.topics))
	}
	return res, d, err
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool {
	return got >= want*(1-frac) && got <= want*(1+frac)
}

func TestRunCountsAddUp(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.Topics, w.ProducersPerTopic, w.SubscriptionsPerTopic, w.ConsumerPerSubscription = 2, 2, 2, 2
	})
	res, d, err := runFake(t, w, fakeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent == 0 || res.Sent != res.Acked+res.Failed || res.Failed != 0 {
		t.Fatalf("sent %d, acked %d, failed %d", res.Sent, res.Acked, res.Failed)
	}
	if res.Received != res.Acked*2 || res.Unreceived != 0 || res.ReceivedBytes != res.Received*64 || res.SentBytes != res.Sent*64 {
		t.Fatalf("acked %d, received %d (%d bytes), unreceived %d", res.Acked, res.Received, res.ReceivedBytes, res.Unreceived)
	}
	if res.Publish.Count != res.Acked || res.EndToEnd.Count != res.Received {
		t.Fatalf("histograms hold %d and %d records, want %d and %d", res.Publish.Count, res.EndToEnd.Count, res.Acked, res.Received)
	}
	if len(res.Errors) != 0 {
		t.Fatalf("errors: %q", res.Errors)
	}
	if res.Version != ResultVersion || res.Driver != "fake" || res.Label != "fake" || res.Target != "memory" || res.Workload.Topics != 2 {
		t.Fatalf("result header %+v", res)
	}
	var consumers int
	d.mu.Lock()
	consumers = len(d.mu.consumers)
	for _, c := range d.mu.consumers {
		if c.Count != 2 || c.Partitions != 2 || !strings.HasPrefix(c.Subscription, "sub-") {
			t.Errorf("consumer spec %+v", c)
		}
	}
	d.mu.Unlock()
	if consumers != 2*2*2 {
		t.Fatalf("%d consumers, want 8", consumers)
	}
}

func TestRunFixedRate(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.ProducersPerTopic = 2
		w.TestDurationMinutes = seconds(1.5)
		w.WarmupDurationMinutes = seconds(1)
	})
	var phases []string
	res, _, err := runFake(t, w, fakeOptions{}, func(c *RunConfig) {
		c.Progress = func(p Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !within(res.Seconds, 1.5, 0.05) {
		t.Fatalf("measured %v s, want 1.5", res.Seconds)
	}
	// The warm-up's records are not counted: 2000/s over 1.5 s.
	if !within(float64(res.Sent), 3000, 0.2) || !within(res.PublishRate, 2000, 0.2) || !within(res.ConsumeRate, 2000, 0.2) {
		t.Fatalf("sent %d at %.0f/s, consumed %.0f/s; want about 3000 at 2000/s", res.Sent, res.PublishRate, res.ConsumeRate)
	}
	var warm, measured int
	for _, w := range res.Windows {
		if w.Second < 0 {
			warm++
		} else if w.Second < 2 {
			measured++
		}
	}
	if warm != 1 || measured != 2 {
		t.Fatalf("%d warm-up and %d measured windows in %+v", warm, measured, res.Windows)
	}
	if len(phases) < 2 || phases[0] != PhaseWarmup || phases[1] != PhaseMeasure {
		t.Fatalf("progress phases %q", phases)
	}
}

// TestRunConsumerStall: a subscription that pauses shows the pause in
// the end-to-end latency of the records it delayed.
func TestRunConsumerStall(t *testing.T) {
	t.Parallel()
	const stall = 400 * time.Millisecond
	w := testWorkload(func(w *Workload) {
		w.ProducerRate = 1000
		w.SubscriptionsPerTopic = 2
		w.TestDurationMinutes = seconds(1.5)
	})
	res, _, err := runFake(t, w, fakeOptions{stall: func(sub string, n int64) time.Duration {
		if sub == "sub-1" && n == 300 {
			return stall
		}
		return 0
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unreceived != 0 || res.Received != 2*res.Acked {
		t.Fatalf("received %d of 2×%d", res.Received, res.Acked)
	}
	if res.EndToEnd.Max < ms(stall.Microseconds()) || res.EndToEnd.P99 < 0.8*ms(stall.Microseconds()) {
		t.Fatalf("end-to-end %+v does not show the %v stall", res.EndToEnd, stall)
	}
}

// TestRunConsumerNeverDelivers: records a subscription never receives
// are counted as unreceived and charged to the end-to-end latency, not
// left out.
func TestRunConsumerNeverDelivers(t *testing.T) {
	t.Parallel()
	const drain = 300 * time.Millisecond
	w := testWorkload(func(w *Workload) { w.ProducerRate = 1000; w.SubscriptionsPerTopic = 2 })
	res, _, err := runFake(t, w, fakeOptions{neverDeliver: map[string]bool{"sub-1": true}}, func(c *RunConfig) {
		c.DrainTimeout = drain
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked == 0 || res.Received != res.Acked || res.Unreceived != res.Acked {
		t.Fatalf("acked %d, received %d, unreceived %d", res.Acked, res.Received, res.Unreceived)
	}
	if res.EndToEnd.Count != res.Received+res.Unreceived || res.EndToEnd.P99 < ms(drain.Microseconds()) {
		t.Fatalf("end-to-end %+v: want the unreceived at >= %v", res.EndToEnd, drain)
	}
	if !containsError(res.Errors, "sub-1") {
		t.Fatalf("errors %q do not name sub-1", res.Errors)
	}
}

// TestRunMaxBacklog: unpaced producers ahead of a slow consumer are held
// to maxBacklog records ahead of it, so that the run measures what is
// sent and received together, and every record is received by the end.
func TestRunMaxBacklog(t *testing.T) {
	t.Parallel()
	const maxBacklog = 300
	w := testWorkload(func(w *Workload) {
		w.ProducerRate, w.ProducersPerTopic, w.MaxBacklog, w.MaxInFlight = 0, 2, maxBacklog, 50
	})
	// The consumer pauses 10 ms every 50 records: at most 5000/s.
	slow := func(sub string, n int64) time.Duration {
		if n%50 == 49 {
			return 10 * time.Millisecond
		}
		return 0
	}
	var worst int64
	res, _, err := runFake(t, w, fakeOptions{stall: slow}, func(c *RunConfig) {
		c.Progress = func(p Progress) {
			if p.Phase == PhaseMeasure {
				worst = max(worst, p.Sent-p.Received)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked == 0 || res.Acked > 6000 || res.Unreceived != 0 || res.Received != res.Acked {
		t.Fatalf("acked %d, received %d, unreceived %d: want at most about 5000 acknowledged, all received", res.Acked, res.Received, res.Unreceived)
	}
	// The backlog may pass maxBacklog by what producers send between two
	// refills of the gate.
	if worst > 2*maxBacklog {
		t.Fatalf("backlog reached %d records, want about %d", worst, maxBacklog)
	}
	t.Logf("acked %d, backlog at most %d", res.Acked, worst)
}

// TestRunMaxBacklogStalled: a subscription that receives nothing cannot
// hold back a run bounded by a record count for ever: after the drain
// timeout without a receipt the gate opens, with a note.
func TestRunMaxBacklogStalled(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.ProducerRate, w.TestDurationMinutes, w.RecordCount, w.MaxBacklog = 0, 0, 500, 100
	})
	res, _, err := runFake(t, w, fakeOptions{neverDeliver: map[string]bool{"sub-0": true}}, func(c *RunConfig) {
		c.DrainTimeout = 200 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 500 || res.Unreceived != 500 || !containsError(res.Errors, "maxBacklog") {
		t.Fatalf("acked %d, unreceived %d, errors %q; want 500, 500 and a note", res.Acked, res.Unreceived, res.Errors)
	}
}

// TestRunSendStall is the coordinated-omission check: one Send blocks
// for 500 ms in a fixed-rate run, and the records that should have been
// sent meanwhile are charged the wait.
func TestRunSendStall(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) { w.ProducerRate = 1000; w.TestDurationMinutes = seconds(1.5) })
	res, _, err := runFake(t, w, fakeOptions{sendBlock: func(n int64) time.Duration {
		if n == 300 {
			return 500 * time.Millisecond
		}
		return 0
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Publish.P999 < 400 {
		t.Fatalf("publish p99.9 %v ms: the 500 ms stall is hidden", res.Publish.P999)
	}
	if !within(float64(res.Sent), 1500, 0.2) {
		t.Fatalf("sent %d, want about 1500: the producer should catch up", res.Sent)
	}
}

func TestRunBacklog(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.MessageSize = 100
		w.ProducerRate = 1000
		w.ConsumerBacklogSizeGB = 50_000.0 / (1 << 30) // 500 records: half a second
	})
	res, d, err := runFake(t, w, fakeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	before := d.mu.recordsAtFirstConsumer
	d.mu.Unlock()
	if before < 500 {
		t.Fatalf("consumers started after %d records, before the backlog of 500", before)
	}
	if res.BacklogDrainS <= 0 || res.BacklogDrainS > 3 {
		t.Fatalf("backlog drained in %v s", res.BacklogDrainS)
	}
	if res.Received != res.Acked || res.Unreceived != 0 || !within(res.PublishRate, 1000, 0.2) {
		t.Fatalf("acked %d, received %d, unreceived %d, rate %v", res.Acked, res.Received, res.Unreceived, res.PublishRate)
	}
	if res.Windows[0].Second >= 0 {
		t.Fatalf("the backlog should come before the measured phase: windows %+v", res.Windows)
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cancelled time.Time
	d := newFakeDriver(fakeOptions{})
	res, err := Run(ctx, RunConfig{
		Workload: testWorkload(func(w *Workload) { w.TestDurationMinutes = 1 }),
		Driver:   d,
		Progress: func(p Progress) {
			if p.Phase == PhaseMeasure && cancelled.IsZero() {
				cancelled = time.Now()
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if took := time.Since(cancelled); took > 2*time.Second {
		t.Fatalf("Run returned %v after the cancel", took)
	}
	if res == nil || res.Sent == 0 || res.Sent != res.Acked+res.Failed {
		t.Fatalf("partial result %+v", res)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed != 1 || len(d.mu.deleted) != 1 {
		t.Fatalf("after cancel: driver closed %d times, %d topics deleted", d.mu.closed, len(d.mu.deleted))
	}
}

func TestRunRecordCount(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.ProducerRate = 0
		w.TestDurationMinutes = 0
		w.RecordCount = 3000
		w.ProducersPerTopic = 3
		w.MaxInFlight = 50
	})
	res, _, err := runFake(t, w, fakeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 3000 || res.Acked != 3000 || res.Received != 3000 || res.Seconds <= 0 {
		t.Fatalf("sent %d, acked %d, received %d in %v s; want 3000", res.Sent, res.Acked, res.Received, res.Seconds)
	}
}

func TestRunSendFailures(t *testing.T) {
	t.Parallel()
	res, _, err := runFake(t, testWorkload(nil), fakeOptions{failEvery: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != res.Acked+res.Failed || !within(float64(res.Failed), float64(res.Sent)/10, 0.1) {
		t.Fatalf("sent %d, acked %d, failed %d", res.Sent, res.Acked, res.Failed)
	}
	if res.Received != res.Acked {
		t.Fatalf("received %d, acked %d", res.Received, res.Acked)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], errInjected.Error()) {
		t.Fatalf("errors %q: want the injected failure once, with its count", res.Errors)
	}
}

func TestRunMaxInFlight(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) {
		w.ProducerRate, w.TestDurationMinutes, w.RecordCount, w.MaxInFlight = 0, 0, 300, 5
	})
	res, d, err := runFake(t, w, fakeOptions{ackDelay: 5 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := d.maxInFlight.Load(); m > 5 || m < 2 || res.Acked != 300 {
		t.Fatalf("%d in flight at most (want 2..5), %d acked", m, res.Acked)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.producerOpts[0].MaxInFlight != 5 {
		t.Fatalf("producer options %+v", d.mu.producerOpts[0])
	}
}

func TestRunKeys(t *testing.T) {
	t.Parallel()
	for _, kd := range []KeyDistributor{NoKey, RandomNano, KeyRoundRobin} {
		t.Run(string(kd), func(t *testing.T) {
			t.Parallel()
			w := testWorkload(func(w *Workload) {
				w.ProducerRate, w.TestDurationMinutes, w.RecordCount, w.KeyDistributor = 0, 0, 1200, kd
			})
			_, d, err := runFake(t, w, fakeOptions{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			keys := make(map[string]int)
			var nilKeys int
			d.mu.Lock()
			for _, tp := range d.mu.topics {
				for _, r := range tp.records() {
					if r.key == nil {
						nilKeys++
					}
					keys[string(r.key)]++
				}
			}
			d.mu.Unlock()
			switch kd {
			case NoKey:
				if nilKeys != 1200 {
					t.Fatalf("%d of 1200 keys nil", nilKeys)
				}
			case RandomNano:
				if len(keys) < 1190 {
					t.Fatalf("%d distinct random keys of 1200", len(keys))
				}
			case KeyRoundRobin:
				if len(keys) != roundRobinKeys || keys["key-000"] != 2 {
					t.Fatalf("%d distinct keys, key-000 %d times; want %d keys in turn", len(keys), keys["key-000"], roundRobinKeys)
				}
			}
		})
	}
}

func TestRunQueueMode(t *testing.T) {
	t.Parallel()
	w := testWorkload(func(w *Workload) { w.Mode = "queue"; w.ConsumerPerSubscription = 2; w.Acks = "none" })
	res, d, err := runFake(t, w, fakeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked == 0 || res.Received != res.Acked || res.Publish.Count != 0 {
		t.Fatalf("acked %d, received %d, publish latencies %d (acks none: want 0)", res.Acked, res.Received, res.Publish.Count)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.mu.consumers {
		if !c.Queue {
			t.Fatalf("consumer %+v not in queue mode", c)
		}
	}
	if !d.mu.producerOpts[0].AcksNone {
		t.Fatal("acks none not passed to the producer")
	}
}

// filteredWorkload is a record-count run in queue mode with a header
// cycling over four values and four filtered subscriptions (plus
// mut's changes).
func filteredWorkload(mut func(*Workload)) *Workload {
	return testWorkload(func(w *Workload) {
		w.Mode, w.ProducerRate, w.TestDurationMinutes, w.RecordCount = "queue", 0, 0, 1200
		w.ProducersPerTopic, w.ConsumerPerSubscription = 3, 2
		w.HeaderName, w.HeaderValues = "kind", []string{"a", "b", "c", "10"}
		w.SubscriptionFilters = FilterList{
			`{"headers.kind": ["a"]}`,                          // 1 of 4
			`{"headers.kind": ["a", "b", "c"]}`,                // 3 of 4
			`{"headers.kind": [{"numeric": [">=", 10]}]}`,      // 1 of 4
			`{"headers.kind": [{"anything-but": ["a", "b"]}]}`, // 2 of 4
		}
		if mut != nil {
			mut(w)
		}
	})
}

// TestRunFilteredSubscriptions: each subscription is expected to
// receive exactly the records its filter matches; the driver is given
// the filters and every record carries the header.
func TestRunFilteredSubscriptions(t *testing.T) {
	t.Parallel()
	res, d, err := runFake(t, filteredWorkload(nil), fakeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	values := map[string]int64{}
	for _, tp := range d.mu.topics {
		if !reflect.DeepEqual(tp.spec.Filters, []string(res.Workload.SubscriptionFilters)) || !tp.spec.Queue {
			t.Fatalf("topic spec %+v: want the workload's filters, in queue mode", tp.spec)
		}
		for _, r := range tp.records() {
			if r.header == nil || r.header.Name != "kind" {
				t.Fatalf("record without the kind header: %+v", r)
			}
			values[string(r.header.Value)]++
		}
	}
	// The producers share the record count, each cycling over the values
	// from its own start: about 300 of each.
	for _, n := range values {
		if n < 290 || n > 310 {
			t.Fatalf("header values %v: want about 300 of each", values)
		}
	}
	want := values["a"] + (values["a"] + values["b"] + values["c"]) + values["10"] + (values["c"] + values["10"])
	if res.Acked != 1200 || res.Received != want || res.Unreceived != 0 || res.Misdelivered != 0 {
		t.Fatalf("acked %d received %d unreceived %d misdelivered %d; want 1200, %d, 0, 0",
			res.Acked, res.Received, res.Unreceived, res.Misdelivered, want)
	}
	if res.EndToEnd.Count != want || len(res.Errors) != 0 {
		t.Fatalf("end-to-end histogram %d, errors %q", res.EndToEnd.Count, res.Errors)
	}
}

// TestRunFilterChecks: a driver that ignores the filters is caught
// (misdelivered records, not counted as received); a filter that reads
// the key is counted record by record; a filter that matches nothing is
// noted; a driver that cannot send headers is refused.
func TestRunFilterChecks(t *testing.T) {
	t.Parallel()
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		res, _, err := runFake(t, filteredWorkload(nil), fakeOptions{ignoreFilters: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Received+res.Misdelivered != 4*1200 || res.Received < 2000 || res.Received > 2200 || !containsError(res.Errors, "which its filter") {
			t.Fatalf("received %d misdelivered %d errors %q; want about 2100 received, the rest of 4800 misdelivered, and a note",
				res.Received, res.Misdelivered, res.Errors)
		}
	})
	t.Run("key", func(t *testing.T) {
		t.Parallel()
		w := filteredWorkload(func(w *Workload) {
			w.KeyDistributor = KeyRoundRobin
			w.SubscriptionFilters = FilterList{`{"key": [{"prefix": "key-00"}]}`, "", `{"headers.kind": ["zzz"]}`}
		})
		res, d, err := runFake(t, w, fakeOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var prefixed int64
		d.mu.Lock()
		for _, tp := range d.mu.topics {
			for _, r := range tp.records() {
				if strings.HasPrefix(string(r.key), "key-00") {
					prefixed++
				}
			}
		}
		d.mu.Unlock()
		if want := prefixed + 1200; prefixed == 0 || res.Received != want || res.Unreceived != 0 || !containsError(res.Errors, "sub-2: its filter") {
			t.Fatalf("received %d unreceived %d errors %q; want %d, 0 and a note on sub-2", res.Received, res.Unreceived, res.Errors, want)
		}
	})
	t.Run("no headers", func(t *testing.T) {
		t.Parallel()
		res, _, err := runFake(t, filteredWorkload(nil), fakeOptions{noHeaders: true}, nil)
		if res != nil || !errors.Is(err, ErrUnsupported) {
			t.Fatalf("got %v, %v; want ErrUnsupported", res, err)
		}
	})
}

func TestRunShortPayload(t *testing.T) {
	t.Parallel()
	res, _, err := runFake(t, testWorkload(nil), fakeOptions{shortRecord: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != res.Acked || !containsError(res.Errors, "3 bytes") {
		t.Fatalf("received %d of %d, errors %q", res.Received, res.Acked, res.Errors)
	}
}

func TestRunSetupError(t *testing.T) {
	t.Parallel()
	errCreate := errors.New("no room")
	res, _, err := runFake(t, testWorkload(nil), fakeOptions{createErr: errCreate}, nil)
	if res != nil || !errors.Is(err, errCreate) {
		t.Fatalf("got %v, %v; want no result and the create error", res, err)
	}
}

func TestRunInvalidConfig(t *testing.T) {
	t.Parallel()
	if _, err := Run(t.Context(), RunConfig{Workload: testWorkload(nil)}); !errors.Is(err, ErrInvalidRunConfig) {
		t.Fatalf("no driver: %v", err)
	}
	d := newFakeDriver(fakeOptions{})
	if _, err := Run(t.Context(), RunConfig{Driver: d}); !errors.Is(err, ErrInvalidRunConfig) {
		t.Fatalf("no workload: %v", err)
	}
	_, err := Run(t.Context(), RunConfig{Driver: d, Workload: testWorkload(func(w *Workload) { w.ProducerRate = -1 })})
	var we *WorkloadError
	if !errors.As(err, &we) || we.Field != "producerRate" {
		t.Fatalf("bad workload: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed != 2 {
		t.Fatalf("driver closed %d times, want once per Run", d.mu.closed)
	}
}

func containsError(errs []string, s string) bool {
	for _, e := range errs {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func TestRunProcesses(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("process sampling reads /proc")
	}
	res, _, err := runFake(t, testWorkload(nil), fakeOptions{}, func(c *RunConfig) {
		c.Processes = []Process{{Name: "self", PID: os.Getpid()}, {Name: "gone", PID: 1 << 30}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Processes) != 1 {
		t.Fatalf("processes %+v, want self only", res.Processes)
	}
	p := res.Processes[0]
	if p.Name != "self" || p.MaxRSS <= 0 || p.CPUSeconds < 0 || p.CPUPercent < 0 {
		t.Fatalf("self %+v", p)
	}
	if !containsError(res.Errors, "gone") {
		t.Fatalf("errors %q do not note the missing process", res.Errors)
	}
}
