package bench

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/consumergroup"
)

// errInjected is the error of the fake driver's failed sends.
var errInjected = errors.New("fake: injected failure")

// fakeOptions are the faults of a fakeDriver.
type fakeOptions struct {
	// sendBlock, when set, is how long the n-th Send (1-based, over
	// all producers) blocks before it goes on.
	sendBlock func(n int64) time.Duration
	// failEvery makes every n-th Send fail.
	failEvery int64
	// ackDelay delays every acknowledgement.
	ackDelay time.Duration
	// stall, when set, is how long subscription sub pauses before
	// delivering its n-th record (0-based, per consumer).
	stall func(sub string, n int64) time.Duration
	// neverDeliver names subscriptions whose consumers deliver nothing.
	neverDeliver map[string]bool
	// shortRecord puts a 3-byte record at the start of every topic.
	shortRecord bool
	// createErr fails CreateTopic.
	createErr error
	// ignoreFilters delivers every record to every subscription,
	// whatever its filter.
	ignoreFilters bool
	// noHeaders makes the producers plain Producers, without SendHeader.
	noHeaders bool
}

// fakeDriver is an in-memory Driver: a topic is a slice of records, and
// each consumer is a goroutine reading it, delivering the records whose
// index modulo Count is its Index.
type fakeDriver struct {
	opts  fakeOptions
	sends atomic.Int64

	mu struct {
		sync.Mutex
		topics    map[string]*fakeTopic
		deleted   []string
		closed    int
		consumers []ConsumerSpec
		// recordsAtFirstConsumer is the length of the topic when the
		// first consumer was created.
		recordsAtFirstConsumer int
		producerOpts           []ProducerOptions
	}
	maxInFlight atomic.Int64 // largest in-flight count of any producer
}

func newFakeDriver(opts fakeOptions) *fakeDriver {
	d := &fakeDriver{opts: opts}
	d.mu.topics = make(map[string]*fakeTopic)
	d.mu.recordsAtFirstConsumer = -1
	return d
}

type fakeRecord struct {
	key, payload []byte
	header       *Header
}

type fakeTopic struct {
	spec TopicSpec
	mu   sync.Mutex
	recs []fakeRecord  // protected by mu
	more chan struct{} // closed and replaced at each append; protected by mu
}

func (t *fakeTopic) append(rec fakeRecord) {
	t.mu.Lock()
	t.recs = append(t.recs, rec)
	close(t.more)
	t.more = make(chan struct{})
	t.mu.Unlock()
}

// records returns a copy of the topic's records.
func (t *fakeTopic) records() []fakeRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]fakeRecord(nil), t.recs...)
}

func (d *fakeDriver) Name() string { return "fake" }

func (d *fakeDriver) CreateTopic(ctx context.Context, spec TopicSpec) error {
	if d.opts.createErr != nil {
		return d.opts.createErr
	}
	t := &fakeTopic{spec: spec, more: make(chan struct{})}
	if d.opts.shortRecord {
		t.recs = append(t.recs, fakeRecord{payload: []byte{1, 2, 3}})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.topics[spec.Name] = t
	return nil
}

func (d *fakeDriver) topic(name string) *fakeTopic {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.topics[name]
}

func (d *fakeDriver) NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error) {
	d.mu.Lock()
	d.mu.producerOpts = append(d.mu.producerOpts, opts)
	d.mu.Unlock()
	p := &fakeProducer{d: d, t: d.topic(topic)}
	if d.opts.noHeaders {
		return plainProducer{p}, nil
	}
	return p, nil
}

// plainProducer hides fakeProducer's SendHeader.
type plainProducer struct{ p *fakeProducer }

func (p plainProducer) Send(ctx context.Context, key, payload []byte, done func(error)) {
	p.p.Send(ctx, key, payload, done)
}
func (p plainProducer) Flush(ctx context.Context) error { return p.p.Flush(ctx) }
func (p plainProducer) Close() error                    { return p.p.Close() }

// filterOf returns the filter of subscription sub of t (nil: every
// record).
func (d *fakeDriver) filterOf(t *fakeTopic, sub string) (*consumergroup.Filter, error) {
	i := slices.Index(t.spec.Subscriptions, sub)
	if d.opts.ignoreFilters || i < 0 || i >= len(t.spec.Filters) {
		return nil, nil
	}
	return consumergroup.ParseFilter(t.spec.Filters[i])
}

