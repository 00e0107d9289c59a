package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/queue"
)

// Dead letters and redrive. A message received MaxReceives times is
// written to the queue's dead-letter stream with two headers added: the
// queue's name (queue.DeadLetterQueueHeader) and where it came from
// (queue.DeadLetterSourceHeader). A dead-letter stream may serve several
// queues; each queue reads its own dead letters from it as a queue of its
// own, filtered on the first header, with its own ack state in the
// dead-letter stream's partitions under the name "redrive:" + the
// queue's state name (a name no queue can have). Redrive receives from
// that view, writes the messages back to the queue's stream without the
// two headers or a delay (new offsets, new receive counts, as SQS's
// redrive), and acks them: at-least-once, like everything else.

const (
	// defaultRedrive and maxRedrive bound the messages of one redrive
	// request.
	defaultRedrive = 10000
	maxRedrive     = 100000
	// redriveVisibility is the lease of a message being redriven: a
	// redrive that fails between writing and acking lets it go after
	// this.
	redriveVisibility = 30 * time.Second
)

// redriveEngine returns the engine of q's dead letters in partition p of
// its dead-letter stream.
func (s *service) redriveEngine(ctx context.Context, v *metadata.View, q *metadata.Queue, p *metadata.Partition) (*queue.Engine, error) {
	return s.engineOf(ctx, v, engineKey{q.Name, q.Incarnation, p.ID, true}, q, p, func() (queue.Config, error) {
		f, err := consumergroup.ParseFilter(fmt.Sprintf(`{"headers.%s": [%q]}`, queue.DeadLetterQueueHeader, q.Name))
		if err != nil {
			return queue.Config{}, err
		}
		return queue.Config{Name: "redrive:" + stateName(q), Visibility: redriveVisibility, Filter: f}, nil
	})
}

// deadLetterOf looks up q's dead-letter stream's partition part.
func deadLetterOf(v *metadata.View, name string, part int32) (*metadata.Queue, *metadata.Partition, error) {
	q := v.Queue(name)
	if q == nil {
		return nil, nil, unknownQueue("queue", name)
	}
	if q.DeadLetterStream == "" {
		return nil, nil, fmt.Errorf("%w: queue %q has no dead-letter stream", ErrInvalidArgument, name)
	}
	_, p, err := lookup(v, q.DeadLetterStream, part)
	return q, p, err
}

func (a *api) RedriveQueue(ctx context.Context, req *sluicev1.RedriveQueueRequest) (*sluicev1.RedriveQueueResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.redrive(ctx, req)
	if err != nil {
		return nil, s.status("RedriveQueue", err)
	}
	return resp, nil
}

