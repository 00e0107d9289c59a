package client

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// The fake cluster's queues, as the real server has them: definitions
// any node answers, and receive, ack, nack and extend on a partition's
// leader only. A receive leases the visible messages of one partition in
// offset order (not done, not leased, past their nack delay and their
// delay: DelayHeader, else the queue's, from the record's timestamp), and
// long-polls up to wait_ms. Receipts name one lease. DescribeQueue knows
// the state of the partitions the answering node leads only (-1
// elsewhere), like the real one. FIFO, filters and dead-lettering are not
// modelled.

type fakeQueue struct {
	def   *sluicev1.Queue
	parts map[int32]*fakeQueuePart
}

type fakeQueuePart struct {
	done      map[int64]bool
	leases    map[int64]*fakeLease // by offset
	notBefore map[int64]time.Time  // nack delays, by offset
	counts    map[int64]uint32     // receives, by offset
	receipts  map[string]int64     // every receipt handed out -> offset
}

type fakeLease struct {
	receipt string
	until   time.Time
}

// fakeQueueReq is a queue partition request a leader served.
type fakeQueueReq struct {
	Method       string
	Node         int
	Queue        string
	Partition    int32
	Max          int32
	WaitMs       int32
	Receipts     []string
	DelayMs      int64
	VisibilityMs int64
}

func (q *fakeQueue) part(p int32) *fakeQueuePart {
	qp := q.parts[p]
	if qp == nil {
		qp = &fakeQueuePart{done: map[int64]bool{}, leases: map[int64]*fakeLease{}, notBefore: map[int64]time.Time{},
			counts: map[int64]uint32{}, receipts: map[string]int64{}}
		q.parts[p] = qp
	}
	return qp
}

// createQueue defines a queue directly.
func (fc *fakeCluster) createQueue(name, stream string, visibilityMs int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.mu.queues[name] = &fakeQueue{def: &sluicev1.Queue{Name: name, Stream: stream, VisibilityTimeoutMs: visibilityMs,
		CreatedAtMs: 1}, parts: map[int32]*fakeQueuePart{}}
}

// expireLeases ends every lease of a queue now.
func (fc *fakeCluster) expireLeases(queue string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, qp := range fc.mu.queues[queue].parts {
		clear(qp.leases)
	}
	fc.changedLocked()
}

// setReceiptFault makes the next settle of a receipt fail with code in
// its result (once).
func (fc *fakeCluster) setReceiptFault(receipt string, code sluicev1.ErrorCode) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.mu.receiptFaults[receipt] = code
}

// queueReqs returns the queue partition requests served so far.
func (fc *fakeCluster) queueReqs(method string) []fakeQueueReq {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []fakeQueueReq
	for _, r := range fc.mu.qreqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// fakeQueueView is a partition's queue state for tests.
type fakeQueueView struct {
	Done, Leased []int64
	Counts       map[int64]uint32
}

func (fc *fakeCluster) queueView(queue string, part int32) fakeQueueView {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	qp := fc.mu.queues[queue].part(part)
	now := time.Now()
	v := fakeQueueView{Counts: maps.Clone(qp.counts)}
	for off := range qp.done {
		v.Done = append(v.Done, off)
	}
	for off, l := range qp.leases {
		if l.until.After(now) {
			v.Leased = append(v.Leased, off)
		}
	}
	slices.Sort(v.Done)
	slices.Sort(v.Leased)
	return v
}

func (n *fakeNode) CreateQueue(_ context.Context, req *sluicev1.CreateQueueRequest) (*sluicev1.CreateQueueResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f := fc.faultLocked(fakeCall{Node: n.idx, Method: "CreateQueue"})
	if f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	q := req.GetQueue()
	switch {
	case q.GetName() == "" || q.GetStream() == "" || q.GetVisibilityTimeoutMs() < 0 || q.GetDelayMs() < 0 ||
		q.GetMaxReceives() < 0 || req.GetPartitions() < 0:
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "bad queue", nil)
	case fc.mu.queues[q.GetName()] != nil:
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS, fmt.Sprintf("queue %q exists", q.GetName()), nil)
	}
	if fc.mu.streams[q.GetStream()] == nil {
		if !req.GetCreateStream() {
			return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", q.GetStream()), nil)
		}
		fc.createLocked(&sluicev1.CreateStreamRequest{Name: q.GetStream(), Partitions: max(req.GetPartitions(), 1)})
	}
	def := &sluicev1.Queue{Name: q.GetName(), Stream: q.GetStream(), VisibilityTimeoutMs: q.GetVisibilityTimeoutMs(),
		MaxReceives: q.GetMaxReceives(), DeadLetterStream: q.GetDeadLetterStream(), DelayMs: q.GetDelayMs(), Fifo: q.GetFifo(),
		Filter: q.GetFilter(), Subscription: q.GetSubscription(), CreatedAtMs: 1700000000000}
	if def.VisibilityTimeoutMs == 0 {
		def.VisibilityTimeoutMs = 30000
	}
	fc.mu.queues[def.Name] = &fakeQueue{def: def, parts: map[int32]*fakeQueuePart{}}
	fc.changedLocked()
	if f.After != 0 {
		return nil, fakeErr(f.After, "injected after the create", nil)
	}
	return &sluicev1.CreateQueueResponse{Queue: def}, nil
}

