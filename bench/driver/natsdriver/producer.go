package natsdriver

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicedb/sluice/bench"
)

// defaultMaxInFlight is MaxInFlight when the workload leaves it at 0.
const defaultMaxInFlight = 10000

// publishMode is how a producer publishes.
type publishMode int

const (
	publishAsync publishMode = iota // PublishMsgAsync, done on the ack
	publishSync                     // Publish, one record at a time
	publishCore                     // core NATS publish, no ack (acks none)
)

// pubConn is one of a producer's connections, with its own JetStream
// context (and so its own ack subscription).
type pubConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// producer sends to one topic's partition streams.
type producer struct {
	d        *Driver
	mode     publishMode
	subjects []string // index: partition
	// conns are the producer's connections: one, or one per partition
	// leader with Options.LeaderConnections. route maps a partition to
	// the index of the connection it publishes through.
	conns []pubConn
	route []int
	next  atomic.Uint64
	// slots bounds the asynchronous records in flight: Send puts a token
	// before publishing and finish takes it back after calling done.
	slots chan struct{}
	// syncMu serialises synchronous publishes, so MaxInFlight 1 holds
	// even if Send is called from several goroutines.
	syncMu    sync.Mutex
	closeOnce sync.Once
	closeErr  error

	mu struct {
		sync.Mutex
		closed bool
		// pending maps each asynchronous record's message (the pointer
		// nats.go hands back in the ack callbacks) to its done.
		pending map[*nats.Msg]func(error)
		// inflight counts records sent whose done has not returned yet;
		// idle, when not nil, is closed (and cleared) when it drops to 0.
		inflight int
		idle     chan struct{}
	}
}

// NewProducer implements bench.Driver. The topic must exist.
func (d *Driver) NewProducer(ctx context.Context, topic string, o bench.ProducerOptions) (bench.Producer, error) {
	if c := strings.ToLower(o.Compression); c != "" && c != "none" {
		return nil, fmt.Errorf("natsdriver: compression %q: %w (NATS client publishes are not compressed; "+
			"JetStream stream compression is a storage setting)", o.Compression, bench.ErrUnsupported)
	}
	if o.MaxInFlight < 0 {
		return nil, fmt.Errorf("natsdriver: MaxInFlight %d: want >= 0", o.MaxInFlight)
	}
	n, err := d.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	p := &producer{d: d, subjects: make([]string, n), route: make([]int, n)}
	for i := range n {
		p.subjects[i] = subject(topic, i)
	}
	p.mu.pending = make(map[*nats.Msg]func(error))
	maxInFlight := o.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = defaultMaxInFlight
	}
	switch {
	case o.AcksNone:
		p.mode = publishCore
	case maxInFlight == 1:
		p.mode = publishSync
	default:
		p.mode = publishAsync
		p.slots = make(chan struct{}, maxInFlight)
	}
	urls := []string{d.urls}
	var extra []nats.Option
	if d.opts.LeaderConnections {
		if urls, p.route, err = d.leaderRoutes(ctx, topic, n); err != nil {
			return nil, err
		}
		extra = append(extra, nats.DontRandomize())
	}
	for _, u := range urls {
		if err := p.dial(ctx, "producer-"+topic, u, maxInFlight, extra); err != nil {
			p.closeConns()
			return nil, err
		}
	}
	if err := d.register(p); err != nil {
		p.closeConns()
		return nil, err
	}
	return p, nil
}

// dial adds a connection to urls.
func (p *producer) dial(ctx context.Context, role, urls string, maxInFlight int, extra []nats.Option) error {
	nc, err := p.d.connect(ctx, role, urls, extra...)
	if err != nil {
		return err
	}
	// The async cap equals slots, so nats.go never stalls a publish: a
	// slot is freed only after nats.go has dropped the record's future.
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxInFlight),
		jetstream.WithPublishAsyncTimeout(p.d.opts.PublishTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			p.finish(m, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			p.finish(m, err)
		}),
	)
	if err != nil {
		nc.Close()
		return fmt.Errorf("natsdriver: %w", err)
	}
	p.conns = append(p.conns, pubConn{nc: nc, js: js})
	return nil
}

func (p *producer) closeConns() {
	for _, c := range p.conns {
		c.nc.Close()
	}
}

