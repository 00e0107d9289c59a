package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// sinkKey names a partition of a stream.
type sinkKey struct {
	stream string
	part   int32
}

// bstate is where a batch is in its life.
type bstate uint8

const (
	stateQueued   bstate = iota // accumulating or waiting to be sent
	stateInFlight               // one attempt is on the wire
	stateFailed                 // the last attempt failed retriably; resend at retryAt
	stateAcked                  // written at base
	stateFatal                  // failed for good with err
)

// pbatch is one producer batch of a partition.
type pbatch struct {
	id       uint64 // per sink, from 1
	recs     []batch.Record
	cbs      []func(RecordResult, error)
	bytes    int       // buffer bytes reserved by its records
	created  time.Time // first record added: linger runs from here
	deadline time.Time // DeliveryTimeout after created

	// Owned by the sink's goroutine once taken from the queue.
	data       []byte // the encoded batch; retries send these very bytes
	pid        int64  // producer id in data (-1: none)
	state      bstate
	attempts   int
	retryAt    time.Time
	lastSend   uint64 // sink.sends at the last attempt
	failedAt   uint64 // sink.sends when the last attempt failed
	headAtSend bool   // every earlier batch was acked when the last attempt went out
	base       int64  // base offset once acked
	err        error  // why it failed (last retriable error, or the fatal one)
}

// sendResult is the outcome of one attempt.
type sendResult struct {
	b    *pbatch
	resp *sluicev1.ProduceResponse
	err  error
}

// sink sends the batches of one partition, in order. Produce adds records
// under mu; one goroutine (run) owns everything else: it seals batches,
// encodes them with sequence numbers, sends up to MaxInFlight at once,
// retries, and delivers results in order.
//
// Ordering with idempotence: the server appends a producer's batch only if
// its sequence follows the last one written (a gap is
// OUT_OF_ORDER_SEQUENCE, nothing written) and answers a retry of one of
// its last 5 batches with the original offsets. The sink keeps at most
// MaxInFlight (<= 5) batches sent and not delivered, so any retry is within
// that window, and the log holds the batches in sequence order whatever
// order the attempts arrive in. The sink resends a failed batch only once
// every batch before it is acked or was itself sent after the failure, so
// that a batch refused for a gap waits for the batch that fills the gap.
// OUT_OF_ORDER_SEQUENCE is retriable when some earlier batch was not yet
// acked at send time (the attempts crossed); otherwise it is final.
//
// A batch that fails for good leaves a gap that its producer id can never
// fill, so later batches of the partition cannot be written under it.
// The sink then stops sending past it, lets the batches before it settle,
// delivers them and the failure, takes a new producer id, and re-encodes
// the batches after it from sequence 0. Attempts under the old id can no
// longer be written (they follow the gap), so nothing is written twice.
type sink struct {
	p       *Producer
	key     sinkKey
	wake    chan struct{}   // cap 1: something to do
	results chan sendResult // cap MaxInFlight: never blocks an attempt

	mu struct {
		sync.Mutex
		open   *pbatch   // accumulating records
		full   []*pbatch // sealed by size, waiting to be sent
		nextID uint64
		dead   bool // the goroutine has exited: add refuses
	}

	// Owned by the run goroutine.
	out      []*pbatch // taken from the queue, not yet delivered, in order; len <= MaxInFlight
	inflight int
	sends    uint64
	havePID  bool
	pid      int64
	epoch    int16
	seq      int32 // the next sequence number
	broken   bool  // a sent batch failed for good: re-sequence what follows it
}

func newSink(p *Producer, k sinkKey) *sink {
	return &sink{p: p, key: k, wake: make(chan struct{}, 1), results: make(chan sendResult, p.cfg.MaxInFlight)}
}

// signal wakes the sink's goroutine.
func (s *sink) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// add appends a record to the open batch, sealing it first when the
// record does not fit. It returns the id of the batch the record went to,
// or false when the sink has stopped.
func (s *sink) add(r batch.Record, size int, cb func(RecordResult, error)) (uint64, bool) {
	s.mu.Lock()
	if s.mu.dead {
		s.mu.Unlock()
		return 0, false
	}
	wake := false
	if b := s.mu.open; b != nil && b.bytes+size > s.p.cfg.BatchBytes {
		s.mu.full = append(s.mu.full, b)
		s.mu.open, wake = nil, true
	}
	if s.mu.open == nil {
		now := time.Now()
		s.mu.nextID++
		s.mu.open = &pbatch{id: s.mu.nextID, created: now, deadline: now.Add(s.p.cfg.DeliveryTimeout), pid: -1}
		wake = true
	}
	b := s.mu.open
	b.recs = append(b.recs, r)
	b.cbs = append(b.cbs, cb)
	b.bytes += size
	if b.bytes >= s.p.cfg.BatchBytes {
		s.mu.full = append(s.mu.full, b)
		s.mu.open = nil
	}
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return b.id, true
}

// openID returns the id of the open batch, or 0.
func (s *sink) openID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.open == nil {
		return 0
	}
	return s.mu.open.id
}

// take returns the next batch to send: a full one, or the open one once
// its linger has passed (at once while flushing). When the open batch must
// still wait it lowers *next to when it may go.
func (s *sink) take(now time.Time, next *time.Time) *pbatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.readyLocked(now, next) {
		return nil
	}
	if len(s.mu.full) > 0 {
		b := s.mu.full[0]
		s.mu.full[0] = nil
		s.mu.full = s.mu.full[1:]
		return b
	}
	b := s.mu.open
	s.mu.open = nil
	return b
}

