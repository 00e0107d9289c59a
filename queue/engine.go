// Package queue runs the queue view on a partition's leader: receive
// (lease visible messages for the visibility timeout), ack, nack and
// extend, over the partition's log and its replicated ack state
// (partition.Replica.UpdateQueue; consumergroup.AckState). Leases are the
// engine's memory (consumergroup.Leases), so a new leader delivers again
// what was in flight: at-least-once. The design is in DESIGN.md ("Queues
// and topics").
package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/partition"
)

// Limits and defaults.
const (
	// MaxReceive bounds the messages of one receive (SQS: 10; we allow
	// more for throughput).
	MaxReceive = 1000
	// MaxDelay bounds a message's delivery delay (SQS: 15 minutes).
	MaxDelay = 15 * time.Minute
	// MaxVisibility bounds a lease (SQS: 12 hours).
	MaxVisibility = 12 * time.Hour
	// DelayHeader is the record header that carries a message's own
	// delivery delay, in milliseconds as decimal text; it overrides the
	// queue's default delay.
	DelayHeader = "sluice-delay-ms"
	// DeadLetterQueueHeader names the queue a record in a dead-letter
	// stream was dead-lettered from; redrive moves the records carrying
	// a queue's name back to it.
	DeadLetterQueueHeader = "sluice-dead-letter-queue"
	// DeadLetterSourceHeader tells where a dead-lettered record was:
	// STREAM/PARTITION/OFFSET.
	DeadLetterSourceHeader = "sluice-dead-letter-source"

	// forgetEvery is how often a receive drops expired leases and the
	// state of done offsets (walking every lease: not on every receive).
	forgetEvery = 100 * time.Millisecond

	// scanBytes bounds the log bytes one receive reads.
	scanBytes = 4 << 20
	// maxDecompressed bounds one compressed batch's records.
	maxDecompressed = 96 << 20
)

// Errors of the engine.
var (
	// ErrInvalidArgument reports a receive, nack or extend argument out of
	// range.
	ErrInvalidArgument = errors.New("queue: invalid argument")
	// ErrWrongPartition reports a receipt of another queue or partition
	// than the engine's.
	ErrWrongPartition = errors.New("queue: receipt of another queue or partition")
)

// Config is a queue's delivery settings.
type Config struct {
	Name        string
	Visibility  time.Duration // lease length; 1 s to MaxVisibility
	MaxReceives uint32        // 0: unlimited; else dead-letter after this many
	Delay       time.Duration // default delivery delay, 0 to MaxDelay
	FIFO        bool
	Filter      *consumergroup.Filter // nil: every record
}

// Partition is what the engine uses of a partition replica
// (*partition.Replica is one).
type Partition interface {
	Fetch(ctx context.Context, dst []byte, offset int64, maxBytes int) ([]byte, error)
	HighWatermark() int64
	LogStartOffset() int64
	UpdateQueue(ctx context.Context, queue string, ops []partition.QueueOp) ([]partition.QueueOpResult, error)
	QueueState(queue string, fn func(s *consumergroup.AckState)) bool
}

// Engine is one queue on one partition, on the partition's leader. Its
// methods are safe for concurrent use; receives and lease changes are
// serialized by its lock.
type Engine struct {
	cfg   Config
	p     Partition
	part  int32  // the partition's number in its stream
	epoch uint64 // the leadership's raft term: receipts name it
	now   func() time.Time

	mu     sync.Mutex
	leases *consumergroup.Leases // Protected by mu.
	// fresh and recheck let a receive skip what it has seen (protected by
	// mu): every pending offset below fresh was examined by an earlier
	// receive and passed over (leased, delayed, held back by a nack), and
	// none of those can be visible before recheck. Until then a receive
	// starts reading at fresh instead of the floor. FIFO queues always
	// start at the floor (an ack can unblock a key at any time).
	fresh   int64
	recheck time.Time
	// counts are the receives counted by this engine only (protected by
	// mu): a queue without MaxReceives does not replicate its receive
	// counts (nothing depends on them but the count a message is
	// returned with), so a receive costs no raft command; after a
	// failover the counts start again from what was replicated.
	counts     map[int64]uint32
	countFloor int64     // counts below it were pruned
	forgot     time.Time // when expired leases were last dropped
}

