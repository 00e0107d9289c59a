package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// Produce validates the request, then:
//   - on the partition's leader, appends the batch through the replica
//     (ACKS_ALL: answers with the offsets once committed and applied;
//     ACKS_NONE: queues it, noack.go, and answers at once);
//   - elsewhere, forwards it once to the leader and answers with the
//     leader's reply (which names the leader), or NOT_LEADER with the hint
//     when it cannot.
func (a *api) Produce(ctx context.Context, req *sluicev1.ProduceRequest) (*sluicev1.ProduceResponse, error) {
	s := a.svc
	start := time.Now()
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.produce(ctx, req)
	if err != nil {
		err = s.status("Produce", err)
	}
	s.metrics.observeProduce(start, len(req.GetBatch()), err)
	return resp, err
}

func (s *service) produce(ctx context.Context, req *sluicev1.ProduceRequest) (*sluicev1.ProduceResponse, error) {
	if s.stopping() {
		return nil, fmt.Errorf("%w: server stopping", ErrUnavailable)
	}
	v, st, p, err := s.lookupFresh(ctx, req.GetStream(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	acks := req.GetAcks()
	if acks != sluicev1.Acks_ACKS_ALL && acks != sluicev1.Acks_ACKS_NONE {
		return nil, fmt.Errorf("%w: acks %d", ErrInvalidArgument, acks)
	}
	h, err := validateBatch(req.GetBatch(), st.MaxRecordBytes)
	if err != nil {
		return nil, fmt.Errorf("stream %q partition %d: %w", st.Name, p.Index, err)
	}
	r, g := s.node.Partition(p.ID)
	if g != nil && g.IsLeader() {
		if acks == sluicev1.Acks_ACKS_NONE {
			if err := s.enqueueNoAck(ctx, p.ID, r, req.GetBatch()); err != nil {
				return nil, err
			}
			return &sluicev1.ProduceResponse{BaseOffset: -1, LastOffset: -1, LeaderId: s.node.ID(), LeaderAddr: s.selfAddr()}, nil
		}
		res, err := s.produceLocal(ctx, p.ID, r, req.GetBatch(), h)
		if err == nil {
			return &sluicev1.ProduceResponse{BaseOffset: res.BaseOffset, LastOffset: res.LastOffset,
				Duplicate: res.Duplicate, LeaderId: s.node.ID(), LeaderAddr: s.selfAddr()}, nil
		}
		if !errors.Is(err, replication.ErrNotLeader) {
			return nil, fmt.Errorf("stream %q partition %d: %w", st.Name, p.Index, err)
		}
		// Lost the lead before proposing: nothing was written, forward.
	}
	leader := s.leaderOf(ctx, v, p)
	what := fmt.Sprintf("stream %q partition %d", st.Name, p.Index)
	if req.GetForwarded() {
		return nil, s.notLeader(what, leader)
	}
	resp, err := forward(s, ctx, what, leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.ProduceResponse, error) {
		fwd := &sluicev1.ProduceRequest{Stream: req.GetStream(), Partition: req.GetPartition(), Batch: req.GetBatch(),
			Acks: req.GetAcks(), Forwarded: true}
		return sluicev1.NewSluiceClient(cc).Produce(ctx, fwd)
	})
	now := time.Now()
	switch {
	case err == nil && resp.GetLeaderId() != "":
		s.leaders.put(p.ID, resp.GetLeaderId(), now)
	case detailOf(err).GetCode() == sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER:
		s.leaders.put(p.ID, detailOf(err).GetLeaderId(), now)
	}
	return resp, err
}

// maxBatchDecompressed bounds what a produced compressed batch may
// decompress to: the least that the server's readers of a batch decode
// (the log's timestamp search; queues and filtered fetches take 96 MiB).
const maxBatchDecompressed = 64 << 20

// validateBatch checks a produced batch before it goes anywhere: one
// whole RecordBatch v2 with a good CRC, at least one record, no control
// or transactional batch, records that decode at consecutive offsets (a
// CRC proves only that the bytes arrived as sent: records that do not
// decode would be stored, and would fail every reader and queue at their
// offset for good), and within the stream's limits. The record limit
// applies to records as sent: each record of an uncompressed batch (its
// encoded size, as the client measures it); a compressed batch is held to
// the limit as a whole, as Kafka does, and its records are measured only
// when the batch is larger than the limit.
func validateBatch(b []byte, maxRecordBytes int32) (batch.Header, error) {
	limit := int(maxRecordBytes)
	if len(b) == 0 {
		return batch.Header{}, fmt.Errorf("%w: empty batch", partition.ErrInvalidBatch)
	}
	if most := limit + partition.DefaultMaxBatchBytes; len(b) > most {
		return batch.Header{}, fmt.Errorf("%w: batch of %d bytes, at most %d", ErrRecordTooLarge, len(b), most)
	}
	h, err := batch.Validate(b)
	if err != nil {
		return h, fmt.Errorf("%w: %w", partition.ErrInvalidBatch, err)
	}
	switch {
	case h.Size() != len(b):
		return h, fmt.Errorf("%w: %d bytes after the batch", partition.ErrInvalidBatch, len(b)-h.Size())
	case h.NumRecords <= 0:
		return h, fmt.Errorf("%w: no records", partition.ErrInvalidBatch)
	case h.Control() || h.Transactional():
		return h, fmt.Errorf("%w: control and transactional batches are not accepted", partition.ErrInvalidBatch)
	case h.LastOffsetDelta != h.NumRecords-1:
		// With records that decode (below), their offset deltas are
		// then 0 to n-1: a producer's records take consecutive offsets.
		return h, fmt.Errorf("%w: last offset delta %d for %d records, want %d", partition.ErrInvalidBatch,
			h.LastOffsetDelta, h.NumRecords, h.NumRecords-1)
	}
	pooled := recordsPool.Get().(*[]batch.Record)
	defer func() {
		if cap(*pooled) <= maxPooledRecords {
			clear((*pooled)[:cap(*pooled)]) // hold no batch's bytes
			recordsPool.Put(pooled)
		}
	}()
	recs, err := batch.DecodeRecords(b, (*pooled)[:0], max(maxBatchDecompressed, limit+partition.DefaultMaxBatchBytes))
	*pooled = recs
	if err != nil {
		return h, fmt.Errorf("%w: %w", partition.ErrInvalidBatch, err)
	}
	if len(b)-batch.HeaderSize <= limit {
		return h, nil // no record can be larger than the limit
	}
	for i := range recs {
		if n := recordSize(&recs[i]); n > limit {
			return h, fmt.Errorf("%w: record %d of the batch is %d bytes, the stream's limit is %d",
				ErrRecordTooLarge, i, n, limit)
		}
	}
	return h, nil
}

// recordsPool keeps the record slices validateBatch decodes into, so that
// validating a batch does not allocate one per produce; slices of more
// than maxPooledRecords records are dropped.
var recordsPool = sync.Pool{New: func() any { return new([]batch.Record) }}

const maxPooledRecords = 1 << 16

// recordSize is a record's encoded size with its timestamp and offset
// deltas taken as 0, as the client measures it for the same limit.
func recordSize(r *batch.Record) int {
	field := func(b []byte) int {
		if b == nil {
			return 1
		}
		return varintLen(int64(len(b))) + len(b)
	}
	body := 3 + field(r.Key) + field(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		body += varintLen(int64(len(h.Key))) + len(h.Key) + field(h.Value)
	}
	return varintLen(int64(body)) + body
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// produceLocal appends an ACKS_ALL batch through this node's replica,
// which leads the partition. An idempotent batch that arrives ahead of
// its producer's sequence (an earlier batch has not been proposed yet:
// pipelined requests may be reordered on the way) waits for its turn, up
// to reorderWait in all, before it is proposed (reorder.go); one that the
// partition still refuses as early learns what the partition expects,
// waits for its turn again and is proposed again. Raft keeps the order of
// proposals, so batches proposed in sequence order are written in it.
func (s *service) produceLocal(ctx context.Context, id string, r *partition.Replica, b []byte, h batch.Header) (partition.ProduceResult, error) {
	if h.ProducerID < 0 || s.reorderWait <= 0 {
		return r.Produce(ctx, b)
	}
	ps := s.reorder.acquire(producerKey{part: id, pid: h.ProducerID})
	defer s.reorder.release(ps)
	deadline := time.Now().Add(s.reorderWait)
	if waited, _ := s.reorder.waitTurn(ctx, ps, h, deadline, s.stop); waited {
		s.metrics.reorder.WithLabelValues("held").Inc()
	}
	next := nextSeq(lastSeq(h))
	for {
		s.reorder.advance(ps, h.ProducerEpoch, next) // later batches may go now
		res, err := r.Produce(ctx, b)
		if err == nil {
			// Again: a later batch proposed before this one reached raft
			// (goroutines race between advance and proposing) was refused
			// and taught the tracker this batch's sequence, backwards;
			// without this its waiters would sleep to their deadline.
			s.reorder.advance(ps, h.ProducerEpoch, next)
			return res, nil
		}
		var se *partition.SequenceError
		if !errors.As(err, &se) {
			s.reorder.forget(ps)
			return res, err
		}
		s.reorder.learn(ps, se.Epoch, se.Want)
		if !seqBefore(se.Want, se.Got) {
			return res, err // behind: a batch older than the partition remembers
		}
		if _, turn := s.reorder.waitTurn(ctx, ps, h, deadline, s.stop); !turn {
			s.metrics.reorder.WithLabelValues("expired").Inc()
			return res, err
		}
		s.metrics.reorder.WithLabelValues("retried").Inc()
	}
}

// seqBefore reports whether sequence a comes before b in the producer's
// sequence space (31 bits that wrap to 0 after MaxInt32), by less than
// half of it.
func seqBefore(a, b int32) bool {
	d := (int64(b) - int64(a)) & (1<<31 - 1)
	return d > 0 && d < 1<<30
}
