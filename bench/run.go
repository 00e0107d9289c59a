package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// RunConfig is one benchmark run.
type RunConfig struct {
	// Workload is what to run. Run fills the defaults of, and validates,
	// a copy; the Result holds that copy.
	Workload *Workload
	// Driver connects to the system under test. Run closes it before
	// returning, on every path.
	Driver Driver
	// Label and Target are copied to the Result.
	Label, Target string
	// Processes are local server processes whose CPU and memory Run
	// samples once per second (Linux only: elsewhere, or for a pid that
	// cannot be read, a note goes to Result.Errors).
	Processes []Process
	// Progress, when not nil, is called about once per second, always
	// from the goroutine that called Run. It must not block for long.
	Progress func(Progress)
	// DrainTimeout bounds each wait at the end of the run (0: 30 s):
	// for producers to stop, for their Flush, and for consumers to
	// receive every acknowledged record.
	DrainTimeout time.Duration
	// Seed seeds the RANDOM_NANO keys.
	Seed int64
}

// The phases of a run, as reported in Progress.Phase.
const (
	PhaseBacklog = "backlog" // producers build a backlog, then consumers drain it
	PhaseWarmup  = "warmup"  // records are sent and received but not counted
	PhaseMeasure = "measure" // the measured phase
	PhaseDrain   = "drain"   // producers stopped; waiting for acks and consumers
)

// Progress is a run's state, reported once per second.
type Progress struct {
	Phase string // one of the Phase constants
	// Elapsed is the time spent in this phase; Total is its planned
	// length, 0 when it has none (backlog; measure with only a record
	// count). Drain's Total is DrainTimeout, the bound of each of its
	// waits (see the package doc).
	Elapsed, Total time.Duration
	// Records since the run started, of every phase.
	Sent, Acked, Received, Failed int64
	// Rate is the acknowledged records/s of the last window.
	Rate float64
	// PublishP99 and EndToEndP99 are the p99 latencies in milliseconds
	// of the measured phase so far (0 before it).
	PublishP99, EndToEndP99 float64
}

const (
	// DefaultDrainTimeout is RunConfig.DrainTimeout's default.
	DefaultDrainTimeout = 30 * time.Second
	windowLength        = time.Second
	pollInterval        = 10 * time.Millisecond
	// cleanupTimeout bounds deleting the topics, also after ctx ended.
	cleanupTimeout = 10 * time.Second
	// unset is the value of measureStart and measureEnd until known:
	// after every possible time.
	unset = math.MaxInt64
)

// run is the state of one Run.
type run struct {
	cfg          RunConfig
	w            Workload // defaulted and validated
	driverName   string
	payload      []byte // the template; producers send copies
	acksNone     bool   // w.Acks == "none": no publish latency
	clk          clock
	drainTimeout time.Duration
	rec          *recorder
	errs         *errorLog
	// filt holds the subscriptions' filters; nil when the workload has
	// none (every subscription takes every record).
	filt *subFilters
	// headerVals are the values of the workload's header, if it has one.
	headerVals [][]byte
	// gate holds producers back at MaxBacklog; nil without one.
	gate *backlogGate

	// measureStart and measureEnd bound the measured phase, in unix
	// nanoseconds: a record belongs to it when its intended send time
	// is in [measureStart, measureEnd). Both are unset until known, and
	// are set before the time they name.
	measureStart, measureEnd atomic.Int64
	recordsLeft              atomic.Int64 // record-count mode: measured records still to send
	stop                     chan struct{}
	stopOnce                 sync.Once
	live                     atomic.Int64   // producer goroutines still running
	prodWG                   sync.WaitGroup // the producer goroutines

	// Owned by the goroutine running Run.
	topics         []string
	prods          []*producer
	cons           []*consumer
	started        time.Time     // when producers started; windows count from here
	nextWin        time.Time     // end of the window in progress
	windows        []Window      // Second is the window's index from started, until result
	kMeasure       int           // index of the first measured window; -1 until known
	phase          string        // for Progress
	phaseStart     time.Time     // for Progress.Elapsed
	phaseTotal     time.Duration // for Progress.Total
	lastRate       float64       // acks/s of the last window, for Progress
	topicAckedLast []int64       // each topic's acks (every phase) at the last window's end
	topicAckedPrev []int64       // and at the end of the window before it
	procs          *procSampler
	measureBegan   time.Time     // start of the measured phase, set with measureStart
	measureEnded   time.Time     // its actual end: planned, record count reached, or ctx done
	backlogDrain   time.Duration // for Result.BacklogDrainS
}

