// Package sluicedriver is the benchmark driver for Sluice's native Go
// client (package client).
//
// A topic is a stream with the workload's partitions, replicated to 3
// nodes (fewer when the cluster is smaller). Acks none is refused with
// bench.ErrUnsupported: the client always waits for the quorum.
//
// In stream mode a subscription is a set of consumers that split the
// partitions between them (consumer i of n reads the partitions p with
// p mod n == i), each reading from the first offset with a Follow stream
// (the benchmark does not use consumer groups); every subscription reads
// every record.
//
// In queue mode each subscription S of topic T is a queue "T.S" over the
// stream, created by CreateTopic and deleted by DeleteTopic. With
// subscription filters each is a topic subscription (QueueConfig.Filter,
// Subscription): the server evaluates the filter, and records it
// excludes never leave it. Filters without queue mode are refused (the
// stream consumers cannot filter on the server). Every consumer of a
// subscription receives from the whole queue with its own client:
// Options.QueueReceivers goroutines loop on Receive (up to
// Options.QueueBatch messages; see Options.QueueLongPoll for what they do
// when there are none), call the handler for each message and pass the
// batch to Options.QueueAckers goroutines, which Ack it, merged with the
// batches queued behind it. Receives and acks so overlap. A message is
// acked after its handler returned, so one whose ack is lost is
// delivered again after the visibility timeout and handled twice.
//
// Records get the workload's header through the client's record headers
// (bench.HeaderProducer).
package sluicedriver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/client"
)

// Name is the driver's name.
const Name = "sluice"

// Options tune the driver.
type Options struct {
	// ReplicationFactor of the benchmark's streams; 0 means 3, or the
	// number of nodes when the cluster is smaller.
	ReplicationFactor int
	// LeaderWait bounds how long CreateTopic waits for every partition to
	// be led by its preferred leader (0: 30 s). A stream's partitions
	// elect their leaders in the first seconds after creation and then
	// hand leadership to the preferred node; a run that started earlier
	// would measure that.
	LeaderWait time.Duration

	// Queue mode (bench.TopicSpec.Queue).

	// QueueBatch is the most messages one Receive asks for (0: 1000, the
	// client's limit).
	QueueBatch int
	// QueueLongPoll, when > 0, makes a Receive that finds nothing wait
	// (long poll) up to this long for a message (at most
	// client.MaxReceiveWait). By default (0) Receive does not wait: a
	// receiver that got nothing pauses, from 1 ms doubling up to
	// QueuePollMax, and asks again. A long poll asks every partition at
	// once and cancels the rest a few milliseconds after one answers; on
	// a loaded machine a cancelled poll may still lose an answer, whose
	// messages then wait for their visibility timeout, which a benchmark
	// would show as records received late.
	QueueLongPoll time.Duration
	// QueuePollMax bounds the pause of a receiver that got nothing,
	// without long polls (0: 20 ms).
	QueuePollMax time.Duration
	// QueueReceivers and QueueAckers are the Receive and Ack calls each
	// consumer keeps in flight (0: 2 each).
	QueueReceivers, QueueAckers int
	// VisibilityTimeout of the queues CreateTopic creates (0: the
	// server's default, 30 s): a message whose ack is lost is delivered
	// again after it.
	VisibilityTimeout time.Duration
}

// Driver runs benchmarks against a Sluice cluster.
type Driver struct {
	cl      *client.Client
	servers []string
	opts    Options
}

var _ bench.Driver = (*Driver)(nil)