// NewEngine returns the engine of queue cfg on partition part (its number
// in the stream), for the leadership of raft term epoch.
func NewEngine(cfg Config, p Partition, part int32, epoch uint64, now func() time.Time) (*Engine, error) {
	if err := consumergroup.ValidGroupName(cfg.Name); err != nil {
		return nil, fmt.Errorf("%w: queue name: %v", ErrInvalidArgument, err)
	}
	if cfg.Visibility < time.Second || cfg.Visibility > MaxVisibility {
		return nil, fmt.Errorf("%w: visibility timeout %v outside [1s, %v]", ErrInvalidArgument, cfg.Visibility, MaxVisibility)
	}
	if cfg.Delay < 0 || cfg.Delay > MaxDelay {
		return nil, fmt.Errorf("%w: delay %v outside [0, %v]", ErrInvalidArgument, cfg.Delay, MaxDelay)
	}
	if now == nil {
		now = time.Now
	}
	return &Engine{cfg: cfg, p: p, part: part, epoch: epoch, now: now, leases: consumergroup.NewLeases(epoch),
		counts: map[int64]uint32{}}, nil
}

// Message is a received message.
type Message struct {
	Record       batch.Record
	Receipt      string
	ReceiveCount uint32
}

// Result is what a receive gives.
type Result struct {
	Messages []Message
	// DeadLetter are records received MaxReceives times already: the
	// caller writes them to the dead-letter stream and then calls
	// DeadLettered with their offsets.
	DeadLetter []batch.Record
	// NextVisible is the earliest time a message passed over becomes
	// visible; zero when none was.
	NextVisible time.Time
}