// Run runs one benchmark: it creates the workload's topics (named
// "bench-<random>-<i>", with subscriptions "sub-0".."sub-<n-1>"), its
// producers and consumers, runs the phases (backlog, warm-up, measured,
// drain; see the package doc), and returns what it measured. Rates are
// totals divided by Result.Seconds; MB is 2^20 bytes, as in the
// OpenMessaging Benchmark.
//
// Setup errors (a topic, producer or consumer the driver cannot create)
// return a nil Result; a consumer that cannot be created once a backlog
// is built ends the run with the partial Result and the error.
//
// When ctx ends during the run, Run stops promptly: it skips the flush
// and drain, closes everything, deletes the topics (bounded by a timeout
// of its own), and returns the partial Result with ctx.Err(). Records
// not received by then are counted in Unreceived but not charged to the
// end-to-end histogram.
//
// Result.Started is when producers started (after setup); Result.Errors
// holds the first few distinct send and receive errors, with counts,
// then the run's notes (timeouts, lagging subscriptions, cleanup).
//
// Run waits for every goroutine it started; a driver's Send must return
// once its ctx is done for Run to return.
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	if cfg.Driver == nil {
		return nil, fmt.Errorf("%w: no driver", ErrInvalidRunConfig)
	}
	r, err := newRun(cfg)
	if err != nil {
		if cerr := cfg.Driver.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("bench: close driver: %w", cerr))
		}
		return nil, err
	}
	return r.run(ctx)
}

// newRun checks cfg and prepares a run.
func newRun(cfg RunConfig) (*run, error) {
	if cfg.Workload == nil {
		return nil, fmt.Errorf("%w: no workload", ErrInvalidRunConfig)
	}
	w := *cfg.Workload
	w.SetDefaults()
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("bench: run: %w", err)
	}
	payload, err := w.PayloadBytes()
	if err != nil {
		return nil, fmt.Errorf("bench: run: %w", err)
	}
	w.MessageSize = len(payload)
	filt, err := newSubFilters(&w)
	if err != nil {
		return nil, fmt.Errorf("bench: run: %w", err)
	}
	r := &run{
		cfg: cfg, w: w, driverName: cfg.Driver.Name(), payload: payload, acksNone: w.Acks == "none",
		clk: realClock{}, drainTimeout: cfg.DrainTimeout,
		rec: newRecorder(), errs: newErrorLog(),
		stop: make(chan struct{}), kMeasure: -1, filt: filt, gate: newBacklogGate(w.MaxBacklog, w.Topics),
	}
	for _, v := range w.HeaderValues {
		r.headerVals = append(r.headerVals, []byte(v))
	}
	if r.drainTimeout <= 0 {
		r.drainTimeout = DefaultDrainTimeout
	}
	r.measureStart.Store(unset)
	r.measureEnd.Store(unset)
	r.recordsLeft.Store(w.RecordCount)
	return r, nil
}

// stopProducers tells every producer goroutine to stop. It may be
// called more than once, from any goroutine.
func (r *run) stopProducers() { r.stopOnce.Do(func() { close(r.stop) }) }

