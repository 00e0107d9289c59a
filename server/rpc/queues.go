package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/queue"
)

// Queues: the definitions are metadata (admin calls, forwarded to the
// metadata leader); receive, ack, nack and extend run on the partition's
// leader, which keeps one queue.Engine per queue and partition for its
// term of leadership (a new term starts with no leases: what was in
// flight is delivered again). A receive that meets messages received
// MaxReceives times writes them to the dead-letter stream (a produce,
// forwarded to its leaders) and then marks them done.

const (
	// maxReceiveWait bounds a receive's long poll (SQS: 20 s).
	maxReceiveWait = 20 * time.Second
	// receivePoll is the longest a waiting receive sleeps between looks
	// when nothing signals it (a lease that ends, say, on another node's
	// clock); new records wake it at once.
	receivePoll = 250 * time.Millisecond
)

// engines are the queue engines of the partitions this node leads.
type engines struct {
	mu sync.Mutex
	m  map[engineKey]*engineEntry // Protected by mu.
}

type engineKey struct {
	queue       string
	incarnation uint64
	partition   string // raft group id
	// redrive: the engine that reads the queue's dead letters from a
	// partition of its dead-letter stream (see redriveEngine).
	redrive bool
}

type engineEntry struct {
	eng  *queue.Engine
	term uint64
	cfg  metadata.Queue
}

// engine returns the engine of queue q on partition p, which this node
// must lead: a new one when the term or the queue's settings changed.
func (s *service) engine(ctx context.Context, v *metadata.View, q *metadata.Queue, p *metadata.Partition) (*queue.Engine, error) {
	return s.engineOf(ctx, v, engineKey{q.Name, q.Incarnation, p.ID, false}, q, p, func() (queue.Config, error) {
		var f *consumergroup.Filter
		if q.Filter != "" {
			var err error
			if f, err = consumergroup.ParseFilter(q.Filter); err != nil {
				return queue.Config{}, err
			}
		}
		return queue.Config{Name: stateName(q), Visibility: time.Duration(q.VisibilityTimeoutMs) * time.Millisecond,
			MaxReceives: uint32(max(q.MaxReceives, 0)), Delay: time.Duration(q.DelayMs) * time.Millisecond, FIFO: q.FIFO, Filter: f}, nil
	})
}

// engineOf returns the engine under k for partition p (which this node
// must lead), made with config when there is none for p's current term
// and q's current settings.
func (s *service) engineOf(ctx context.Context, v *metadata.View, k engineKey, q *metadata.Queue, p *metadata.Partition,
	config func() (queue.Config, error)) (*queue.Engine, error) {
	r, g, err := s.leaderReplica(ctx, v, p)
	if err != nil {
		return nil, err
	}
	term := g.Term()
	s.engines.mu.Lock()
	defer s.engines.mu.Unlock()
	if e := s.engines.m[k]; e != nil && e.term == term && e.cfg == *q {
		return e.eng, nil
	}
	cfg, err := config()
	if err != nil {
		return nil, err
	}
	eng, err := queue.NewEngine(cfg, r, int32(p.Index), term, nil)
	if err != nil {
		return nil, err
	}
	for old := range s.engines.m {
		if old.queue == k.queue && old.partition == k.partition && old.redrive == k.redrive {
			delete(s.engines.m, old) // an older incarnation or term
		}
	}
	s.engines.m[k] = &engineEntry{eng: eng, term: term, cfg: *q}
	return eng, nil
}

// stateName is the name of a queue's state in its partitions: the name
// and the incarnation, so a queue deleted and created again starts afresh.
func stateName(q *metadata.Queue) string { return fmt.Sprintf("%s.%d", q.Name, q.Incarnation) }

// queueOf looks a queue and one of its stream's partitions up.
func queueOf(v *metadata.View, name string, part int32) (*metadata.Queue, *metadata.Partition, error) {
	q := v.Queue(name)
	if q == nil {
		return nil, nil, unknownQueue("queue", name)
	}
	if q.Cursor {
		return nil, nil, fmt.Errorf("%w: subscription %q is read through a cursor, not received and acked: "+
			"consume stream %q as consumer group %q with its filter", ErrInvalidArgument, name, q.Stream, name)
	}
	_, p, err := lookup(v, q.Stream, part)
	return q, p, err
}

// unknownQueue is the error for a queue name v does not know: a bad
// argument on field when no queue can have it, else ErrQueueNotFound.
func unknownQueue(field, name string) error {
	if err := metadata.ValidStreamName(field, name); err != nil {
		return err
	}
	return fmt.Errorf("%w: %q", metadata.ErrQueueNotFound, name)
}