// New connects to the cluster at servers.
func New(ctx context.Context, servers []string, opts Options) (*Driver, error) {
	if len(servers) == 0 {
		return nil, errors.New("sluicedriver: no server address")
	}
	if opts.ReplicationFactor < 0 {
		return nil, fmt.Errorf("sluicedriver: replication factor %d: want >= 0", opts.ReplicationFactor)
	}
	if opts.QueueBatch < 0 || opts.QueueBatch > client.MaxReceiveMessages || opts.QueueLongPoll < 0 ||
		opts.QueueLongPoll > client.MaxReceiveWait || opts.QueuePollMax < 0 || opts.QueueReceivers < 0 || opts.QueueAckers < 0 ||
		opts.VisibilityTimeout < 0 {
		return nil, fmt.Errorf("sluicedriver: queue options %+v: want batch 0-%d, long poll 0-%v, the others >= 0",
			opts, client.MaxReceiveMessages, client.MaxReceiveWait)
	}
	if opts.LeaderWait <= 0 {
		opts.LeaderWait = 30 * time.Second
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.QueueBatch, defaultQueueBatch)
	def(&opts.QueueReceivers, defaultQueueReceivers)
	def(&opts.QueueAckers, defaultQueueAckers)
	if opts.QueuePollMax == 0 {
		opts.QueuePollMax = defaultQueuePollMax
	}
	cl, err := client.New(ctx, client.Config{Servers: servers})
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	d := &Driver{cl: cl, servers: slices.Clone(servers), opts: opts}
	if d.opts.ReplicationFactor == 0 {
		info, err := cl.Cluster(ctx)
		if err != nil {
			_ = cl.Close()
			return nil, fmt.Errorf("sluicedriver: %w", err)
		}
		active := 0
		for _, n := range info.Nodes {
			if n.State == "active" {
				active++
			}
		}
		d.opts.ReplicationFactor = min(3, max(active, 1))
	}
	return d, nil
}

// Name implements bench.Driver.
func (d *Driver) Name() string { return Name }

// CreateTopic creates the stream and waits until each partition is led by
// its preferred leader. In stream mode subscriptions need nothing on the
// server; in queue mode each is a queue over the stream, created before
// any record is sent (a queue starts at the stream's log start anyway).
// Filters need queue mode: a filtered subscription is a queue whose
// filter the server applies.
func (d *Driver) CreateTopic(ctx context.Context, t bench.TopicSpec) error {
	if slices.ContainsFunc(t.Filters, func(f string) bool { return f != "" }) && !t.Queue {
		return fmt.Errorf("sluicedriver: subscription filters in mode stream: %w "+
			"(a filtered subscription is a queue, filtered on the server: use mode queue)", bench.ErrUnsupported)
	}
	if len(t.Filters) > 0 && len(t.Filters) != len(t.Subscriptions) {
		return fmt.Errorf("sluicedriver: topic %q: %d filters for %d subscriptions", t.Name, len(t.Filters), len(t.Subscriptions))
	}
	_, err := d.cl.CreateStream(ctx, client.StreamConfig{
		Name: t.Name, Partitions: t.Partitions, ReplicationFactor: d.opts.ReplicationFactor,
	})
	if err != nil {
		return fmt.Errorf("sluicedriver: create stream %q: %w", t.Name, err)
	}
	if err := d.waitLeaders(ctx, t.Name); err != nil {
		return err
	}
	if !t.Queue {
		return nil
	}
	if err := d.createQueues(ctx, t); err != nil {
		// Leave nothing behind: the run deletes only the topics it made.
		if derr := d.DeleteTopic(context.WithoutCancel(ctx), t.Name); derr != nil {
			err = errors.Join(err, derr)
		}
		return err
	}
	return nil
}

