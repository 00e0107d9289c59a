package client

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Defaults of ConsumerConfig.
const (
	DefaultMaxWait              = 500 * time.Millisecond
	DefaultFetchBytes           = 1 << 20
	DefaultMaxDecompressedBytes = 96 << 20
)

// OffsetReset is what a consumer does when its offset is outside the
// partition's log (below the log start after retention, or past the end).
type OffsetReset int8

const (
	// ResetEarliest moves to the log start (the default: it skips the
	// fewest records).
	ResetEarliest OffsetReset = iota
	// ResetLatest moves to the high watermark: only new records.
	ResetLatest
	// ResetNone makes Poll fail with ErrOffsetOutOfRange, and the
	// partition stops until it is assigned again.
	ResetNone
)

// ConsumerConfig configures a Consumer. Zero fields take the defaults.
type ConsumerConfig struct {
	// MaxWait is how long one fetch waits at the end of a partition for
	// new records (default 500ms).
	MaxWait time.Duration
	// FetchBytes bounds the bytes of one fetch of one partition (default
	// 1 MiB); a batch larger than it still comes whole.
	FetchBytes int
	// MaxDecompressedBytes bounds the records of one compressed batch
	// (default 96 MiB); a larger batch fails as corrupt.
	MaxDecompressedBytes int
	// OffsetReset applies when an offset is out of range.
	OffsetReset OffsetReset
	// Follow reads with the server's Follow stream (records are pushed as
	// they are committed) instead of repeated long-polling fetches.
	Follow bool
	// Filter is an SNS-style filter policy (see QueueConfig.Filter) the
	// server applies: only the records it accepts are sent ("" every
	// record). A cursor subscription's consumer group uses its filter.
	Filter string
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.FetchBytes <= 0 {
		c.FetchBytes = DefaultFetchBytes
	}
	if c.MaxDecompressedBytes <= 0 {
		c.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	return c
}

// StartAt is where reading a partition starts.
type StartAt struct {
	kind   startKind
	offset int64
	time   time.Time
}

type startKind uint8

const (
	startEarliest startKind = iota
	startLatest
	startOffset
	startTime
)

// Earliest starts at the log start: the oldest record retained.
func Earliest() StartAt { return StartAt{kind: startEarliest} }

// Latest starts at the high watermark: the next record written.
func Latest() StartAt { return StartAt{kind: startLatest} }

// Offset starts at offset n (out of range: see OffsetReset).
func Offset(n int64) StartAt { return StartAt{kind: startOffset, offset: n} }

// Time starts at the first record whose timestamp is at or after t, or at
// the high watermark when there is none.
func Time(t time.Time) StartAt { return StartAt{kind: startTime, time: t} }

// String describes s, such as "earliest" or "offset 42".
func (s StartAt) String() string {
	switch s.kind {
	case startLatest:
		return "latest"
	case startOffset:
		return fmt.Sprintf("offset %d", s.offset)
	case startTime:
		return "time " + s.time.Format(time.RFC3339Nano)
	}
	return "earliest"
}

// Consumer reads assigned partitions. Each assigned partition has a
// fetcher goroutine that reads ahead by at most one response; Poll hands
// out what the fetchers have read. Methods are safe for concurrent use,
// but Poll calls are serialized (concurrent calls would split a
// partition's records between them).
type Consumer struct {
	c      *Client
	cfg    ConsumerConfig
	stop   chan struct{} // closed by Close
	ready  chan struct{} // cap 1: a result was queued
	wg     sync.WaitGroup
	pollMu sync.Mutex

	closeOnce sync.Once

	mu struct {
		sync.Mutex
		closed    bool
		fetchers  map[sinkKey]*fetcher
		queue     []fetchResult     // at most one per fetcher
		positions map[sinkKey]int64 // the offset after the last record Poll returned
	}
}

// fetcher is the reader of one assigned partition.
type fetcher struct {
	key    sinkKey
	cancel context.CancelFunc
	slot   chan struct{} // cap 1: holds a token while the fetcher may queue a result
}

// fetchResult is what a fetcher queues: records (in offset order) up to
// next, or an error after which the fetcher has stopped.
type fetchResult struct {
	f    *fetcher
	recs []Record
	next int64
	err  error
}

// NewConsumer returns a consumer with nothing assigned.
func (c *Client) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if cfg.OffsetReset < ResetEarliest || cfg.OffsetReset > ResetNone {
		return nil, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("unknown offset reset %d", cfg.OffsetReset)}
	}
	k := &Consumer{c: c, cfg: cfg, stop: make(chan struct{}), ready: make(chan struct{}, 1)}
	k.mu.fetchers = map[sinkKey]*fetcher{}
	k.mu.positions = map[sinkKey]int64{}
	return k, nil
}

