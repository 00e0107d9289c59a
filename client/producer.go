package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// Defaults of ProducerConfig.
const (
	DefaultLinger          = 5 * time.Millisecond
	DefaultBatchBytes      = 1 << 20
	DefaultBufferBytes     = 32 << 20
	DefaultMaxInFlight     = 5
	DefaultDeliveryTimeout = 2 * time.Minute

	// maxIdempotentInFlight is the server's deduplication window: it
	// remembers the last 5 batches of each producer, so at most that many
	// may be unresolved at once for a retry to be recognised.
	maxIdempotentInFlight = 5
)

// Compression is the codec of produced batches.
type Compression int8

// Compression codecs (Kafka's).
const (
	CompressionNone Compression = iota
	CompressionGzip
	CompressionSnappy
	CompressionLZ4
	CompressionZstd
)

// codec returns the batch codec of c.
func (c Compression) codec() (batch.Codec, error) {
	switch c {
	case CompressionNone:
		return batch.None, nil
	case CompressionGzip:
		return batch.Gzip, nil
	case CompressionSnappy:
		return batch.Snappy, nil
	case CompressionLZ4:
		return batch.LZ4, nil
	case CompressionZstd:
		return batch.Zstd, nil
	}
	return 0, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("unknown compression %d", c)}
}

// ProducerConfig configures a Producer. Zero fields take the defaults.
type ProducerConfig struct {
	// Linger is how long a partition's batch waits for more records
	// before it is sent (default 5ms; negative: send at once). Flush and
	// Close send without waiting.
	Linger time.Duration
	// BatchBytes bounds a batch's records (default 1 MiB). A record larger
	// than it goes alone in its batch.
	BatchBytes int
	// MaxRecordBytes bounds one record (key, value, headers and framing);
	// larger records fail with ErrRecordTooLarge before anything is sent.
	// 0: the stream's limit.
	MaxRecordBytes int
	// BufferBytes bounds the records buffered and not yet acknowledged
	// (default 32 MiB); Produce blocks while it is full.
	BufferBytes int
	// Compression compresses each batch (default none).
	Compression Compression
	// DisableIdempotence turns the idempotent producer off: retries may
	// then write a batch twice, and with MaxInFlight > 1 a retried batch
	// may land after a later one.
	DisableIdempotence bool
	// MaxInFlight bounds the batches per partition sent and not yet
	// resolved (default 5, at most 5 with idempotence).
	MaxInFlight int
	// DeliveryTimeout bounds the time from Produce to the result (default
	// 2m). A record not acknowledged by then fails with
	// ErrDeliveryTimeout; it may have been written.
	DeliveryTimeout time.Duration
}