func (s *service) redrive(ctx context.Context, req *sluicev1.RedriveQueueRequest) (*sluicev1.RedriveQueueResponse, error) {
	limit := int64(req.GetMax())
	if limit == 0 {
		limit = defaultRedrive
	}
	if limit < 1 || limit > maxRedrive {
		return nil, fmt.Errorf("%w: max %d (1 to %d, or 0 for %d)", ErrInvalidArgument, req.GetMax(), maxRedrive, defaultRedrive)
	}
	v := s.node.Metadata()
	if v.Queue(req.GetQueue()) == nil {
		notFound := unknownQueue("queue", req.GetQueue())
		if !errors.Is(notFound, metadata.ErrQueueNotFound) {
			return nil, notFound
		}
		if err := s.confirmMissing(ctx, notFound, req.GetQueue(), true); err != nil {
			return nil, err
		}
		v = s.node.Metadata()
	}
	q, p, err := deadLetterOf(v, req.GetQueue(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	if v.Stream(q.Stream) == nil {
		return nil, fmt.Errorf("%w: stream %q of queue %q", metadata.ErrStreamNotFound, q.Stream, q.Name)
	}
	eng, err := s.redriveEngine(ctx, v, q, p)
	if err != nil {
		return nil, err
	}
	resp := &sluicev1.RedriveQueueResponse{}
	for resp.Moved < limit {
		res, err := eng.Receive(ctx, int(min(limit-resp.Moved, queue.MaxReceive)))
		if err != nil {
			return nil, err
		}
		if len(res.Messages) == 0 {
			break
		}
		recs := make([]batch.Record, len(res.Messages))
		now := time.Now().UnixMilli()
		for i, m := range res.Messages {
			recs[i] = redriven(m.Record, now)
		}
		written, werr := s.produceSpread(ctx, v.Stream(q.Stream), recs)
		var acks, back []string
		for i, m := range res.Messages {
			if written[i] {
				acks = append(acks, m.Receipt)
			} else {
				back = append(back, m.Receipt)
			}
		}
		for _, rc := range back {
			_ = eng.Nack(rc, 0) // to the next redrive
		}
		if len(acks) > 0 {
			for _, err := range eng.AckAll(ctx, acks) {
				if err != nil {
					// Written but not marked: a later redrive writes it again.
					return nil, fmt.Errorf("queue %q: redriven messages not marked done: %w", q.Name, err)
				}
			}
			resp.Moved += int64(len(acks))
		}
		if werr != nil {
			return nil, fmt.Errorf("queue %q: redrive to stream %q: %w", q.Name, q.Stream, werr)
		}
		s.log.Info("rpc: queue redriven", "queue", q.Name, "dead_letter_stream", q.DeadLetterStream, "partition", p.Index,
			"messages", len(acks))
	}
	st, err := eng.Stats(ctx)
	if err != nil {
		return nil, err
	}
	resp.Remaining = st.Pending
	return resp, nil
}

// redriven is r as written back to its queue: without the dead-letter
// headers and the delay header, stamped now.
func redriven(r batch.Record, now int64) batch.Record {
	out := batch.Record{Key: r.Key, Value: r.Value, Timestamp: now}
	for _, h := range r.Headers {
		switch h.Key {
		case queue.DeadLetterQueueHeader, queue.DeadLetterSourceHeader, queue.DelayHeader:
		default:
			out.Headers = append(out.Headers, h)
		}
	}
	return out
}

// produceSpread writes recs to stream st, each to the partition of its key
// (a record without a key to the partition its index picks), one batch
// per partition. written reports the records that were written; err is
// the first failure.
func (s *service) produceSpread(ctx context.Context, st *metadata.Stream, recs []batch.Record) (written []bool, err error) {
	written = make([]bool, len(recs))
	byPart := map[int][]int{}
	for i, r := range recs {
		part := metadata.PartitionFor(st, r.Key)
		if r.Key == nil {
			part = int(s.spread.Add(1) % uint64(len(st.Partitions)))
		}
		byPart[part] = append(byPart[part], i)
	}
	for part, idx := range byPart {
		rs := make([]batch.Record, len(idx))
		for k, i := range idx {
			rs[k] = recs[i]
		}
		b, perr := batch.Append(nil, rs, batch.EncodeOptions{ProducerID: -1})
		if perr == nil {
			_, perr = s.produce(ctx, &sluicev1.ProduceRequest{Stream: st.Name, Partition: int32(part), Batch: b})
		}
		if perr != nil {
			err = cmpErr(err, perr)
			continue
		}
		for _, i := range idx {
			written[i] = true
		}
	}
	return written, err
}

// deadLetterStats counts q's messages waiting in partition p of its
// dead-letter stream, where this node leads p; Messages -1 elsewhere.
func (s *service) deadLetterStats(ctx context.Context, v *metadata.View, q *metadata.Queue, p *metadata.Partition) *sluicev1.DeadLetterPartitionStats {
	st := &sluicev1.DeadLetterPartitionStats{Partition: int32(p.Index), Messages: -1}
	if _, g := s.node.Partition(p.ID); g == nil || !g.Ready() {
		return st
	}
	eng, err := s.redriveEngine(ctx, v, q, p)
	if err != nil {
		return st
	}
	qs, err := eng.Stats(ctx)
	if err != nil {
		return st
	}
	st.Messages, st.Approximate = qs.Pending, qs.Approximate
	return st
}