func (a *api) ReceiveMessages(ctx context.Context, req *sluicev1.ReceiveMessagesRequest) (*sluicev1.ReceiveMessagesResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := s.receive(ctx, req)
	if err != nil {
		return nil, s.status("ReceiveMessages", err)
	}
	return resp, nil
}

func (s *service) receive(ctx context.Context, req *sluicev1.ReceiveMessagesRequest) (*sluicev1.ReceiveMessagesResponse, error) {
	wait := time.Duration(req.GetWaitMs()) * time.Millisecond
	if req.GetMax() < 1 || req.GetMax() > queue.MaxReceive || wait < 0 || wait > maxReceiveWait {
		return nil, fmt.Errorf("%w: max %d (1 to %d), wait_ms %d (0 to %d)", ErrInvalidArgument,
			req.GetMax(), queue.MaxReceive, req.GetWaitMs(), maxReceiveWait.Milliseconds())
	}
	deadline := time.Now().Add(wait)
	for {
		v, q, p, err := s.queueFresh(ctx, req.GetQueue(), req.GetPartition())
		if err != nil {
			return nil, err
		}
		eng, err := s.engine(ctx, v, q, p)
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err // gone while waiting: lease nothing
		}
		res, err := eng.Receive(ctx, int(req.GetMax()))
		if err != nil {
			return nil, err
		}
		if len(res.Messages) > 0 && ctx.Err() != nil {
			// The caller went away (a client that got messages from
			// another partition first cancels the rest): its answer
			// would be lost, so give the leases back instead of letting
			// them hide the messages for a visibility timeout.
			for _, m := range res.Messages {
				_ = eng.Nack(m.Receipt, 0)
			}
			return nil, ctx.Err()
		}
		if len(res.DeadLetter) > 0 {
			if err := s.deadLetter(ctx, v, q, p, eng, res.DeadLetter); err != nil {
				s.log.Warn("rpc: dead-lettering", "queue", q.Name, "err", err)
			}
		}
		now := time.Now()
		if len(res.Messages) > 0 || !now.Before(deadline) {
			out := &sluicev1.ReceiveMessagesResponse{}
			for _, m := range res.Messages {
				out.Messages = append(out.Messages, messageOf(p.Index, m))
			}
			return out, nil
		}
		until := now.Add(receivePoll)
		if deadline.Before(until) {
			until = deadline
		}
		if !res.NextVisible.IsZero() && res.NextVisible.Before(until) {
			until = res.NextVisible
		}
		if err := s.waitRecords(ctx, p, until); err != nil {
			return nil, err
		}
	}
}

// waitRecords waits until partition p has records past its high watermark
// as it is now, or until.
func (s *service) waitRecords(ctx context.Context, p *metadata.Partition, until time.Time) error {
	r, _ := s.node.Partition(p.ID)
	if r == nil {
		return s.notLeader(fmt.Sprintf("stream %q partition %d", p.Stream, p.Index), "")
	}
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	wctx, stop := s.untilStop(wctx)
	defer stop()
	if _, err := r.Fetch(wctx, nil, r.HighWatermark(), 1); err != nil {
		return err
	}
	return ctx.Err()
}

func messageOf(part int, m queue.Message) *sluicev1.QueueMessage {
	qm := &sluicev1.QueueMessage{Partition: int32(part), Offset: m.Record.Offset, TimestampMs: m.Record.Timestamp,
		Key: m.Record.Key, KeyNull: m.Record.Key == nil, Value: m.Record.Value, Receipt: m.Receipt, ReceiveCount: m.ReceiveCount}
	for _, h := range m.Record.Headers {
		qm.Headers = append(qm.Headers, &sluicev1.Header{Key: h.Key, Value: h.Value})
	}
	return qm
}