// stopped reports whether stopProducers was called.
func (r *run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// setup creates the topics and producers, and the consumers unless a
// backlog is to be built first.
func (r *run) setup(ctx context.Context) error {
	var id [4]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	subs := make([]string, r.w.SubscriptionsPerTopic)
	for i := range subs {
		subs[i] = fmt.Sprintf("sub-%d", i)
	}
	for i := range r.w.Topics {
		name := fmt.Sprintf("bench-%s-%d", hex.EncodeToString(id[:]), i)
		spec := TopicSpec{Name: name, Partitions: r.w.PartitionsPerTopic, Subscriptions: subs, Queue: r.w.Mode == "queue",
			Filters: r.w.SubscriptionFilters}
		if err := r.cfg.Driver.CreateTopic(ctx, spec); err != nil {
			return fmt.Errorf("bench: create topic %s: %w", name, err)
		}
		r.topics = append(r.topics, name)
	}
	opts := ProducerOptions{
		AcksNone: r.acksNone, BatchBytes: r.w.BatchBytes, Linger: time.Duration(r.w.Linger),
		Compression: r.w.Compression, MaxInFlight: r.w.MaxInFlight,
	}
	slots := min(r.w.MaxInFlight, max(1, maxInFlightBytes/len(r.payload)))
	var keySet [][]byte
	if r.w.KeyDistributor == KeyRoundRobin {
		keySet = roundRobinKeySet()
	}
	for t, name := range r.topics {
		for j := range r.w.ProducersPerTopic {
			pp, err := r.cfg.Driver.NewProducer(ctx, name, opts)
			if err != nil {
				return fmt.Errorf("bench: new producer %d of topic %s: %w", j, name, err)
			}
			var hp HeaderProducer
			if r.w.HeaderName != "" {
				var ok bool
				if hp, ok = pp.(HeaderProducer); !ok {
					_ = pp.Close()
					return fmt.Errorf("bench: headerName %q: %w (the %s driver's producers cannot send headers)",
						r.w.HeaderName, ErrUnsupported, r.driverName)
				}
			}
			i := len(r.prods)
			p := &producer{
				r: r, topic: t, p: pp, hp: hp, shard: r.rec.shard(i),
				sem: make(chan struct{}, slots), keys: newKeyGen(r.w.KeyDistributor, r.cfg.Seed, i, keySet),
			}
			if len(r.headerVals) > 0 {
				p.value = i % len(r.headerVals)
			}
			if r.filt != nil {
				p.subAcked = make([]atomic.Int64, len(subs))
				p.subAckedAll = make([]atomic.Int64, len(subs))
			}
			r.prods = append(r.prods, p)
		}
	}
	r.topicAckedLast = make([]int64, len(r.topics))
	r.topicAckedPrev = make([]int64, len(r.topics))
	if r.w.ConsumerBacklogSizeGB > 0 {
		return nil
	}
	return r.startConsumers(ctx)
}

// startConsumers starts every subscription's consumers.
func (r *run) startConsumers(ctx context.Context) error {
	for t, name := range r.topics {
		for s := range r.w.SubscriptionsPerTopic {
			for i := range r.w.ConsumerPerSubscription {
				c := &consumer{r: r, topic: t, sub: s, shard: r.rec.shard(len(r.prods) + len(r.cons))}
				spec := ConsumerSpec{
					Topic: name, Partitions: r.w.PartitionsPerTopic, Subscription: fmt.Sprintf("sub-%d", s),
					Index: i, Count: r.w.ConsumerPerSubscription, Queue: r.w.Mode == "queue",
				}
				cc, err := r.cfg.Driver.NewConsumer(ctx, spec, c.handle)
				if err != nil {
					return fmt.Errorf("bench: new consumer %d of %s/%s: %w", i, name, spec.Subscription, err)
				}
				c.c = cc
				r.cons = append(r.cons, c)
			}
		}
	}
	return nil
}

// startProducers starts one goroutine per producer, paced from
// r.started. Their intended times are staggered over one interval so
// that producers do not send in lockstep.
func (r *run) startProducers(ctx context.Context) {
	rate := r.w.ProducerRate / float64(len(r.prods))
	for i, p := range r.prods {
		start := r.started
		if rate > 0 {
			start = start.Add(time.Duration(float64(i) / float64(len(r.prods)) * float64(time.Second) / rate))
		}
		pc := newPacer(r.clk, start, rate, pacerEarly)
		r.live.Add(1)
		r.prodWG.Go(func() {
			defer r.live.Add(-1)
			p.loop(ctx, pc)
		})
	}
}

// setMeasured fixes the measured phase to start at the beginning of
// window k (which has not begun yet).
func (r *run) setMeasured(k int) {
	r.kMeasure = k
	start := r.started.Add(time.Duration(k) * windowLength)
	r.measureBegan = start
	if d := r.w.TestDuration(); d > 0 {
		r.measureEnd.Store(start.Add(d).UnixNano())
	}
	r.measureStart.Store(start.UnixNano())
}

// windowsIn returns d in whole windows, rounded up.
func windowsIn(d time.Duration) int {
	return int((d + windowLength - 1) / windowLength)
}

// setPhase starts phase, of planned length total.
func (r *run) setPhase(phase string, total time.Duration) {
	r.phase, r.phaseStart, r.phaseTotal = phase, r.clk.Now(), total
}