// partition picks the record's partition: FNV-1a of the key, or the next
// in turn without one.
func (p *producer) partition(key []byte) int {
	if key == nil {
		return int((p.next.Add(1) - 1) % uint64(len(p.subjects)))
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(len(p.subjects)))
}

// Send implements bench.Producer. It blocks while MaxInFlight records
// await their acknowledgement (or, with MaxInFlight 1, until this one is
// acknowledged). payload must not change until done is called: nats.go
// resends it when no stream leader answered.
func (p *producer) Send(ctx context.Context, key, payload []byte, done func(error)) {
	i := p.partition(key)
	m := &nats.Msg{Subject: p.subjects[i], Data: payload}
	c := p.conns[p.route[i]]
	switch p.mode {
	case publishCore:
		if err := c.nc.PublishMsg(m); err != nil {
			done(fmt.Errorf("natsdriver: publish to %s: %w", m.Subject, err))
			return
		}
		done(nil)
	case publishSync:
		p.syncMu.Lock()
		_, err := c.js.PublishMsg(ctx, m)
		p.syncMu.Unlock()
		if err != nil {
			err = fmt.Errorf("natsdriver: publish to %s: %w", m.Subject, err)
		}
		done(err)
	default:
		p.sendAsync(ctx, c.js, m, done)
	}
}

func (p *producer) sendAsync(ctx context.Context, js jetstream.JetStream, m *nats.Msg, done func(error)) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		done(fmt.Errorf("natsdriver: publish to %s: %w", m.Subject, ctx.Err()))
		return
	}
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		<-p.slots
		done(fmt.Errorf("natsdriver: publish to %s: %w", m.Subject, ErrClosed))
		return
	}
	// Registered before publishing: the ack may arrive before
	// PublishMsgAsync returns.
	p.mu.pending[m] = done
	p.mu.inflight++
	p.mu.Unlock()
	if _, err := js.PublishMsgAsync(m); err != nil {
		p.finish(m, err)
	}
}

// finish calls the done of m's record, once: the ack, an error callback,
// a failed publish or Close may each try.
func (p *producer) finish(m *nats.Msg, err error) {
	p.mu.Lock()
	done, ok := p.mu.pending[m]
	delete(p.mu.pending, m)
	p.mu.Unlock()
	if !ok {
		return
	}
	if err != nil {
		err = fmt.Errorf("natsdriver: publish to %s: %w", m.Subject, err)
	}
	done(err)
	p.mu.Lock()
	p.mu.inflight--
	if p.mu.inflight == 0 && p.mu.idle != nil {
		close(p.mu.idle)
		p.mu.idle = nil
	}
	p.mu.Unlock()
	<-p.slots
}

// Flush implements bench.Producer: it waits until no record is in flight
// (for acks none, until the servers have read every record sent).
func (p *producer) Flush(ctx context.Context) error {
	switch p.mode {
	case publishCore:
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, p.d.opts.PublishTimeout)
			defer cancel()
		}
		for _, c := range p.conns {
			if err := c.nc.FlushWithContext(ctx); err != nil {
				return fmt.Errorf("natsdriver: flush: %w", err)
			}
		}
		return nil
	case publishSync:
		return nil // Send returns only after done.
	}
	p.mu.Lock()
	if p.mu.inflight == 0 {
		p.mu.Unlock()
		return nil
	}
	if p.mu.idle == nil {
		p.mu.idle = make(chan struct{})
	}
	idle := p.mu.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsdriver: flush: %w", ctx.Err())
	}
}

// Close implements bench.Producer: it waits (up to the publish timeout)
// for the records in flight, closes the connections, and fails with
// ErrClosed any record still unacknowledged. It is idempotent.
func (p *producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.mu.closed = true
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), p.d.opts.PublishTimeout+5*time.Second)
		p.closeErr = p.Flush(ctx)
		cancel()
		p.closeConns()
		p.mu.Lock()
		var left []*nats.Msg
		for m := range p.mu.pending {
			left = append(left, m)
		}
		p.mu.Unlock()
		for _, m := range left {
			p.finish(m, ErrClosed)
		}
		p.d.unregister(p)
	})
	return p.closeErr
}