// deadLetter writes recs to q's dead-letter stream, partitioned by key,
// with the dead-letter headers added, then marks them done in q. Records
// that could not be written stay pending (and are tried again at the next
// receive).
func (s *service) deadLetter(ctx context.Context, v *metadata.View, q *metadata.Queue, p *metadata.Partition, eng *queue.Engine, recs []batch.Record) error {
	dlq := v.Stream(q.DeadLetterStream)
	if dlq == nil {
		return fmt.Errorf("%w: dead-letter stream %q of queue %q", metadata.ErrStreamNotFound, q.DeadLetterStream, q.Name)
	}
	out := make([]batch.Record, len(recs))
	for i, r := range recs {
		out[i] = r
		out[i].Headers = append(slices.Clip(r.Headers),
			batch.RecordHeader{Key: queue.DeadLetterQueueHeader, Value: []byte(q.Name)},
			batch.RecordHeader{Key: queue.DeadLetterSourceHeader, Value: fmt.Appendf(nil, "%s/%d/%d", q.Stream, p.Index, r.Offset)})
	}
	written, first := s.produceSpread(ctx, dlq, out)
	var moved []int64
	for i, r := range recs {
		if written[i] {
			moved = append(moved, r.Offset)
		}
	}
	if len(moved) > 0 {
		first = cmpErr(first, eng.DeadLettered(ctx, moved))
		s.metrics.deadLettered.Add(float64(len(moved)))
	}
	return first
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

// receiptCall runs fn on the engine of the request's queue and partition
// for the receipts, and answers each with its error.
func (s *service) receiptCall(ctx context.Context, queueName string, part int32, receipts []string, method string,
	fn func(*queue.Engine, []string) []error) ([]*sluicev1.ReceiptResult, error) {
	if len(receipts) == 0 || len(receipts) > queue.MaxReceive {
		return nil, fmt.Errorf("%w: %d receipts (1 to %d)", ErrInvalidArgument, len(receipts), queue.MaxReceive)
	}
	v, q, p, err := s.queueFresh(ctx, queueName, part)
	if err != nil {
		return nil, err
	}
	eng, err := s.engine(ctx, v, q, p)
	if err != nil {
		return nil, err
	}
	errs := fn(eng, receipts)
	out := make([]*sluicev1.ReceiptResult, len(receipts))
	for i, rc := range receipts {
		out[i] = &sluicev1.ReceiptResult{Receipt: rc}
		if errs[i] != nil {
			out[i].Error, out[i].ErrorMessage = s.detail(method, errs[i])
		}
	}
	return out, nil
}

// each runs fn per receipt.
func each(receipts []string, fn func(string) error) []error {
	errs := make([]error, len(receipts))
	for i, rc := range receipts {
		errs[i] = fn(rc)
	}
	return errs
}

func (a *api) AckMessages(ctx context.Context, req *sluicev1.AckMessagesRequest) (*sluicev1.AckMessagesResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	// One replicated command for the whole request.
	res, err := s.receiptCall(ctx, req.GetQueue(), req.GetPartition(), req.GetReceipts(), "AckMessages",
		func(e *queue.Engine, receipts []string) []error { return e.AckAll(ctx, receipts) })
	if err != nil {
		return nil, s.status("AckMessages", err)
	}
	return &sluicev1.AckMessagesResponse{Results: res}, nil
}

func (a *api) NackMessages(ctx context.Context, req *sluicev1.NackMessagesRequest) (*sluicev1.NackMessagesResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	// Checked in ms: a huge value would overflow the Duration.
	if ms := req.GetDelayMs(); ms < 0 || ms > queue.MaxDelay.Milliseconds() {
		return nil, s.status("NackMessages", fmt.Errorf("%w: delay_ms %d (0 to %d)", ErrInvalidArgument, ms, queue.MaxDelay.Milliseconds()))
	}
	d := time.Duration(req.GetDelayMs()) * time.Millisecond
	res, err := s.receiptCall(ctx, req.GetQueue(), req.GetPartition(), req.GetReceipts(), "NackMessages",
		func(e *queue.Engine, receipts []string) []error {
			return each(receipts, func(rc string) error { return e.Nack(rc, d) })
		})
	if err != nil {
		return nil, s.status("NackMessages", err)
	}
	return &sluicev1.NackMessagesResponse{Results: res}, nil
}

func (a *api) ExtendMessages(ctx context.Context, req *sluicev1.ExtendMessagesRequest) (*sluicev1.ExtendMessagesResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	if ms := req.GetVisibilityMs(); ms < 0 || ms > queue.MaxVisibility.Milliseconds() {
		return nil, s.status("ExtendMessages", fmt.Errorf("%w: visibility_ms %d (0 to %d)", ErrInvalidArgument, ms, queue.MaxVisibility.Milliseconds()))
	}
	d := time.Duration(req.GetVisibilityMs()) * time.Millisecond
	res, err := s.receiptCall(ctx, req.GetQueue(), req.GetPartition(), req.GetReceipts(), "ExtendMessages",
		func(e *queue.Engine, receipts []string) []error {
			return each(receipts, func(rc string) error { return e.Extend(rc, d) })
		})
	if err != nil {
		return nil, s.status("ExtendMessages", err)
	}
	return &sluicev1.ExtendMessagesResponse{Results: res}, nil
}

func (a *api) PurgeQueue(ctx context.Context, req *sluicev1.PurgeQueueRequest) (*sluicev1.PurgeQueueResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	v, q, p, err := s.queueFresh(ctx, req.GetQueue(), req.GetPartition())
	if err == nil {
		var eng *queue.Engine
		if eng, err = s.engine(ctx, v, q, p); err == nil {
			var n int64
			if n, err = eng.Purge(ctx); err == nil {
				s.log.Info("rpc: queue purged", "queue", q.Name, "partition", p.Index, "messages", n)
				return &sluicev1.PurgeQueueResponse{Purged: n}, nil
			}
		}
	}
	return nil, s.status("PurgeQueue", err)
}

// Admin calls.

func queueMsg(q *metadata.Queue) *sluicev1.Queue {
	return &sluicev1.Queue{Name: q.Name, Stream: q.Stream, VisibilityTimeoutMs: q.VisibilityTimeoutMs, MaxReceives: q.MaxReceives,
		DeadLetterStream: q.DeadLetterStream, DelayMs: q.DelayMs, Fifo: q.FIFO, Filter: q.Filter, Subscription: q.Subscription,
		CreatedAtMs: q.CreatedAt, Cursor: q.Cursor}
}

func (a *api) CreateQueue(ctx context.Context, req *sluicev1.CreateQueueRequest) (*sluicev1.CreateQueueResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	qm := req.GetQueue()
	if qm == nil {
		return nil, s.status("CreateQueue", fmt.Errorf("%w: no queue", ErrInvalidArgument))
	}
	if req.GetRetentionMs() < 0 || req.GetRetentionMs() != 0 && !req.GetCreateStream() {
		return nil, s.status("CreateQueue", fmt.Errorf("%w: retention_ms %d: only for a stream create_stream creates, 0 or more",
			ErrInvalidArgument, req.GetRetentionMs()))
	}
	if req.GetPartitions() < 0 || req.GetPartitions() != 0 && !req.GetCreateStream() {
		return nil, s.status("CreateQueue", fmt.Errorf("%w: partitions %d: only for a stream create_stream creates, 0 (for 1) or more",
			ErrInvalidArgument, req.GetPartitions()))
	}
	if req.GetRetentionMs() != 0 && s.node.Metadata().Stream(qm.GetStream()) != nil {
		return nil, s.status("CreateQueue", fmt.Errorf("%w: stream %q exists: set its retention with AlterStream, not with the queue",
			ErrInvalidArgument, qm.GetStream()))
	}
	c := metadata.CreateQueue{Name: qm.GetName(), Stream: qm.GetStream(), VisibilityTimeoutMs: qm.GetVisibilityTimeoutMs(),
		MaxReceives: qm.GetMaxReceives(), DeadLetterStream: qm.GetDeadLetterStream(), DelayMs: qm.GetDelayMs(), FIFO: qm.GetFifo(),
		Filter: qm.GetFilter(), Subscription: qm.GetSubscription(), Cursor: qm.GetCursor()}
	if req.GetCreateStream() && s.node.Metadata().Stream(qm.GetStream()) == nil {
		// A queue refused after its stream was made would leave the
		// stream behind: check what can be checked first.
		if err := s.checkCreateQueue(ctx, c); err != nil {
			return nil, s.status("CreateQueue", err)
		}
		parts := req.GetPartitions()
		if parts == 0 {
			parts = 1
		}
		_, err := a.CreateStream(ctx, &sluicev1.CreateStreamRequest{Name: qm.GetStream(), Partitions: parts, RetentionMs: req.GetRetentionMs()})
		if err != nil && !errors.Is(err, metadata.ErrStreamExists) && codeOfErr(err) != sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS {
			return nil, err
		}
	}
	q, err := s.node.CreateQueue(ctx, c)
	if leader, ok := metaNotLeader(err); ok {
		resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.CreateQueueResponse, error) {
			return sluicev1.NewSluiceClient(cc).CreateQueue(ctx, &sluicev1.CreateQueueRequest{Queue: qm})
		})
		if err != nil {
			return nil, s.status("CreateQueue", err)
		}
		s.waitMetadata(ctx, metaCatchUp, func(v *metadata.View) bool { return v.Queue(qm.GetName()) != nil })
		return resp, nil
	}
	if err != nil {
		return nil, s.status("CreateQueue", err)
	}
	s.log.Info("rpc: queue created", "queue", q.Name, "stream", q.Stream)
	return &sluicev1.CreateQueueResponse{Queue: queueMsg(q)}, nil
}