// Receive leases up to max visible messages (oldest first) for the
// visibility timeout and counts their receives in the replicated state.
// It does not wait: an empty Result means nothing is visible now (see
// Wait).
func (e *Engine) Receive(ctx context.Context, limit int) (Result, error) {
	if limit < 1 || limit > MaxReceive {
		return Result{}, fmt.Errorf("%w: receive %d messages (1 to %d)", ErrInvalidArgument, limit, MaxReceive)
	}
	if err := e.init(ctx); err != nil {
		return Result{}, err
	}
	e.mu.Lock()
	now := e.now()
	var floor int64
	e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) { floor = s.Floor() })
	if now.Sub(e.forgot) >= forgetEvery || floor >= e.countFloor+1024 {
		// Bounds the tables; expired leases are not live meanwhile.
		e.leases.Forget(floor, now)
		e.pruneCounts(floor)
		e.forgot = now
	}
	start := floor
	full := e.cfg.FIFO || e.fresh <= floor || !now.Before(e.recheck)
	if !full {
		start = e.fresh
	}
	// Read until limit messages could be delivered (a superset of what
	// Select delivers: FIFO may hold some back).
	candidates, counted := 0, 0
	recs, err := e.scanUntil(ctx, start, func(recs []batch.Record) bool {
		e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) {
			for _, r := range recs[counted:] {
				if !s.Done(r.Offset) && e.leases.Visible(r.Offset, now) && !now.Before(e.visibleAt(&r)) &&
					(e.cfg.Filter == nil || e.cfg.Filter.Match(r.Key, headerOf(&r))) {
					candidates++
				}
			}
		})
		counted = len(recs)
		return candidates >= limit
	})
	if err != nil {
		e.mu.Unlock()
		return Result{}, err
	}
	msgs := make([]consumergroup.Message, 0, len(recs))
	// byOffset finds a scanned record (recs are in offset order).
	byOffset := func(off int64) *batch.Record {
		i, _ := slices.BinarySearchFunc(recs, off, func(r batch.Record, off int64) int { return cmp.Compare(r.Offset, off) })
		return &recs[i]
	}
	var filtered []partition.QueueOp
	for i := range recs {
		r := &recs[i]
		if e.cfg.Filter != nil && !e.cfg.Filter.Match(r.Key, headerOf(r)) {
			// Acked as done: runs of them as one range.
			if n := len(filtered); n > 0 && filtered[n-1].End == r.Offset {
				filtered[n-1].End++
			} else {
				filtered = append(filtered, partition.QueueOp{Kind: partition.QueueAckRange, Offset: r.Offset, End: r.Offset + 1})
			}
			continue
		}
		msgs = append(msgs, consumergroup.Message{Offset: r.Offset, Key: r.Key, VisibleAt: e.visibleAt(r)})
	}
	var sel consumergroup.Selection
	e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) {
		sel = consumergroup.Select(msgs, s, e.leases, now, consumergroup.SelectConfig{Max: limit, FIFO: e.cfg.FIFO, MaxReceives: e.cfg.MaxReceives})
	})
	// What this receive examined and passed over becomes visible at
	// sel.NextVisible at the soonest; what it delivers, at the lease's end.
	if full {
		e.fresh, e.recheck = start, time.Time{}
	}
	if len(recs) > 0 && len(sel.Deliver) < limit {
		sel.Examined = max(sel.Examined, recs[len(recs)-1].Offset+1) // filtered records at the end
	}
	e.fresh = max(e.fresh, sel.Examined)
	e.noteRecheck(sel.NextVisible)
	if len(sel.Deliver) > 0 {
		e.noteRecheck(now.Add(e.cfg.Visibility))
	}
	// Lease first, under the lock, so that concurrent receives pick other
	// messages; replicate the receive counts after, without it, so that
	// they share raft entries.
	ops := filtered
	leases := map[int64]*consumergroup.Lease{}
	replicate := e.cfg.MaxReceives > 0
	var local []Message     // counted here, not replicated
	var replicated []uint32 // the replicated counts of sel.Deliver, read in one look
	if !replicate {
		e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) {
			for _, off := range sel.Deliver {
				replicated = append(replicated, s.ReceiveCount(off))
			}
		})
	}
	for i, off := range sel.Deliver {
		ls := e.leases.Lease(off, byOffset(off).Key, now, e.cfg.Visibility)
		leases[off] = ls
		if !replicate {
			e.counts[off]++
			var count uint32
			if i < len(replicated) {
				count = replicated[i]
			}
			receipt := consumergroup.Receipt{Queue: e.cfg.Name, Partition: e.part, Epoch: e.epoch, Offset: off, Nonce: ls.Nonce}
			local = append(local, Message{Record: *byOffset(off), Receipt: receipt.String(), ReceiveCount: count + e.counts[off]})
			continue
		}
		ops = append(ops, partition.QueueOp{Kind: partition.QueueReceive, Offset: off})
	}
	next := sel.NextVisible
	if !full && (next.IsZero() || e.recheck.Before(next)) {
		next = e.recheck // what was skipped may become visible then
	}
	e.mu.Unlock()
	res := Result{NextVisible: next, Messages: local}
	for _, off := range sel.DeadLetter {
		res.DeadLetter = append(res.DeadLetter, *byOffset(off))
	}
	if len(ops) == 0 {
		return res, nil
	}
	results, err := e.update(ctx, ops)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, op := range ops {
		if op.Kind != partition.QueueReceive {
			continue
		}
		ls := leases[op.Offset]
		if err != nil || results[i].Err != nil || results[i].Count == 0 {
			// Not counted (or done meanwhile): give the lease back.
			if cur, ok := e.leases.Leased(op.Offset, now); ok && cur == ls {
				e.leases.Release(op.Offset)
				e.noteRecheck(now) // visible again: the next receive looks from the floor
			}
			continue
		}
		r := byOffset(op.Offset)
		receipt := consumergroup.Receipt{Queue: e.cfg.Name, Partition: e.part, Epoch: e.epoch, Offset: op.Offset, Nonce: ls.Nonce}
		res.Messages = append(res.Messages, Message{Record: *r, Receipt: receipt.String(), ReceiveCount: results[i].Count})
	}
	if err != nil {
		for _, m := range local { // give the leases back: visible again
			if cur, ok := e.leases.Leased(m.Record.Offset, now); ok && cur == leases[m.Record.Offset] {
				e.leases.Release(m.Record.Offset)
			}
		}
		e.noteRecheck(now)
		return Result{}, err
	}
	return res, nil
}

// pruneCounts drops the local receive counts below floor (done), every
// so often. Holds mu.
func (e *Engine) pruneCounts(floor int64) {
	if floor < e.countFloor+1024 && len(e.counts) < 2*consumergroup.MaxAckWindow {
		return
	}
	for off := range e.counts {
		if off < floor {
			delete(e.counts, off)
		}
	}
	e.countFloor = floor
}

// noteRecheck moves recheck earlier to t (zero: no change). Holds mu.
func (e *Engine) noteRecheck(t time.Time) {
	if t.IsZero() {
		return
	}
	if e.recheck.IsZero() || t.Before(e.recheck) {
		e.recheck = t
	}
}

// init creates the queue's state in the partition at its log start, if it
// has none.
func (e *Engine) init(ctx context.Context) error {
	if e.p.QueueState(e.cfg.Name, func(*consumergroup.AckState) {}) {
		return nil
	}
	_, err := e.update(ctx, []partition.QueueOp{{Kind: partition.QueueInit, Offset: e.p.LogStartOffset()}})
	return err
}