// withDefaults returns c with the defaults filled in.
func (c ProducerConfig) withDefaults() (ProducerConfig, error) {
	if _, err := c.Compression.codec(); err != nil {
		return c, err
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if !c.DisableIdempotence && c.MaxInFlight > maxIdempotentInFlight {
		return c, &Error{Code: CodeInvalidArgument,
			Msg: fmt.Sprintf("MaxInFlight %d is above %d, the most an idempotent producer may have", c.MaxInFlight, maxIdempotentInFlight)}
	}
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	return c, nil
}

// Producer writes records to streams in batches, one sequence of batches
// per partition. It is safe for concurrent use. See the package
// documentation for ordering and delivery guarantees.
type Producer struct {
	c        *Client
	cfg      ProducerConfig
	codec    batch.Codec
	closing  chan struct{} // closed when Close starts: Produce refuses
	stop     chan struct{} // closed when Close gives up waiting: sinks abort
	wg       sync.WaitGroup
	flushing atomic.Int32 // Flush calls in progress: send without lingering

	closeOnce sync.Once
	closeErr  error

	mu struct {
		sync.Mutex
		closed   bool
		aborted  bool
		sinks    map[sinkKey]*sink
		sticky   map[string]sticky // by stream
		bufBytes int               // bytes of buffered records
		buffered int               // records accepted whose callback has not returned
		space    chan struct{}     // closed and replaced when bytes are released
		idle     chan struct{}     // closed while buffered == 0
	}
	pid struct {
		sync.Mutex
		ok    bool
		id    int64
		epoch int16
	}
}

// sticky is where records without a key of one stream go: partition part
// until the batch id it fills is sent.
type sticky struct {
	part int32
	id   uint64
}

// NewProducer returns a producer. The producer id of an idempotent
// producer is fetched when the first batch is sent.
func (c *Client) NewProducer(cfg ProducerConfig) (*Producer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	codec, _ := cfg.Compression.codec()
	p := &Producer{c: c, cfg: cfg, codec: codec, closing: make(chan struct{}), stop: make(chan struct{})}
	p.mu.sinks = map[sinkKey]*sink{}
	p.mu.sticky = map[string]sticky{}
	p.mu.space = make(chan struct{})
	p.mu.idle = make(chan struct{})
	close(p.mu.idle)
	return p, nil
}

// Produce buffers rec for sending and calls cb once with its result.
// It blocks while the buffer is full, until there is room or ctx ends;
// ctx bounds only that wait and the stream's metadata lookup: once
// buffered, the record is sent, retried and failed by DeliveryTimeout and
// Close. cb may be nil. It runs on a goroutine of the producer, or on the
// caller's when Produce fails at once (closed producer, unknown stream,
// record too large, ctx ended). Calls for one partition come in offset
// order, one at a time; they must not block for long, and must not call
// Flush or Close.
func (p *Producer) Produce(ctx context.Context, rec Record, cb func(RecordResult, error)) {
	if cb == nil {
		cb = func(RecordResult, error) {}
	}
	if err := p.produce(ctx, rec, cb); err != nil {
		cb(RecordResult{Stream: rec.Stream, Partition: rec.Partition, Offset: -1, Timestamp: rec.Timestamp}, err)
	}
}

func (p *Producer) produce(ctx context.Context, rec Record, cb func(RecordResult, error)) error {
	p.mu.Lock()
	closed := p.mu.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = time.Now()
	}
	sm, err := p.c.stream(ctx, rec.Stream)
	if err != nil {
		return err
	}
	size := recordSize(&rec)
	limit := p.cfg.MaxRecordBytes
	if limit <= 0 || sm.maxRecordBytes > 0 && int(sm.maxRecordBytes) < limit {
		limit = int(sm.maxRecordBytes)
	}
	if limit > 0 && size > limit {
		return &Error{Code: CodeRecordTooLarge,
			Msg: fmt.Sprintf("record of %d bytes is above the limit of %d bytes (stream %q)", size, limit, rec.Stream)}
	}
	part, err := p.partition(sm, &rec)
	if err != nil {
		return err
	}
	if err := p.reserve(ctx, size); err != nil {
		return err
	}
	s := p.sink(sinkKey{rec.Stream, part})
	var id uint64
	ok := s != nil
	if ok {
		id, ok = s.add(toBatch(&rec), size, cb)
	}
	if !ok {
		p.release(size, 1)
		return ErrClosed
	}
	if rec.Key == nil && rec.Partition == AnyPartition {
		p.mu.Lock()
		if st := p.mu.sticky[rec.Stream]; st.part == part {
			p.mu.sticky[rec.Stream] = sticky{part: part, id: id}
		}
		p.mu.Unlock()
	}
	return nil
}

// partition chooses the partition of rec.
func (p *Producer) partition(sm *streamMeta, rec *Record) (int32, error) {
	n := int32(len(sm.parts))
	switch {
	case n == 0:
		return 0, &Error{Code: CodeUnknownPartition, Msg: fmt.Sprintf("stream %q has no partitions", sm.name)}
	case rec.Partition >= 0:
		if rec.Partition >= n {
			return 0, &Error{Code: CodeUnknownPartition,
				Msg: fmt.Sprintf("stream %q has no partition %d (it has %d)", sm.name, rec.Partition, n)}
		}
		return rec.Partition, nil
	case rec.Partition != AnyPartition:
		return 0, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("partition %d", rec.Partition)}
	case rec.Key != nil:
		i := partitionForHashKey(sm.parts, HashKey(rec.Key))
		if i < 0 {
			return 0, &Error{Code: CodeUnknownPartition,
				Msg: fmt.Sprintf("stream %q: no partition owns the key's hash", sm.name)}
		}
		return int32(i), nil
	}
	// No key: stay on a partition until the batch it fills is sent.
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.mu.sticky[sm.name]
	switch {
	case !ok || st.part >= n:
		st = sticky{part: rand.Int32N(n)}
	case st.id != 0:
		if s := p.mu.sinks[sinkKey{sm.name, st.part}]; s == nil || s.openID() != st.id {
			st = sticky{part: (st.part + 1) % n}
		}
	}
	p.mu.sticky[sm.name] = st
	return st.part, nil
}