// checkCreateQueue checks c before its stream is created: its fields
// (metadata.EncodeCreateQueue validates them), a name in use, and a
// dead-letter stream that does not exist.
func (s *service) checkCreateQueue(ctx context.Context, c metadata.CreateQueue) error {
	if _, err := metadata.EncodeCreateQueue(c); err != nil {
		return err
	}
	v := s.node.Metadata()
	if v.Queue(c.Name) != nil {
		return fmt.Errorf("%w: %q", metadata.ErrQueueExists, c.Name)
	}
	if c.DeadLetterStream != "" && v.Stream(c.DeadLetterStream) == nil {
		notFound := fmt.Errorf("%w: %q, the dead-letter stream of queue %q", metadata.ErrStreamNotFound, c.DeadLetterStream, c.Name)
		if err := s.confirmMissing(ctx, notFound, c.DeadLetterStream, false); err != nil {
			return err
		}
	}
	return nil
}

// codeOfErr returns the wire code of a status error.
func codeOfErr(err error) sluicev1.ErrorCode {
	if d := detailOf(err); d != nil {
		return d.GetCode()
	}
	return sluicev1.ErrorCode_ERROR_CODE_UNSPECIFIED
}

func (a *api) DeleteQueue(ctx context.Context, req *sluicev1.DeleteQueueRequest) (*sluicev1.DeleteQueueResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	err := s.node.DeleteQueue(ctx, req.GetName())
	if leader, ok := metaNotLeader(err); ok {
		resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.DeleteQueueResponse, error) {
			return sluicev1.NewSluiceClient(cc).DeleteQueue(ctx, req)
		})
		if err != nil {
			return nil, s.status("DeleteQueue", err)
		}
		s.waitMetadata(ctx, metaCatchUp, func(v *metadata.View) bool { return v.Queue(req.GetName()) == nil })
		return resp, nil
	}
	if err != nil {
		return nil, s.status("DeleteQueue", err)
	}
	s.log.Info("rpc: queue deleted", "queue", req.GetName())
	return &sluicev1.DeleteQueueResponse{}, nil
}

