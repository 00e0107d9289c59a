package natsdriver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicedb/sluice/bench"
)

// consumer reads its partitions' durables over its own connection.
type consumer struct {
	d         *Driver
	nc        *nats.Conn // nil when the consumer has no partition to read
	ccs       []jetstream.ConsumeContext
	closeOnce sync.Once

	mu struct {
		sync.Mutex
		closing bool
		err     error // the first error that stopped a partition
	}
}

// closeWait bounds how long Close waits for the partitions' callback
// goroutines to finish before closing the connection anyway.
const closeWait = 10 * time.Second

// NewConsumer implements bench.Driver. The subscription must have been
// created by CreateTopic, in the same mode (queue or stream) as c.
func (d *Driver) NewConsumer(ctx context.Context, c bench.ConsumerSpec, h bench.Handler) (bench.Consumer, error) {
	if c.Count < 1 || c.Index < 0 || c.Index >= c.Count {
		return nil, fmt.Errorf("natsdriver: consumer %d of %d: bad index", c.Index, c.Count)
	}
	if h == nil {
		return nil, errors.New("natsdriver: nil handler")
	}
	if err := checkName("subscription", c.Subscription); err != nil {
		return nil, err
	}
	n, err := d.partitions(ctx, c.Topic)
	if err != nil {
		return nil, err
	}
	if c.Partitions > 0 && c.Partitions != n {
		return nil, fmt.Errorf("natsdriver: topic %q has %d partitions, the consumer expects %d", c.Topic, n, c.Partitions)
	}
	var parts []int
	for i := range n {
		if c.Queue || i%c.Count == c.Index {
			parts = append(parts, i)
		}
	}
	if err := d.checkDurables(ctx, c, parts); err != nil {
		return nil, err
	}
	k := &consumer{d: d}
	if len(parts) > 0 {
		if err := k.start(ctx, c, parts, h); err != nil {
			return nil, err
		}
	}
	if err := d.register(k); err != nil {
		_ = k.Close()
		return nil, err
	}
	return k, nil
}

// checkDurables checks that each partition's durable exists and acks as
// the mode needs, so a wrong subscription fails here with a clear error.
func (d *Driver) checkDurables(ctx context.Context, c bench.ConsumerSpec, parts []int) error {
	for _, i := range parts {
		stream := streamName(c.Topic, i)
		cons, err := d.js.Consumer(ctx, stream, c.Subscription)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("natsdriver: subscription %q of topic %q (stream %s): %w",
				c.Subscription, c.Topic, stream, ErrNoSubscription)
		}
		if err != nil {
			return fmt.Errorf("natsdriver: consumer %s on %s: %w", c.Subscription, stream, err)
		}
		if explicit := cons.CachedInfo().Config.AckPolicy == jetstream.AckExplicitPolicy; explicit != c.Queue {
			return fmt.Errorf("natsdriver: subscription %q of topic %q was created for queue mode %v, the consumer asks for %v",
				c.Subscription, c.Topic, explicit, c.Queue)
		}
	}
	return nil
}

// start connects and consumes each of parts; on error it undoes it all.
func (k *consumer) start(ctx context.Context, c bench.ConsumerSpec, parts []int, h bench.Handler) error {
	nc, err := k.d.connect(ctx, fmt.Sprintf("consumer-%s-%s-%d", c.Topic, c.Subscription, c.Index), k.d.urls)
	if err != nil {
		return err
	}
	k.nc = nc
	js, err := jetstream.New(nc)
	if err == nil {
		for _, i := range parts {
			if err = k.consume(ctx, js, streamName(c.Topic, i), c, h); err != nil {
				break
			}
		}
	}
	if err != nil {
		_ = k.Close()
		return err
	}
	return nil
}

// consume starts reading one partition's durable.
func (k *consumer) consume(ctx context.Context, js jetstream.JetStream, stream string, c bench.ConsumerSpec, h bench.Handler) error {
	cons, err := js.Consumer(ctx, stream, c.Subscription)
	if err != nil {
		return fmt.Errorf("natsdriver: consumer %s on %s: %w", c.Subscription, stream, err)
	}
	handle := func(m jetstream.Msg) { h(m.Data()) }
	if c.Queue {
		handle = func(m jetstream.Msg) {
			h(m.Data())
			if err := m.Ack(); err != nil {
				k.fail(fmt.Errorf("natsdriver: ack on %s: %w", stream, err))
			}
		}
	}
	cc, err := cons.Consume(handle,
		jetstream.PullMaxMessages(k.d.opts.PullMaxMessages),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// nats.go recovers from missed heartbeats and pull status
			// notices by itself; these stop the partition for good.
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) ||
				errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConnectionClosed) {
				k.fail(fmt.Errorf("natsdriver: consume %s on %s: %w", c.Subscription, stream, err))
			}
		}))
	if err != nil {
		return fmt.Errorf("natsdriver: consume %s on %s: %w", c.Subscription, stream, err)
	}
	k.ccs = append(k.ccs, cc)
	return nil
}

// fail records the first error unless the consumer is closing (closing
// the connection ends every partition with an error).
func (k *consumer) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.mu.closing && k.mu.err == nil {
		k.mu.err = err
	}
}

// Close implements bench.Consumer: it stops every partition, waits until
// no handler call is running, and closes the connection. It returns the
// first error that stopped a partition early, if one did. It is
// idempotent.
func (k *consumer) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.mu.closing = true
		k.mu.Unlock()
		for _, cc := range k.ccs {
			cc.Stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		for _, cc := range k.ccs {
			select {
			case <-cc.Closed():
			case <-ctx.Done():
			}
		}
		if k.nc != nil {
			k.nc.Close()
		}
		k.d.unregister(k)
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.mu.err
}