// update replicates ops, partition.MaxQueueOps to a command, and
// returns their results.
func (e *Engine) update(ctx context.Context, ops []partition.QueueOp) ([]partition.QueueOpResult, error) {
	out := make([]partition.QueueOpResult, 0, len(ops))
	for len(ops) > 0 {
		chunk := ops[:min(len(ops), partition.MaxQueueOps)]
		ops = ops[len(chunk):]
		res, err := e.p.UpdateQueue(ctx, e.cfg.Name, chunk)
		if err != nil {
			return nil, err
		}
		if len(res) != len(chunk) {
			return nil, fmt.Errorf("queue %s: %d results for %d ops", e.cfg.Name, len(res), len(chunk))
		}
		out = append(out, res...)
	}
	return out, nil
}

// scan reads the records from floor on, up to scanBytes of log and
// consumergroup.MaxAckWindow offsets above the floor.
func (e *Engine) scan(ctx context.Context, floor int64) ([]batch.Record, error) {
	return e.scanUntil(ctx, floor, nil)
}

// scanUntil is scan, stopping early once enough(records so far) holds
// (nil: never). It reads small chunks first, doubling up to 1 MiB, so
// that a receive of a few messages from a long backlog reads little.
func (e *Engine) scanUntil(ctx context.Context, floor int64, enough func([]batch.Record) bool) ([]batch.Record, error) {
	hw := min(e.p.HighWatermark(), floor+consumergroup.MaxAckWindow)
	var out []batch.Record
	read, chunk := 0, 64<<10
	for off := max(floor, e.p.LogStartOffset()); off < hw && read < scanBytes; chunk = min(2*chunk, 1<<20) {
		// A zero-wait read: a context that is already done returns at
		// the high watermark instead of waiting. Records alias buf, so
		// each chunk has its own.
		buf, err := e.p.Fetch(doneCtx{ctx}, nil, off, min(chunk, scanBytes-read))
		if err != nil {
			return nil, fmt.Errorf("queue %s: read at %d: %w", e.cfg.Name, off, err)
		}
		if len(buf) == 0 {
			break
		}
		read += len(buf)
		next, n := off, len(out)
		for b := buf; len(b) > 0; {
			h, err := batch.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				return nil, fmt.Errorf("queue %s: read at %d: %w", e.cfg.Name, next, errors.Join(err, batch.ErrTruncated))
			}
			if h.LastOffset() >= off && !h.Control() {
				recs, err := batch.DecodeRecords(b[:h.Size()], nil, maxDecompressed)
				if err != nil {
					return nil, fmt.Errorf("queue %s: batch at %d: %w", e.cfg.Name, h.BaseOffset, err)
				}
				for _, r := range recs {
					if r.Offset >= off && r.Offset < hw {
						out = append(out, r)
					}
				}
			}
			next = max(next, h.LastOffset()+1)
			b = b[h.Size():]
		}
		off = next
		if enough != nil && len(out) > n && enough(out) {
			break
		}
	}
	return out, nil
}

// doneCtx is a context whose Done channel is closed, with ctx's values
// and error: Fetch at the high watermark returns at once.
type doneCtx struct{ context.Context }

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneCtx) Done() <-chan struct{} { return closedCh }
func (doneCtx) Err() error            { return context.Canceled }

// visibleAt is when r's delivery delay ends: its timestamp plus its own
// delay header, or the queue's delay.
func (e *Engine) visibleAt(r *batch.Record) time.Time {
	d := e.cfg.Delay
	for _, h := range r.Headers {
		if h.Key == DelayHeader {
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil && ms >= 0 {
				d = min(time.Duration(ms)*time.Millisecond, MaxDelay)
			}
			break
		}
	}
	if d == 0 {
		return time.Time{}
	}
	return time.UnixMilli(r.Timestamp).Add(d)
}

func headerOf(r *batch.Record) func(string) ([]byte, bool) {
	return func(name string) ([]byte, bool) {
		for _, h := range r.Headers {
			if h.Key == name {
				return h.Value, true
			}
		}
		return nil, false
	}
}

// lease returns the live lease a receipt names.
func (e *Engine) lease(receipt string, now time.Time) (*consumergroup.Lease, consumergroup.Receipt, error) {
	r, err := consumergroup.ParseReceipt(receipt)
	if err != nil {
		return nil, r, err
	}
	if r.Queue != e.cfg.Name || r.Partition != e.part {
		return nil, r, fmt.Errorf("%w: queue %q partition %d, this is %q partition %d", ErrWrongPartition, r.Queue, r.Partition, e.cfg.Name, e.part)
	}
	ls, err := e.leases.Find(r, now)
	return ls, r, err
}

