package natsdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicedb/sluice/bench"
)

// Name is the driver's name.
const Name = "nats-jetstream"

// Options tune the driver. The zero value is the benchmark's default.
type Options struct {
	// Replicas of each partition stream (0: 3, or the number of servers
	// the client knows of when fewer).
	Replicas int
	// ConsumerReplicas of each durable consumer (0: the stream's).
	ConsumerReplicas int
	// MaxBytes caps each partition stream (0: no limit).
	MaxBytes int64
	// MaxAckPending bounds a queue-mode durable's records delivered and
	// not yet acked (0: 10000).
	MaxAckPending int
	// PullMaxMessages is how many records a consumer keeps requested per
	// partition (0: 1000); a new pull is sent when half are consumed.
	PullMaxMessages int
	// PublishTimeout fails an asynchronous publish whose acknowledgement
	// has not arrived in this time (0: 30 s).
	PublishTimeout time.Duration
	// ConnectTimeout bounds each connection attempt (0: 5 s, or less when
	// the context's deadline is sooner).
	ConnectTimeout time.Duration
	// LeaderConnections makes a producer connect to the server leading
	// each partition stream (one connection per distinct leader, chosen
	// when the producer is created), as a Kafka or Sluice client sends to
	// the partition leader. By default a producer has one connection to a
	// random server, as NATS clients usually do, and JetStream forwards a
	// publish to the stream leader when that server does not lead it,
	// which costs an extra hop each way.
	LeaderConnections bool
}

// Driver runs benchmarks against a JetStream cluster.
type Driver struct {
	urls string // comma-separated, as nats.Connect takes them
	opts Options
	nc   *nats.Conn
	js   jetstream.JetStream

	// leaders maps server names to URLs for Options.LeaderConnections;
	// see serverURLs.
	leaders struct {
		sync.Mutex
		urls map[string]string // Protected by the mutex.
	}

	mu struct {
		sync.Mutex
		closed bool
		// open holds the producers and consumers not closed yet, which
		// Close closes.
		open map[io.Closer]struct{}
	}
}

var _ bench.Driver = (*Driver)(nil)

// New connects to the JetStream cluster at urls (nats://host:port).
func New(ctx context.Context, urls []string, opts Options) (*Driver, error) {
	if len(urls) == 0 {
		return nil, errors.New("natsdriver: no server URL")
	}
	if opts.Replicas < 0 || opts.ConsumerReplicas < 0 || opts.MaxBytes < 0 || opts.MaxAckPending < 0 ||
		opts.PullMaxMessages < 0 || opts.PublishTimeout < 0 || opts.ConnectTimeout < 0 {
		return nil, fmt.Errorf("natsdriver: negative option in %+v", opts)
	}
	if opts.MaxAckPending == 0 {
		opts.MaxAckPending = 10000
	}
	if opts.PullMaxMessages == 0 {
		opts.PullMaxMessages = 1000
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = 30 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	d := &Driver{urls: strings.Join(urls, ","), opts: opts}
	d.mu.open = make(map[io.Closer]struct{})
	nc, err := d.connect(ctx, "admin", d.urls)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsdriver: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsdriver: JetStream at %s: %w", d.urls, err)
	}
	d.nc, d.js = nc, js
	if d.opts.Replicas == 0 {
		// The pool holds the given URLs and those the servers advertised
		// in their first INFO, so it counts the cluster's nodes.
		d.opts.Replicas = min(3, max(1, len(nc.Servers())))
	}
	return d, nil
}

// connect opens a connection named for its role to one of urls (comma
// separated), within ctx's deadline.
func (d *Driver) connect(ctx context.Context, role, urls string, extra ...nats.Option) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natsdriver: connect: %w", err)
	}
	timeout := d.opts.ConnectTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	opts := append([]nats.Option{
		nats.Name("sluice-bench-" + role),
		nats.Timeout(timeout),
		nats.NoCallbacksAfterClientClose(),
	}, extra...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsdriver: connect to %s: %w", urls, err)
	}
	return nc, nil
}

// Name implements bench.Driver.
func (d *Driver) Name() string { return Name }

// streamName and subject map partition i of topic to JetStream.
func streamName(topic string, i int) string { return fmt.Sprintf("%s-p%d", topic, i) }
func subject(topic string, i int) string    { return fmt.Sprintf("%s.%d", topic, i) }

// checkName rejects names that cannot be part of a stream, subject or
// consumer name.
func checkName(kind, name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return fmt.Errorf("%w: %s %q (want 1-200 characters, none of . * > / \\ or space)", ErrBadName, kind, name)
	}
	return nil
}