// sink returns the sink of a partition, starting it on first use, or nil
// once the producer aborted.
func (p *Producer) sink(k sinkKey) *sink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.aborted {
		return nil
	}
	s := p.mu.sinks[k]
	if s == nil {
		s = newSink(p, k)
		p.mu.sinks[k] = s
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ctx, cancel := context.WithCancel(chanCtx(p.stop))
			defer cancel()
			s.run(ctx)
		}()
	}
	return s
}

// reserve takes room for a record of n bytes in the buffer, waiting while
// it is full. A record larger than the whole buffer is let in alone.
func (p *Producer) reserve(ctx context.Context, n int) error {
	p.mu.Lock()
	for {
		if p.mu.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		if p.mu.bufBytes == 0 || p.mu.bufBytes+n <= p.cfg.BufferBytes {
			p.mu.bufBytes += n
			if p.mu.buffered == 0 {
				p.mu.idle = make(chan struct{})
			}
			p.mu.buffered++
			p.mu.Unlock()
			return nil
		}
		space := p.mu.space
		p.mu.Unlock()
		select {
		case <-space:
		case <-p.closing:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// release returns n bytes of the buffer and counts records as done.
func (p *Producer) release(n, records int) {
	p.releaseBytes(n)
	p.doneRecords(records)
}

func (p *Producer) releaseBytes(n int) {
	p.mu.Lock()
	p.mu.bufBytes -= n
	close(p.mu.space)
	p.mu.space = make(chan struct{})
	p.mu.Unlock()
}

func (p *Producer) doneRecords(n int) {
	p.mu.Lock()
	p.mu.buffered -= n
	if p.mu.buffered == 0 {
		close(p.mu.idle)
	}
	p.mu.Unlock()
}

// ProduceSync produces recs and waits for their results, returned in the
// order of recs, with the first error. If ctx ends first it returns
// ctx.Err() and no results; the records may still be written.
func (p *Producer) ProduceSync(ctx context.Context, recs ...Record) ([]RecordResult, error) {
	type result struct {
		i   int
		r   RecordResult
		err error
	}
	ch := make(chan result, len(recs))
	for i := range recs {
		p.Produce(ctx, recs[i], func(r RecordResult, err error) { ch <- result{i, r, err} })
	}
	out := make([]RecordResult, len(recs))
	errs := make([]error, len(recs))
	for range recs {
		select {
		case r := <-ch:
			out[r.i], errs[r.i] = r.r, r.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Flush sends every buffered record without lingering and waits until
// all records produced before it (and any produced meanwhile) have had
// their callbacks return, or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	p.flushing.Add(1)
	defer p.flushing.Add(-1)
	p.mu.Lock()
	for _, s := range p.mu.sinks {
		s.signal()
	}
	idle := p.mu.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, flushes until ctx ends, then fails what
// is left with ErrClosed and waits for the producer's goroutines to exit.
// It returns ctx's error if the flush did not finish. Idempotent.
func (p *Producer) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.mu.closed = true
		close(p.closing)
		p.mu.Unlock()
		p.closeErr = p.Flush(ctx)
		p.mu.Lock()
		p.mu.aborted = true
		p.mu.Unlock()
		close(p.stop)
		p.wg.Wait()
	})
	return p.closeErr
}

// producerID returns the producer id shared by the producer's partitions,
// asking the cluster for one the first time.
func (p *Producer) producerID(ctx context.Context) (int64, int16, error) {
	p.pid.Lock()
	defer p.pid.Unlock()
	if !p.pid.ok {
		id, epoch, err := p.c.initProducer(ctx)
		if err != nil {
			return 0, 0, err
		}
		p.pid.ok, p.pid.id, p.pid.epoch = true, id, epoch
	}
	return p.pid.id, p.pid.epoch, nil
}

// initProducer allocates a new producer id.
func (c *Client) initProducer(ctx context.Context) (int64, int16, error) {
	var resp *sluicev1.InitProducerResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.InitProducer(ctx, &sluicev1.InitProducerRequest{})
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return resp.GetProducerId(), int16(resp.GetProducerEpoch()), nil
}

// produceBatch sends one encoded batch to the partition's leader (any
// node when unknown: it forwards) and records the leader it names.
func (c *Client) produceBatch(ctx context.Context, k sinkKey, data []byte) (*sluicev1.ProduceResponse, error) {
	var resp *sluicev1.ProduceResponse
	err := c.onLeader(ctx, k.stream, k.part, c.cfg.RequestTimeout, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.Produce(ctx, &sluicev1.ProduceRequest{Stream: k.stream, Partition: k.part, Batch: data})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.setLeader(k.stream, k.part, resp.GetLeaderId(), resp.GetLeaderAddr())
	return resp, nil
}