// ready reports whether take would return a batch.
func (s *sink) ready(now time.Time, next *time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyLocked(now, next)
}

func (s *sink) readyLocked(now time.Time, next *time.Time) bool {
	if len(s.mu.full) > 0 {
		return true
	}
	b := s.mu.open
	if b == nil {
		return false
	}
	if due := b.created.Add(s.p.cfg.Linger); s.p.cfg.Linger > 0 && now.Before(due) && s.p.flushing.Load() == 0 {
		wakeAt(next, due)
		return false
	}
	return true
}

// wakeAt lowers *next to t.
func wakeAt(next *time.Time, t time.Time) {
	if next.IsZero() || t.Before(*next) {
		*next = t
	}
}

// run is the sink's goroutine. It returns when ctx ends (the producer
// gave up waiting at Close), failing what is left.
func (s *sink) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.step(ctx, time.Now())
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			s.abort()
			return
		case <-s.wake:
		case r := <-s.results:
			s.handle(r, time.Now())
		case <-timer.C:
		}
	}
}

// step does what can be done now and returns when it next needs to run
// without being woken (zero: only when woken).
func (s *sink) step(ctx context.Context, now time.Time) time.Time {
	var next time.Time
	for _, b := range s.out {
		if b.state == stateFailed && !now.Before(b.deadline) {
			s.fail(b, deliveryTimeout(s.p.cfg.DeliveryTimeout, b.err))
		}
	}
	s.deliver()
	if s.broken && s.inflight == 0 && !s.anyFatal() {
		if err := s.resequence(ctx, now); err != nil {
			wakeAt(&next, now.Add(s.p.c.backoff(1)))
		}
	}
	// Resend failed batches in order. While broken, only those before the
	// batch that failed for good: what follows it waits for re-sequencing.
	limit := len(s.out)
	if s.broken {
		limit = 0
		for limit < len(s.out) && s.out[limit].state != stateFatal {
			limit++
		}
		if limit == len(s.out) {
			limit = 0
		}
	}
	for i, b := range s.out[:limit] {
		if b.state != stateFailed {
			continue
		}
		if !s.mayResend(i) {
			break
		}
		if now.Before(b.retryAt) {
			wakeAt(&next, b.retryAt)
			break
		}
		s.send(ctx, i)
	}
	// New batches wait until every failed one has been resent.
	blocked := s.broken
	for _, b := range s.out {
		blocked = blocked || b.state == stateFailed
	}
	for !blocked && len(s.out) < s.p.cfg.MaxInFlight && s.ready(now, &next) {
		if !s.p.cfg.DisableIdempotence && !s.havePID {
			var err error
			if s.pid, s.epoch, err = s.p.producerID(ctx); err != nil {
				expire := now
				if errors.Is(err, ErrClosed) {
					expire = time.Time{} // the client is closed: fail them all now
				}
				s.expireQueued(expire, err)
				wakeAt(&next, now.Add(s.p.c.backoff(2)))
				break
			}
			s.havePID = true
		}
		b := s.take(now, &next)
		if b == nil {
			break
		}
		s.out = append(s.out, b)
		if !now.Before(b.deadline) { // waited too long in the queue: never sent
			b.state, b.err = stateFatal, deliveryTimeout(s.p.cfg.DeliveryTimeout, nil)
			continue
		}
		if err := s.encode(b); err != nil {
			b.state, b.err = stateFatal, err
			continue
		}
		s.send(ctx, len(s.out)-1)
	}
	s.deliver()
	return next
}

// mayResend reports whether the failed batch out[i] may go again: every
// batch before it is acked, settled for good, or was sent after it failed.
func (s *sink) mayResend(i int) bool {
	b := s.out[i]
	for _, a := range s.out[:i] {
		switch {
		case a.state == stateAcked, a.state == stateFatal:
		case a.state == stateInFlight && a.lastSend > b.failedAt:
		default:
			return false
		}
	}
	return true
}

// anyFatal reports whether a batch that failed for good is still waiting
// for earlier ones to be delivered.
func (s *sink) anyFatal() bool {
	for _, b := range s.out {
		if b.state == stateFatal {
			return true
		}
	}
	return false
}

// encode encodes b with the next sequence numbers of the sink's producer
// id, or without one when idempotence is off.
func (s *sink) encode(b *pbatch) error {
	opts := batch.EncodeOptions{Codec: s.p.codec, ProducerID: -1, PartitionLeaderEpoch: -1}
	if !s.p.cfg.DisableIdempotence {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = s.pid, s.epoch, s.seq
	}
	data, err := batch.Append(nil, b.recs, opts)
	if err != nil {
		return &Error{Code: CodeInvalidBatch, Msg: "encoding the batch: " + err.Error()}
	}
	b.data, b.pid = data, opts.ProducerID
	if opts.ProducerID >= 0 {
		s.seq = nextSeq(s.seq, int32(len(b.recs)))
	}
	return nil
}

// nextSeq returns the sequence n after seq, wrapping past MaxInt32 to 0
// as Kafka (and the server) do.
func nextSeq(seq, n int32) int32 {
	const maxSeq = 1<<31 - 1
	if seq > maxSeq-n {
		return n - (maxSeq - seq) - 1
	}
	return seq + n
}