func (n *fakeNode) DeleteQueue(_ context.Context, req *sluicev1.DeleteQueueRequest) (*sluicev1.DeleteQueueResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.faultLocked(fakeCall{Node: n.idx, Method: "DeleteQueue"})
	if fc.mu.queues[req.GetName()] == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, fmt.Sprintf("queue %q not found", req.GetName()), nil)
	}
	delete(fc.mu.queues, req.GetName())
	fc.changedLocked()
	return &sluicev1.DeleteQueueResponse{}, nil
}

func (n *fakeNode) ListQueues(context.Context, *sluicev1.ListQueuesRequest) (*sluicev1.ListQueuesResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.faultLocked(fakeCall{Node: n.idx, Method: "ListQueues"})
	resp := &sluicev1.ListQueuesResponse{}
	for _, name := range slices.Sorted(maps.Keys(fc.mu.queues)) {
		resp.Queues = append(resp.Queues, fc.mu.queues[name].def)
	}
	return resp, nil
}

func (n *fakeNode) DescribeQueue(_ context.Context, req *sluicev1.DescribeQueueRequest) (*sluicev1.DescribeQueueResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.faultLocked(fakeCall{Node: n.idx, Method: "DescribeQueue"})
	q := fc.mu.queues[req.GetName()]
	if q == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, fmt.Sprintf("queue %q not found", req.GetName()), nil)
	}
	resp := &sluicev1.DescribeQueueResponse{Queue: q.def}
	now := time.Now()
	for i, p := range fc.mu.streams[q.def.Stream].parts {
		st := &sluicev1.QueuePartitionStats{Partition: int32(i), Floor: -1, HighWatermark: -1, Pending: -1, InFlight: -1}
		if p.leader == n.idx {
			qp := q.part(int32(i))
			st.HighWatermark, st.Floor, st.Pending, st.InFlight = p.end, p.start, 0, 0
			for st.Floor < p.end && qp.done[st.Floor] {
				st.Floor++
			}
			for off := p.start; off < p.end; off++ {
				if !qp.done[off] {
					st.Pending++
				}
			}
			for _, l := range qp.leases {
				if l.until.After(now) {
					st.InFlight++
				}
			}
		}
		resp.Partitions = append(resp.Partitions, st)
	}
	return resp, nil
}

// queuePart looks up the stream of a queue.
func (fc *fakeCluster) queueStream(name string) (string, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	q := fc.mu.queues[name]
	if q == nil {
		return "", fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, fmt.Sprintf("queue %q not found", name), nil)
	}
	return q.def.Stream, nil
}

