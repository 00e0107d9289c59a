package rpc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicedb/sluice/partition"
)

// ACKS_NONE. The leader answers once the batch is validated and queued,
// before it is proposed. Each partition has a bounded FIFO queue and, while
// it holds batches, one worker that proposes them one after the other, so
// batches a client sends one after another (waiting for each answer) are
// written in that order. A full queue makes Produce wait for room (the
// client's deadline bounds that wait: TIMEOUT, nothing queued). A batch
// the partition refuses, or that a leader change or Close cuts off, is
// lost without a word to the client, counted in the metrics and logged at
// debug level: that is what ACKS_NONE allows.
const (
	// noAckDepth bounds the batches queued per partition.
	noAckDepth = 64
	// noAckTimeout bounds the proposal of one queued batch.
	noAckTimeout = 30 * time.Second
)

type noAckQueues struct {
	mu struct {
		sync.Mutex
		queues map[string]*noAckQueue // by partition id. Protected by mu.
	}
}

// noAckQueue is one partition's queue. A queue, once made, stays for the
// life of the server (a few hundred bytes per partition that ever got an
// ACKS_NONE batch).
type noAckQueue struct {
	slots chan struct{} // cap noAckDepth: a queued batch holds a slot
	mu    struct {
		sync.Mutex
		items   []noAckItem // Protected by mu.
		running bool        // a worker drains items
	}
}

type noAckItem struct {
	r *partition.Replica
	b []byte
}

func (n *noAckQueues) queue(id string) *noAckQueue {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.mu.queues[id]
	if q == nil {
		q = &noAckQueue{slots: make(chan struct{}, noAckDepth)}
		n.mu.queues[id] = q
	}
	return q
}

// enqueueNoAck queues b for partition id's replica r and starts the
// partition's worker if none runs.
func (s *service) enqueueNoAck(ctx context.Context, id string, r *partition.Replica, b []byte) error {
	q := s.noAcks.queue(id)
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("partition %s: ACKS_NONE queue full: %w", id, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("%w: server stopping", ErrUnavailable)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// The request's bytes are the caller's once it returns: keep a copy.
	q.mu.items = append(q.mu.items, noAckItem{r: r, b: slices.Clone(b)})
	if !q.mu.running {
		q.mu.running = s.goTracked(func() { s.drainNoAck(id, q) })
		if !q.mu.running {
			q.mu.items = q.mu.items[:len(q.mu.items)-1]
			<-q.slots
			return fmt.Errorf("%w: server stopping", ErrUnavailable)
		}
	}
	return nil
}

// drainNoAck proposes q's batches in order until it is empty.
func (s *service) drainNoAck(id string, q *noAckQueue) {
	for {
		q.mu.Lock()
		if len(q.mu.items) == 0 {
			q.mu.running = false
			q.mu.Unlock()
			return
		}
		it := q.mu.items[0]
		q.mu.items[0] = noAckItem{}
		q.mu.items = q.mu.items[1:]
		q.mu.Unlock()
		if s.stopping() {
			<-q.slots
			s.metrics.noAckLost.Inc()
			continue
		}
		ctx, cancel := s.untilStop(context.Background())
		ctx, cancelT := context.WithTimeout(ctx, noAckTimeout)
		_, err := it.r.Produce(ctx, it.b)
		cancelT()
		cancel()
		<-q.slots
		if err != nil {
			s.metrics.noAckLost.Inc()
			s.log.Debug("rpc: ACKS_NONE batch not written", "partition", id, "err", err)
		}
	}
}
