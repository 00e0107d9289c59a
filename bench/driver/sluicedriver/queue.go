package sluicedriver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/client"
)

// Defaults of the queue-mode Options.
const (
	defaultQueueBatch     = 1000
	defaultQueuePollMax   = 20 * time.Millisecond
	defaultQueueReceivers = 2
	defaultQueueAckers    = 2
	// ackDrainTimeout bounds the acks a closing consumer still sends
	// for the messages it handled.
	ackDrainTimeout = 30 * time.Second
	// maxAckBatch bounds the messages of one Ack: a request per
	// partition, each of at most 1000 receipts (the server's limit).
	maxAckBatch = 4000
)

// queueName is the queue of subscription sub of topic.
func queueName(topic, sub string) string { return topic + "." + sub }

// createQueues creates one queue per subscription of t over its stream;
// with filters, each is a subscription with its filter.
func (d *Driver) createQueues(ctx context.Context, t bench.TopicSpec) error {
	for i, sub := range t.Subscriptions {
		cfg := client.QueueConfig{Name: queueName(t.Name, sub), Stream: t.Name, VisibilityTimeout: d.opts.VisibilityTimeout}
		if len(t.Filters) > 0 {
			cfg.Subscription = true
			if i < len(t.Filters) {
				cfg.Filter = t.Filters[i]
			}
		}
		if _, err := d.cl.CreateQueue(ctx, cfg); err != nil {
			return fmt.Errorf("sluicedriver: create queue %q on %q: %w", cfg.Name, t.Name, err)
		}
	}
	for _, sub := range t.Subscriptions {
		if err := d.waitQueue(ctx, queueName(t.Name, sub)); err != nil {
			return err
		}
	}
	return nil
}