// beginQueue is begin for a queue partition request: it returns with
// the lock held on success, and the queue's state of the partition.
func (n *fakeNode) beginQueue(ctx context.Context, method, queue string, part int32) (*fakePart, *fakeQueue, error) {
	stream, err := n.fc.queueStream(queue)
	if err != nil {
		return nil, nil, err
	}
	p, _, err := n.begin(ctx, method, stream, part, true)
	if err != nil {
		return nil, nil, err
	}
	q := n.fc.mu.queues[queue]
	if q == nil {
		n.fc.mu.Unlock()
		return nil, nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, "queue deleted", nil)
	}
	return p, q, nil
}

func (n *fakeNode) ReceiveMessages(ctx context.Context, req *sluicev1.ReceiveMessagesRequest) (*sluicev1.ReceiveMessagesResponse, error) {
	fc := n.fc
	if req.GetMax() < 1 || req.GetMax() > 1000 || req.GetWaitMs() < 0 || req.GetWaitMs() > 20000 {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "max or wait out of range", nil)
	}
	deadline := time.Now().Add(time.Duration(req.GetWaitMs()) * time.Millisecond)
	p, q, err := n.beginQueue(ctx, "ReceiveMessages", req.GetQueue(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	fc.mu.qreqs = append(fc.mu.qreqs, fakeQueueReq{Method: "ReceiveMessages", Node: n.idx, Queue: req.GetQueue(),
		Partition: req.GetPartition(), Max: req.GetMax(), WaitMs: req.GetWaitMs()})
	for {
		msgs, next := fc.leaseLocked(p, q, req.GetPartition(), int(req.GetMax()))
		changed := fc.mu.changed
		fc.mu.Unlock()
		left := time.Until(deadline)
		if len(msgs) > 0 || left <= 0 {
			return &sluicev1.ReceiveMessagesResponse{Messages: msgs}, nil
		}
		if !next.IsZero() {
			left = min(left, time.Until(next))
		}
		wait(ctx, changed, left)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fc.mu.Lock()
		if q = fc.mu.queues[req.GetQueue()]; q == nil {
			fc.mu.Unlock()
			return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, "queue deleted", nil)
		}
		if p.leader != n.idx {
			leader := fc.nodes[p.leader]
			fc.mu.Unlock()
			return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, n.id+" does not lead", leader)
		}
	}
}