// Ack marks the receipt's message done, for good. Acking a message that
// is done already succeeds (acks are idempotent); a receipt whose lease
// expired, or of an earlier leader, is consumergroup.ErrInvalidReceipt
// while the message is pending.
func (e *Engine) Ack(ctx context.Context, receipt string) error {
	return e.AckAll(ctx, []string{receipt})[0]
}

// AckAll acks several receipts in one replicated command, and returns an
// error (or nil) per receipt. It does not hold the engine's lock while it
// replicates, so concurrent acks share raft entries too.
func (e *Engine) AckAll(ctx context.Context, receipts []string) []error {
	errs := make([]error, len(receipts))
	type pending struct {
		i  int
		ls *consumergroup.Lease
		r  consumergroup.Receipt
	}
	var todo []pending
	e.mu.Lock()
	now := e.now()
	for i, rc := range receipts {
		ls, r, err := e.lease(rc, now)
		if err == nil {
			todo = append(todo, pending{i, ls, r})
			continue
		}
		done := false
		if r.Queue == e.cfg.Name && r.Partition == e.part {
			e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) { done = s.Done(r.Offset) })
		}
		if !done {
			errs[i] = err
		}
	}
	e.mu.Unlock()
	if len(todo) == 0 {
		return errs
	}
	ops := make([]partition.QueueOp, len(todo))
	for k, p := range todo {
		ops[k] = partition.QueueOp{Kind: partition.QueueAck, Offset: p.r.Offset}
	}
	res, err := e.update(ctx, ops)
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, p := range todo {
		switch {
		case err != nil:
			errs[p.i] = err
		case res[k].Err != nil:
			errs[p.i] = res[k].Err
		default:
			if cur, ok := e.leases.Leased(p.r.Offset, e.now()); !ok || cur == p.ls {
				e.leases.Release(p.r.Offset) // not a lease a later receive took
			}
		}
	}
	return errs
}

// Nack gives the receipt's message back: visible again after delay (0 to
// MaxDelay).
func (e *Engine) Nack(receipt string, delay time.Duration) error {
	if delay < 0 || delay > MaxDelay {
		return fmt.Errorf("%w: nack delay %v outside [0, %v]", ErrInvalidArgument, delay, MaxDelay)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	ls, _, err := e.lease(receipt, now)
	if err != nil {
		return err
	}
	e.leases.Nack(ls, now, delay)
	e.noteRecheck(now.Add(delay))
	return nil
}

// Extend sets the receipt's lease to end visibility from now (0: now, the
// message is visible again at once; at most MaxVisibility).
func (e *Engine) Extend(receipt string, visibility time.Duration) error {
	if visibility < 0 || visibility > MaxVisibility {
		return fmt.Errorf("%w: visibility %v outside [0, %v]", ErrInvalidArgument, visibility, MaxVisibility)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	ls, _, err := e.lease(receipt, now)
	if err != nil {
		return err
	}
	e.leases.Extend(ls, now, visibility)
	e.noteRecheck(now.Add(visibility))
	return nil
}

// Purge marks every message below the high watermark done (delivered or
// not) and drops their leases. It returns how many were pending.
func (e *Engine) Purge(ctx context.Context) (int64, error) {
	if err := e.init(ctx); err != nil {
		return 0, err
	}
	hw := e.p.HighWatermark()
	var floor, doneAbove int64
	e.p.QueueState(e.cfg.Name, func(s *consumergroup.AckState) { floor, doneAbove = s.Floor(), s.DoneAbove() })
	if floor >= hw {
		return 0, nil
	}
	res, err := e.update(ctx, []partition.QueueOp{{Kind: partition.QueueAckRange, Offset: floor, End: hw}})
	if err != nil {
		return 0, err
	}
	if res[0].Err != nil {
		return 0, res[0].Err
	}
	e.mu.Lock()
	e.leases.Forget(hw, e.now())
	e.mu.Unlock()
	return max(0, hw-floor-doneAbove), nil
}

// InFlight returns the number of live leases.
func (e *Engine) InFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leases.InFlight(e.now())
}

// DeadLettered marks offsets done after the caller wrote their records to
// the dead-letter stream.
func (e *Engine) DeadLettered(ctx context.Context, offsets []int64) error {
	ops := make([]partition.QueueOp, len(offsets))
	for i, off := range offsets {
		ops[i] = partition.QueueOp{Kind: partition.QueueAck, Offset: off}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res, err := e.update(ctx, ops)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.Err != nil {
			return fmt.Errorf("queue %s: dead-lettered offset %d: %w", e.cfg.Name, offsets[i], r.Err)
		}
		e.leases.Release(offsets[i])
	}
	return nil
}