// waitLeaders waits until every partition of stream has its preferred
// leader (the first replica), or LeaderWait passes; then it is content
// with any leader.
func (d *Driver) waitLeaders(ctx context.Context, stream string) error {
	deadline := time.Now().Add(d.opts.LeaderWait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := d.cl.DescribeStream(ctx, stream)
		if err == nil {
			preferred, led := true, true
			for _, p := range info.Partitions {
				led = led && p.LeaderID != ""
				preferred = preferred && len(p.Replicas) > 0 && p.LeaderID == p.Replicas[0]
			}
			if preferred || (led && time.Now().After(deadline)) {
				return nil
			}
		}
		if time.Now().After(deadline.Add(d.opts.LeaderWait)) {
			return fmt.Errorf("sluicedriver: stream %q: partitions without a leader after %s (last error: %v)",
				stream, 2*d.opts.LeaderWait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// DeleteTopic deletes the queues over the topic's stream, then the
// stream.
func (d *Driver) DeleteTopic(ctx context.Context, topic string) error {
	if err := d.deleteQueues(ctx, topic); err != nil {
		return err
	}
	if err := d.cl.DeleteStream(ctx, topic); err != nil {
		return fmt.Errorf("sluicedriver: delete stream %q: %w", topic, err)
	}
	return nil
}

// Close implements bench.Driver.
func (d *Driver) Close() error { return d.cl.Close() }

// compressions maps workload names to the client's codecs.
var compressions = map[string]client.Compression{
	"": client.CompressionNone, "none": client.CompressionNone, "gzip": client.CompressionGzip,
	"snappy": client.CompressionSnappy, "lz4": client.CompressionLZ4, "zstd": client.CompressionZstd,
}

// NewProducer implements bench.Driver.
func (d *Driver) NewProducer(ctx context.Context, topic string, o bench.ProducerOptions) (bench.Producer, error) {
	if o.AcksNone {
		return nil, fmt.Errorf("sluicedriver: acks none: %w (the Go client always waits for the quorum)", bench.ErrUnsupported)
	}
	comp, ok := compressions[strings.ToLower(o.Compression)]
	if !ok {
		return nil, fmt.Errorf("sluicedriver: compression %q: %w", o.Compression, bench.ErrUnsupported)
	}
	if _, err := d.cl.DescribeStream(ctx, topic); err != nil {
		return nil, fmt.Errorf("sluicedriver: producer for %q: %w", topic, err)
	}
	p, err := d.cl.NewProducer(client.ProducerConfig{
		Linger: o.Linger, BatchBytes: o.BatchBytes, Compression: comp,
	})
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	return &producer{p: p, topic: topic}, nil
}

var _ bench.HeaderProducer = (*producer)(nil)

type producer struct {
	p     *client.Producer
	topic string
}

func (p *producer) Send(ctx context.Context, key, payload []byte, done func(error)) {
	p.p.Produce(ctx, client.NewRecord(p.topic, key, payload), func(_ client.RecordResult, err error) { done(err) })
}

// SendHeader implements bench.HeaderProducer.
func (p *producer) SendHeader(ctx context.Context, key []byte, h bench.Header, payload []byte, done func(error)) {
	rec := client.NewRecord(p.topic, key, payload)
	rec.Headers = []client.Header{{Key: h.Name, Value: h.Value}}
	p.p.Produce(ctx, rec, func(_ client.RecordResult, err error) { done(err) })
}

func (p *producer) Flush(ctx context.Context) error { return p.p.Flush(ctx) }

func (p *producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.p.Close(ctx)
}

// NewConsumer implements bench.Driver.
func (d *Driver) NewConsumer(ctx context.Context, c bench.ConsumerSpec, h bench.Handler) (bench.Consumer, error) {
	if c.Count < 1 || c.Index < 0 || c.Index >= c.Count {
		return nil, fmt.Errorf("sluicedriver: consumer %d of %d: bad index", c.Index, c.Count)
	}
	if c.Queue {
		return d.newQueueConsumer(ctx, c, h)
	}
	info, err := d.cl.DescribeStream(ctx, c.Topic)
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: consumer of %q: %w", c.Topic, err)
	}
	var parts []int32
	for _, p := range info.Partitions {
		if int(p.Partition)%c.Count == c.Index {
			parts = append(parts, p.Partition)
		}
	}
	k, err := d.cl.NewConsumer(client.ConsumerConfig{Follow: true})
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	if len(parts) > 0 {
		if err := k.Assign(ctx, c.Topic, parts, client.Earliest()); err != nil {
			_ = k.Close()
			return nil, fmt.Errorf("sluicedriver: assign %q %v: %w", c.Topic, parts, err)
		}
	}
	kc := &consumer{k: k, idle: len(parts) == 0}
	runCtx, cancel := context.WithCancel(context.Background())
	kc.cancel = cancel
	kc.wg.Add(1)
	go kc.run(runCtx, h)
	return kc, nil
}

type consumer struct {
	k      *client.Consumer
	idle   bool // no partition to read (more consumers than partitions)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func (c *consumer) run(ctx context.Context, h bench.Handler) {
	defer c.wg.Done()
	if c.idle {
		<-ctx.Done()
		return
	}
	for {
		recs, err := c.k.Poll(ctx)
		for i := range recs {
			h(recs[i].Value)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, client.ErrClosed) {
			return
		}
		// A partition stopped (it is no longer assigned; the run will
		// count its records as unreceived); the others go on.
		if c.err == nil {
			c.err = err
		}
		if errors.Is(err, client.ErrInvalidArgument) {
			return // nothing left assigned
		}
	}
}

// Close stops the consumer; it returns the error that stopped it early,
// if one did.
func (c *consumer) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		if err := c.k.Close(); err != nil && c.err == nil {
			c.err = err
		}
	})
	return c.err
}