// leaseLocked leases up to max visible messages of a partition; next is
// when the next invisible one becomes visible (zero: none pending).
func (fc *fakeCluster) leaseLocked(p *fakePart, q *fakeQueue, part int32, max int) (msgs []*sluicev1.QueueMessage, next time.Time) {
	qp := q.part(part)
	now := time.Now()
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, b := range p.batches {
		recs, err := batch.DecodeRecords(b, nil, 1<<30)
		if err != nil {
			fc.t.Errorf("stored batch does not decode: %v", err)
			return nil, next
		}
		for _, r := range recs {
			if len(msgs) == max {
				return msgs, next
			}
			off := r.Offset
			if qp.done[off] {
				continue
			}
			if l := qp.leases[off]; l != nil && l.until.After(now) {
				later(l.until)
				continue
			}
			if t := qp.notBefore[off]; t.After(now) {
				later(t)
				continue
			}
			delay := time.Duration(q.def.DelayMs) * time.Millisecond
			for _, h := range r.Headers {
				if h.Key == DelayHeader {
					ms, _ := strconv.ParseInt(string(h.Value), 10, 64)
					delay = time.Duration(ms) * time.Millisecond
					break
				}
			}
			if t := time.UnixMilli(r.Timestamp).Add(delay); t.After(now) {
				later(t)
				continue
			}
			fc.mu.receipts++
			receipt := fmt.Sprintf("r%d.p%d.o%d", fc.mu.receipts, part, off)
			qp.counts[off]++
			qp.leases[off] = &fakeLease{receipt: receipt, until: now.Add(time.Duration(q.def.VisibilityTimeoutMs) * time.Millisecond)}
			qp.receipts[receipt] = off
			delete(qp.notBefore, off)
			m := &sluicev1.QueueMessage{Partition: part, Offset: off, TimestampMs: r.Timestamp, Key: r.Key,
				KeyNull: r.Key == nil, Value: r.Value, Receipt: receipt, ReceiveCount: qp.counts[off]}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, &sluicev1.Header{Key: h.Key, Value: h.Value})
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, next
}

// settle runs one ack, nack or extend request: fn is called for each
// receipt with a live lease; other receipts fail with INVALID_RECEIPT
// (but an ack of a done message succeeds).
func (n *fakeNode) settle(ctx context.Context, req fakeQueueReq, fn func(qp *fakeQueuePart, off int64, l *fakeLease, now time.Time)) ([]*sluicev1.ReceiptResult, error) {
	fc := n.fc
	_, q, err := n.beginQueue(ctx, req.Method, req.Queue, req.Partition)
	if err != nil {
		return nil, err
	}
	defer fc.mu.Unlock()
	req.Node = n.idx
	fc.mu.qreqs = append(fc.mu.qreqs, req)
	if len(req.Receipts) == 0 || len(req.Receipts) > 1000 {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "receipts: 1 to 1000", nil)
	}
	qp := q.part(req.Partition)
	now := time.Now()
	var out []*sluicev1.ReceiptResult
	for _, rc := range req.Receipts {
		res := &sluicev1.ReceiptResult{Receipt: rc}
		off, known := qp.receipts[rc]
		l := qp.leases[off]
		code, faulty := fc.mu.receiptFaults[rc]
		delete(fc.mu.receiptFaults, rc)
		switch {
		case faulty:
			res.Error = &sluicev1.ErrorDetail{Code: code, Retriable: true}
			res.ErrorMessage = "injected"
		case known && l != nil && l.receipt == rc && l.until.After(now):
			fn(qp, off, l, now)
		case known && req.Method == "AckMessages" && qp.done[off]:
		default:
			res.Error = &sluicev1.ErrorDetail{Code: sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT}
			res.ErrorMessage = fmt.Sprintf("receipt %q: no live lease", rc)
		}
		out = append(out, res)
	}
	fc.changedLocked()
	return out, nil
}

func (n *fakeNode) AckMessages(ctx context.Context, req *sluicev1.AckMessagesRequest) (*sluicev1.AckMessagesResponse, error) {
	res, err := n.settle(ctx, fakeQueueReq{Method: "AckMessages", Queue: req.GetQueue(), Partition: req.GetPartition(),
		Receipts: req.GetReceipts()}, func(qp *fakeQueuePart, off int64, _ *fakeLease, _ time.Time) {
		qp.done[off] = true
		delete(qp.leases, off)
	})
	return &sluicev1.AckMessagesResponse{Results: res}, err
}

func (n *fakeNode) NackMessages(ctx context.Context, req *sluicev1.NackMessagesRequest) (*sluicev1.NackMessagesResponse, error) {
	res, err := n.settle(ctx, fakeQueueReq{Method: "NackMessages", Queue: req.GetQueue(), Partition: req.GetPartition(),
		Receipts: req.GetReceipts(), DelayMs: req.GetDelayMs()}, func(qp *fakeQueuePart, off int64, _ *fakeLease, now time.Time) {
		delete(qp.leases, off)
		if req.GetDelayMs() > 0 {
			qp.notBefore[off] = now.Add(time.Duration(req.GetDelayMs()) * time.Millisecond)
		}
	})
	return &sluicev1.NackMessagesResponse{Results: res}, err
}

func (n *fakeNode) ExtendMessages(ctx context.Context, req *sluicev1.ExtendMessagesRequest) (*sluicev1.ExtendMessagesResponse, error) {
	res, err := n.settle(ctx, fakeQueueReq{Method: "ExtendMessages", Queue: req.GetQueue(), Partition: req.GetPartition(),
		Receipts: req.GetReceipts(), VisibilityMs: req.GetVisibilityMs()}, func(_ *fakeQueuePart, _ int64, l *fakeLease, now time.Time) {
		l.until = now.Add(time.Duration(req.GetVisibilityMs()) * time.Millisecond)
	})
	return &sluicev1.ExtendMessagesResponse{Results: res}, err
}