func (a *api) ListQueues(_ context.Context, _ *sluicev1.ListQueuesRequest) (*sluicev1.ListQueuesResponse, error) {
	out := &sluicev1.ListQueuesResponse{}
	for _, q := range a.svc.node.Metadata().Queues() {
		out.Queues = append(out.Queues, queueMsg(q))
	}
	return out, nil
}

func (a *api) DescribeQueue(ctx context.Context, req *sluicev1.DescribeQueueRequest) (*sluicev1.DescribeQueueResponse, error) {
	s := a.svc
	v := s.node.Metadata()
	q := v.Queue(req.GetName())
	if q == nil {
		return nil, s.status("DescribeQueue", unknownQueue("name", req.GetName()))
	}
	out := &sluicev1.DescribeQueueResponse{Queue: queueMsg(q)}
	if st := v.Stream(q.Stream); st != nil && !q.Cursor { // a cursor's position is its group's
		for i := range st.Partitions {
			out.Partitions = append(out.Partitions, s.queueStats(ctx, v, q, &st.Partitions[i]))
		}
	}
	if st := v.Stream(q.DeadLetterStream); st != nil {
		for i := range st.Partitions {
			out.DeadLetterPartitions = append(out.DeadLetterPartitions, s.deadLetterStats(ctx, v, q, &st.Partitions[i]))
		}
	}
	return out, nil
}

// queueStats reads a partition's queue state where this node leads it; -1
// elsewhere (the client asks each partition's leader for exact figures).
func (s *service) queueStats(ctx context.Context, v *metadata.View, q *metadata.Queue, p *metadata.Partition) *sluicev1.QueuePartitionStats {
	st := &sluicev1.QueuePartitionStats{Partition: int32(p.Index), Floor: -1, HighWatermark: -1, Pending: -1, InFlight: -1,
		Visible: -1, Delayed: -1}
	if _, g := s.node.Partition(p.ID); g == nil || !g.Ready() {
		return st
	}
	// The engine of a queue received from here has its leases; a new
	// one (describing does not create state) has none in flight.
	eng, err := s.engine(ctx, v, q, p)
	if err != nil {
		return st
	}
	qs, err := eng.Stats(ctx)
	if err != nil {
		return st
	}
	st.Floor, st.HighWatermark, st.Pending, st.InFlight = qs.Floor, qs.HighWatermark, qs.Pending, qs.InFlight
	st.Visible, st.Delayed, st.Approximate = qs.Visible, qs.Delayed, qs.Approximate
	if !qs.Oldest.IsZero() {
		st.OldestTimestampMs = qs.Oldest.UnixMilli()
	}
	return st
}