func (d *fakeDriver) NewConsumer(ctx context.Context, spec ConsumerSpec, h Handler) (Consumer, error) {
	t := d.topic(spec.Topic)
	d.mu.Lock()
	d.mu.consumers = append(d.mu.consumers, spec)
	if d.mu.recordsAtFirstConsumer < 0 {
		d.mu.recordsAtFirstConsumer = len(t.records())
	}
	d.mu.Unlock()
	f, err := d.filterOf(t, spec.Subscription)
	if err != nil {
		return nil, err
	}
	c := &fakeConsumer{done: make(chan struct{})}
	c.wg.Go(func() { d.deliver(t, spec, f, h, c.done) })
	return c, nil
}

// deliver is a consumer's goroutine. It delivers the records that f
// matches (every record when f is nil) whose index in the topic modulo
// Count is its Index.
func (d *fakeDriver) deliver(t *fakeTopic, spec ConsumerSpec, f *consumergroup.Filter, h Handler, done <-chan struct{}) {
	var pos, n int64
	for {
		t.mu.Lock()
		recs, more := t.recs[pos:], t.more
		t.mu.Unlock()
		if len(recs) == 0 || d.opts.neverDeliver[spec.Subscription] {
			select {
			case <-more:
				continue
			case <-done:
				return
			}
		}
		for _, rec := range recs {
			pos++
			if f != nil && !f.Match(rec.key, rec.headerOf) {
				continue
			}
			if int((pos-1)%int64(spec.Count)) != spec.Index {
				continue
			}
			if d.opts.stall != nil {
				if s := d.opts.stall(spec.Subscription, n); s > 0 {
					select {
					case <-time.After(s):
					case <-done:
						return
					}
				}
			}
			h(rec.payload)
			n++
		}
	}
}

func (d *fakeDriver) DeleteTopic(ctx context.Context, topic string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.deleted = append(d.mu.deleted, topic)
	return nil
}

func (d *fakeDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.closed++
	return nil
}

type fakeProducer struct {
	d        *fakeDriver
	t        *fakeTopic
	inFlight atomic.Int64
	acks     sync.WaitGroup // delayed acknowledgements
}

// headerOf looks up a header of the record.
func (r fakeRecord) headerOf(name string) ([]byte, bool) {
	if r.header == nil || r.header.Name != name {
		return nil, false
	}
	return r.header.Value, true
}

func (p *fakeProducer) SendHeader(ctx context.Context, key []byte, h Header, payload []byte, done func(error)) {
	p.send(ctx, fakeRecord{key: key, payload: payload, header: &h}, done)
}

func (p *fakeProducer) Send(ctx context.Context, key, payload []byte, done func(error)) {
	p.send(ctx, fakeRecord{key: key, payload: payload}, done)
}

func (p *fakeProducer) send(ctx context.Context, rec fakeRecord, done func(error)) {
	n := p.d.sends.Add(1)
	if p.d.opts.sendBlock != nil {
		if b := p.d.opts.sendBlock(n); b > 0 {
			select {
			case <-time.After(b):
			case <-ctx.Done():
				done(ctx.Err())
				return
			}
		}
	}
	if f := p.d.opts.failEvery; f > 0 && n%f == 0 {
		done(errInjected)
		return
	}
	in := p.inFlight.Add(1)
	for m := p.d.maxInFlight.Load(); in > m && !p.d.maxInFlight.CompareAndSwap(m, in); m = p.d.maxInFlight.Load() {
	}
	p.t.append(rec)
	if p.d.opts.ackDelay <= 0 {
		p.inFlight.Add(-1)
		done(nil)
		return
	}
	p.acks.Add(1)
	time.AfterFunc(p.d.opts.ackDelay, func() {
		defer p.acks.Done()
		p.inFlight.Add(-1)
		done(nil)
	})
}

func (p *fakeProducer) Flush(ctx context.Context) error {
	for p.inFlight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func (p *fakeProducer) Close() error {
	p.acks.Wait()
	return nil
}

type fakeConsumer struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func (c *fakeConsumer) Close() error {
	close(c.done)
	c.wg.Wait()
	return nil
}