// CreateTopic creates the topic's partition streams and, on each, one
// durable consumer per subscription. It is idempotent for an identical
// spec; a topic that exists with another configuration is an error.
func (d *Driver) CreateTopic(ctx context.Context, t bench.TopicSpec) error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	if err := checkName("topic", t.Name); err != nil {
		return err
	}
	if t.Partitions < 1 {
		return fmt.Errorf("natsdriver: topic %q: %d partitions, want >= 1", t.Name, t.Partitions)
	}
	for _, f := range t.Filters {
		if f != "" {
			return fmt.Errorf("natsdriver: subscription filter %s: %w (JetStream filters by subject, not by header "+
				"or key; this driver does not map filters to subjects)", f, bench.ErrUnsupported)
		}
	}
	for _, s := range t.Subscriptions {
		if err := checkName("subscription", s); err != nil {
			return err
		}
	}
	for i := range t.Partitions {
		sc := jetstream.StreamConfig{
			Name:     streamName(t.Name, i),
			Subjects: []string{subject(t.Name, i)},
			Replicas: d.opts.Replicas,
			Storage:  jetstream.FileStorage,
		}
		if d.opts.MaxBytes > 0 {
			sc.MaxBytes = d.opts.MaxBytes
		}
		if _, err := d.js.CreateStream(ctx, sc); err != nil {
			return fmt.Errorf("natsdriver: create stream %s (R%d): %w", sc.Name, sc.Replicas, err)
		}
		for _, s := range t.Subscriptions {
			cc := jetstream.ConsumerConfig{
				Durable:       s,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckNonePolicy,
				Replicas:      d.opts.ConsumerReplicas,
			}
			if t.Queue {
				cc.AckPolicy = jetstream.AckExplicitPolicy
				cc.MaxAckPending = d.opts.MaxAckPending
			}
			if _, err := d.js.CreateConsumer(ctx, sc.Name, cc); err != nil {
				return fmt.Errorf("natsdriver: create consumer %s on %s: %w", s, sc.Name, err)
			}
		}
	}
	return nil
}

// partitions returns the number of partition streams of topic: the
// streams named topic-p<i> that listen on topic.<i>, which must be
// numbered 0 to n-1.
func (d *Driver) partitions(ctx context.Context, topic string) (int, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	if err := checkName("topic", topic); err != nil {
		return 0, err
	}
	names := d.js.StreamNames(ctx, jetstream.WithStreamListSubject(topic+".*"))
	found := map[string]bool{}
	for name := range names.Name() {
		found[name] = true
	}
	if err := names.Err(); err != nil {
		return 0, fmt.Errorf("natsdriver: list streams of %q: %w", topic, err)
	}
	n := 0
	for found[streamName(topic, n)] {
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("natsdriver: topic %q: %w", topic, ErrNoTopic)
	}
	for name := range found {
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, topic+"-p"), "%d", &i); err == nil && i >= n &&
			name == streamName(topic, i) {
			return 0, fmt.Errorf("natsdriver: topic %q: stream %s exists but %s does not", topic, name, streamName(topic, n))
		}
	}
	return n, nil
}

// DeleteTopic deletes the topic's partition streams, and with them their
// consumers. A topic with no partition stream is ErrNoTopic.
func (d *Driver) DeleteTopic(ctx context.Context, topic string) error {
	n, err := d.partitions(ctx, topic)
	if err != nil {
		return err
	}
	for i := range n {
		if err := d.js.DeleteStream(ctx, streamName(topic, i)); err != nil {
			return fmt.Errorf("natsdriver: delete stream %s: %w", streamName(topic, i), err)
		}
	}
	return nil
}

// checkOpen returns ErrClosed once Close was called.
func (d *Driver) checkOpen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return ErrClosed
	}
	return nil
}

// register records an open producer or consumer, or returns ErrClosed if
// the driver is closed.
func (d *Driver) register(c io.Closer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return ErrClosed
	}
	d.mu.open[c] = struct{}{}
	return nil
}

// unregister forgets a closed producer or consumer.
func (d *Driver) unregister(c io.Closer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.mu.open, c)
}

// Close closes the producers and consumers still open and the driver's
// connection. It is idempotent and returns the first error.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return nil
	}
	d.mu.closed = true
	open := make([]io.Closer, 0, len(d.mu.open))
	for c := range d.mu.open {
		open = append(open, c)
	}
	d.mu.Unlock()
	var errs []error
	for _, c := range open {
		errs = append(errs, c.Close())
	}
	d.nc.Close()
	return errors.Join(errs...)
}