// waitQueue waits until the leader of every partition of the queue's
// stream knows the queue (it answers with the queue's state there), so
// that the first receives do not fail while the definition reaches the
// nodes; after LeaderWait it gives up waiting (consumers retry).
func (d *Driver) waitQueue(ctx context.Context, queue string) error {
	deadline := time.Now().Add(d.opts.LeaderWait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := d.cl.DescribeQueue(ctx, queue)
		if err == nil && len(info.Partitions) > 0 &&
			!slices.ContainsFunc(info.Partitions, func(p client.QueuePartitionStats) bool { return p.Floor < 0 }) {
			return nil
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// deleteQueues deletes every queue over stream (a stream a queue views
// cannot be deleted).
func (d *Driver) deleteQueues(ctx context.Context, stream string) error {
	qs, err := d.cl.ListQueues(ctx)
	if err != nil {
		return fmt.Errorf("sluicedriver: list queues: %w", err)
	}
	for _, q := range qs {
		if q.Stream != stream {
			continue
		}
		if err := d.cl.DeleteQueue(ctx, q.Name); err != nil && !errors.Is(err, client.ErrUnknownQueue) {
			return fmt.Errorf("sluicedriver: delete queue %q: %w", q.Name, err)
		}
	}
	return nil
}

// newQueueConsumer starts a consumer of the queue of subscription
// c.Subscription: every consumer of it receives from the whole queue,
// which shares the messages among them. It has its own client (its own
// connections), as a separate process would.
func (d *Driver) newQueueConsumer(ctx context.Context, c bench.ConsumerSpec, h bench.Handler) (bench.Consumer, error) {
	queue := queueName(c.Topic, c.Subscription)
	cl, err := client.New(ctx, client.Config{Servers: d.servers})
	if err != nil {
		return nil, fmt.Errorf("sluicedriver: %w", err)
	}
	if _, err := cl.DescribeQueue(ctx, queue); err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("sluicedriver: consumer of queue %q: %w", queue, err)
	}
	q := &queueConsumer{
		cl: cl, queue: queue, h: h, opts: d.opts,
		acks: make(chan []client.QueueMessage, d.opts.QueueReceivers+d.opts.QueueAckers),
	}
	runCtx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	ackCtx, ackCancel := context.WithCancel(context.Background())
	q.ackCancel = ackCancel
	for range d.opts.QueueReceivers {
		q.recvWG.Go(func() { q.receive(runCtx) })
	}
	for range d.opts.QueueAckers {
		q.ackWG.Go(func() { q.ack(ackCtx) })
	}
	return q, nil
}

// queueConsumer is one consumer of a queue: QueueReceivers goroutines
// loop on Receive, call the handler for each message and hand the batch
// to QueueAckers goroutines, which Ack it (merging the batches waiting).
// So receives and acks overlap, and a consumer keeps several of each in
// flight. A message is acknowledged after its handler returned: one whose
// ack fails is delivered again once its lease ends, and handled twice.
//
// Close stops the receivers (cancelling their receives), then lets the
// ackers ack what was handled, for up to ackDrainTimeout.
type queueConsumer struct {
	cl    *client.Client
	queue string
	h     bench.Handler
	opts  Options
	// acks carries handled batches from the receivers to the ackers;
	// closed once every receiver has returned.
	acks chan []client.QueueMessage

	cancel                context.CancelFunc // stops the receivers
	ackCancel             context.CancelFunc // stops the ackers' Acks
	recvWG, ackWG         sync.WaitGroup
	received, acked       atomic.Int64 // messages handled; messages acknowledged
	ackFailed, recvFailed atomic.Int64 // messages whose ack failed; receives that failed

	mu struct {
		sync.Mutex
		firstAckErr, firstRecvErr error // Protected by mu.
	}
	once     sync.Once
	closeErr error
}

// receive is a receiver goroutine.
func (q *queueConsumer) receive(ctx context.Context) {
	var pause time.Duration // without long polls: after a receive that got nothing
	for {
		msgs, err := q.cl.Receive(ctx, q.queue, q.opts.QueueBatch, q.opts.QueueLongPoll)
		if q.opts.QueueLongPoll == 0 && err == nil {
			if len(msgs) > 0 {
				pause = 0
			} else {
				pause = min(max(2*pause, time.Millisecond), q.opts.QueuePollMax)
				if !sleepCtx(ctx, pause) {
					return
				}
				continue
			}
		}
		// Receive returns the messages it leased even as ctx ends: they
		// are handled and acked, not left to their lease's end.
		if len(msgs) > 0 {
			for i := range msgs {
				q.h(msgs[i].Value)
			}
			q.received.Add(int64(len(msgs)))
			q.acks <- msgs // never closed while a receiver runs
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			continue
		case errors.Is(err, client.ErrClosed):
			return
		}
		// A failed receive (a leader moving, a node down) is retried
		// after a pause; the run counts what it cost as latency.
		q.recvFailed.Add(1)
		q.mu.Lock()
		if q.mu.firstRecvErr == nil {
			q.mu.firstRecvErr = err
		}
		q.mu.Unlock()
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// sleepCtx waits for d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ack is an acker goroutine: it acks each batch handed over, with the
// batches waiting behind it (up to maxAckBatch messages), until acks is
// closed and drained.
func (q *queueConsumer) ack(ctx context.Context) {
	for batch := range q.acks {
		merged := batch
	more:
		for len(merged) < maxAckBatch {
			select {
			case b, ok := <-q.acks:
				if !ok {
					break more
				}
				merged = append(merged, b...)
			default:
				break more
			}
		}
		err := q.cl.Ack(ctx, merged...)
		failed := 0
		if err != nil {
			// Ack's error wraps one *MessageError per failed message.
			failed = len(merged)
			if u, ok := err.(interface{ Unwrap() []error }); ok {
				failed = min(len(u.Unwrap()), len(merged))
			}
			q.ackFailed.Add(int64(failed))
			q.mu.Lock()
			if q.mu.firstAckErr == nil {
				q.mu.firstAckErr = err
			}
			q.mu.Unlock()
		}
		q.acked.Add(int64(len(merged) - failed))
	}
}

// Close stops the consumer; it returns an error when messages it handled
// could not be acknowledged, or receives failed.
func (q *queueConsumer) Close() error {
	q.once.Do(func() {
		q.cancel()
		// A receiver may be waiting to hand a batch to the ackers, and
		// they for an Ack: the timer bounds both.
		stop := time.AfterFunc(ackDrainTimeout, q.ackCancel)
		q.recvWG.Wait()
		close(q.acks)
		q.ackWG.Wait()
		stop.Stop()
		q.ackCancel()
		var errs []error
		q.mu.Lock()
		if n := q.ackFailed.Load(); n > 0 {
			errs = append(errs, fmt.Errorf("sluicedriver: queue %q: %d of %d messages handled were not acknowledged (they are delivered again): %w",
				q.queue, n, q.received.Load(), q.mu.firstAckErr))
		}
		if n := q.recvFailed.Load(); n > 0 {
			errs = append(errs, fmt.Errorf("sluicedriver: queue %q: %d receives failed, the first: %w", q.queue, n, q.mu.firstRecvErr))
		}
		q.mu.Unlock()
		if err := q.cl.Close(); err != nil {
			errs = append(errs, err)
		}
		q.closeErr = errors.Join(errs...)
	})
	return q.closeErr
}