// Assign starts reading partitions of a stream (nil: all of them) at at.
// A partition already assigned starts over at at; what was read ahead
// for it and not yet polled is dropped. It looks the stream up, so it
// fails with ErrUnknownStream or ErrUnknownPartition at once; offsets
// are resolved by the fetchers, and their errors come from Poll.
func (k *Consumer) Assign(ctx context.Context, stream string, partitions []int32, at StartAt) error {
	sm, err := k.c.stream(ctx, stream)
	if err != nil {
		return err
	}
	if partitions == nil {
		for i := range sm.parts {
			partitions = append(partitions, int32(i))
		}
	}
	for _, p := range partitions {
		if p < 0 || int(p) >= len(sm.parts) {
			return &Error{Code: CodeUnknownPartition,
				Msg: fmt.Sprintf("stream %q has no partition %d (it has %d)", stream, p, len(sm.parts))}
		}
	}
	if at.kind == startOffset && at.offset < 0 {
		return &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("negative offset %d", at.offset)}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mu.closed {
		return ErrClosed
	}
	for _, p := range partitions {
		key := sinkKey{stream, p}
		if old := k.mu.fetchers[key]; old != nil {
			old.cancel() // its results are dropped: Poll keeps only the current fetcher's
		}
		fctx, cancel := context.WithCancel(chanCtx(k.stop))
		f := &fetcher{key: key, cancel: cancel, slot: make(chan struct{}, 1)}
		f.slot <- struct{}{}
		k.mu.fetchers[key] = f
		delete(k.mu.positions, key)
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer cancel()
			k.run(fctx, f, at)
		}()
	}
	return nil
}

// Unassign stops reading the given partitions of a stream (nil: all).
func (k *Consumer) Unassign(stream string, partitions []int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, f := range k.mu.fetchers {
		if key.stream != stream || partitions != nil && !containsPart(partitions, key.part) {
			continue
		}
		f.cancel()
		delete(k.mu.fetchers, key)
		delete(k.mu.positions, key)
	}
}

func containsPart(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Poll returns the records read so far, waiting until there are some or
// ctx ends. Records of one partition come in offset order, each exactly
// once across Polls (leader changes and reconnections resume at the next
// offset). The error is the first of the partitions that stopped (their
// records read before it still come); such a partition is no longer
// assigned. With nothing assigned Poll fails with ErrInvalidArgument.
func (k *Consumer) Poll(ctx context.Context) ([]Record, error) {
	return k.poll(ctx, false)
}

// poll is Poll; with waitIdle, nothing assigned is no error: it waits for
// ctx like a partition with no new records (a GroupConsumer between
// assignments).
func (k *Consumer) poll(ctx context.Context, waitIdle bool) ([]Record, error) {
	k.pollMu.Lock()
	defer k.pollMu.Unlock()
	for {
		k.mu.Lock()
		if k.mu.closed {
			k.mu.Unlock()
			return nil, ErrClosed
		}
		if len(k.mu.queue) > 0 {
			recs, err := k.takeLocked()
			k.mu.Unlock()
			if len(recs) > 0 || err != nil {
				return recs, err
			}
			continue
		}
		n := len(k.mu.fetchers)
		k.mu.Unlock()
		if n == 0 && !waitIdle {
			return nil, &Error{Code: CodeInvalidArgument, Msg: "no partition assigned"}
		}
		select {
		case <-k.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-k.stop:
			return nil, ErrClosed
		}
	}
}

// takeLocked empties the queue: the records and first error of the
// current fetchers, giving each its slot back.
func (k *Consumer) takeLocked() ([]Record, error) {
	var recs []Record
	var first error
	for _, r := range k.mu.queue {
		if k.mu.fetchers[r.f.key] != r.f {
			continue // reassigned or unassigned since
		}
		if r.err != nil {
			delete(k.mu.fetchers, r.f.key)
			if first == nil {
				first = r.err
			}
			continue
		}
		recs = append(recs, r.recs...)
		k.mu.positions[r.f.key] = r.next
		select {
		case r.f.slot <- struct{}{}:
		default:
		}
	}
	clear(k.mu.queue)
	k.mu.queue = k.mu.queue[:0]
	return recs, first
}

// Position returns the offset after the last record Poll returned from a
// partition: where reading resumes. It is false before the first record.
func (k *Consumer) Position(stream string, partition int32) (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	off, ok := k.mu.positions[sinkKey{stream, partition}]
	return off, ok
}

// push queues a fetcher's result once its previous one has been polled.
// It returns false when ctx ended first.
func (k *Consumer) push(ctx context.Context, f *fetcher, r fetchResult) bool {
	select {
	case <-f.slot:
	case <-ctx.Done():
		return false
	}
	r.f = f
	k.mu.Lock()
	k.mu.queue = append(k.mu.queue, r)
	k.mu.Unlock()
	select {
	case k.ready <- struct{}{}:
	default:
	}
	return true
}

// Close stops the fetchers and waits for them to exit. Idempotent.
func (k *Consumer) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.mu.closed = true
		k.mu.fetchers = map[sinkKey]*fetcher{}
		k.mu.queue = nil
		k.mu.Unlock()
		close(k.stop)
		k.wg.Wait()
	})
	return nil
}
