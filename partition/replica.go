package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/turns"
	"github.com/sluicedb/sluice/log"
)

// Proposer replicates commands; *replication.Group is one.
type Proposer interface {
	Propose(ctx context.Context, cmd []byte) (any, error)
}

// Defaults for Config fields left zero.
const (
	DefaultCheckpointEvery = 8192
	DefaultCheckpointBytes = 128 << 20
	DefaultMaxBatchBytes   = 8 << 20
)

// Config describes one partition replica.
type Config struct {
	// ID names the partition (and its raft group), e.g. "orders/3".
	ID string
	// Log configures the partition's log (directory, segment size,
	// retention). Log.FS and Log.Dir are required.
	Log log.Config
	// DB is the node's Pebble, where the replica keeps its checkpoint.
	DB *pebble.DB
	// CheckpointEvery and CheckpointBytes bound the applied commands and
	// the batch bytes between checkpoints (an fsync of the log and a Pebble
	// write): a checkpoint is taken when either is reached. Raft replays at
	// most that much after a crash. Between checkpoints the segments are
	// written but not fsynced; the raft log is the durable copy.
	CheckpointEvery int
	CheckpointBytes int64
	// MaxBatchBytes bounds one produced batch.
	MaxBatchBytes int
	// Admit, when set, is asked before every produce is proposed; an error
	// refuses the produce and nothing is written (the node's disk-space
	// guard).
	Admit func() error
	// Now is the leader's clock for produce commands. Nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.CheckpointBytes <= 0 {
		c.CheckpointBytes = DefaultCheckpointBytes
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Log.Logger = c.Logger
	return c
}

// Replica is one replica of one partition: its log, the state machine that
// the partition's raft group drives, and the produce and fetch paths.
//
// Concurrency: raft calls Apply, Snapshot and Restore from one goroutine;
// the fields under "apply state" belong to it. Produce and Fetch run on any
// goroutine. logMu guards the log pointer, which only Restore replaces.
type Replica struct {
	cfg      Config
	proposer atomic.Pointer[proposerBox]

	logMu sync.RWMutex
	lg    *log.Log // Protected by logMu.

	// Committed offsets by group (offsets.go). Only the apply goroutine
	// (Apply, Restore) changes the table, under the write lock, and it
	// reads it without the lock; CommittedOffset and CommittedOffsets
	// read it under the read lock. Produce and Fetch never take it.
	// Lock order: logMu, then offsets.
	offsets struct {
		sync.RWMutex
		table offsetTable // Invariant: never nil.
	}
	// commits queues concurrent CommitOffset calls into shared raft
	// entries (offsets.go); its lock is a leaf.
	commits *turns.Batcher[struct{}, []OffsetCommit, commitsOut]

	// Queue states by queue (queues.go, queuestate.go). Only the apply
	// goroutine (Apply, Restore) changes the table or a state in it,
	// under the write lock, and it reads them without the lock;
	// QueueState and Queues read them under the read lock. Produce and
	// Fetch never take it. Lock order: logMu, then queues.
	queues struct {
		sync.RWMutex
		table queueTable // Invariant: never nil.
	}
	// queueUpdates queues concurrent UpdateQueue calls into shared raft
	// entries, per queue (queues.go); its lock is a leaf.
	queueUpdates *turns.Batcher[string, []QueueOp, queueOut]

	// Apply state.
	applied              atomic.Uint64 // written by Apply only; read anywhere
	clock                int64
	producers            producers
	offsetBytes          int64 // Invariant: offsets.table.size().
	queueBytes           int64 // Invariant: queues.table.size().
	sinceCheckpoint      int
	bytesSinceCheckpoint int64
	scratch              []byte
}

type proposerBox struct{ p Proposer }

// Open opens (or creates) the replica's log and state. After a crash it cuts
// the log back to the last checkpoint; the raft group replays the rest.
func Open(cfg Config) (*Replica, error) {
	if cfg.ID == "" || cfg.DB == nil || cfg.Log.Dir == "" || cfg.Log.FS == nil {
		return nil, fmt.Errorf("partition: config needs ID, DB, Log.FS and Log.Dir")
	}
	cfg = cfg.withDefaults()
	if err := finishRestore(cfg); err != nil {
		return nil, err
	}
	ck, ok, err := loadCheckpoint(cfg.DB, cfg.ID)
	if err != nil {
		return nil, err
	}
	lg, err := log.Open(cfg.Log)
	if err != nil {
		return nil, err
	}
	if !ok {
		ck = checkpoint{logEnd: lg.LogStartOffset(), producers: producers{}, offsets: offsetTable{}, queues: queueTable{}}
	}
	if end := lg.LogEndOffset(); end > ck.logEnd {
		// Appended after the checkpoint: raft replays those commands.
		if err := lg.TruncateTo(max(ck.logEnd, lg.LogStartOffset())); err != nil {
			_ = lg.Close()
			return nil, fmt.Errorf("partition %s: cut log back to checkpoint %d: %w", cfg.ID, ck.logEnd, err)
		}
	} else if end < ck.logEnd {
		_ = lg.Close()
		return nil, fmt.Errorf("%w: partition %s: log ends at %d, checkpoint says %d is durable", ErrCorrupt, cfg.ID, end, ck.logEnd)
	}
	r := &Replica{cfg: cfg, lg: lg, clock: ck.clock, producers: ck.producers, offsetBytes: ck.offsets.size(),
		commits:      turns.New[struct{}, []OffsetCommit, commitsOut](maxCommitBatch, func(cs []OffsetCommit) int { return len(cs) }),
		queueUpdates: turns.New[string, []QueueOp, queueOut](MaxQueueOps, func(ops []QueueOp) int { return len(ops) }),
		queueBytes:   ck.queues.size()}
	r.offsets.table = ck.offsets
	r.queues.table = ck.queues
	r.applied.Store(ck.applied)
	return r, nil
}

// Attach sets the group that Produce proposes through.
func (r *Replica) Attach(p Proposer) { r.proposer.Store(&proposerBox{p}) }

// AppliedIndex returns the raft index of the last applied command.
func (r *Replica) AppliedIndex() uint64 { return r.applied.Load() }

func (r *Replica) log() *log.Log {
	r.logMu.RLock()
	defer r.logMu.RUnlock()
	return r.lg
}

// ProduceResult is the outcome of an acknowledged produce.
type ProduceResult struct {
	BaseOffset int64 // offset of the batch's first record
	LastOffset int64 // offset of its last record
	// Duplicate is true when the batch was a retry of one already written
	// (same producer id, epoch and sequences): nothing new was written.
	Duplicate bool
}

// Produce validates b (one RecordBatch v2), replicates it and returns its
// offsets once it is committed and applied. Errors: ErrInvalidBatch;
// ErrOutOfOrderSequence, ErrProducerFenced (nothing written); the
// replication errors (replication.ErrNotLeader, ErrOutcomeUnknown, …).
func (r *Replica) Produce(ctx context.Context, b []byte) (ProduceResult, error) {
	box := r.proposer.Load()
	if box == nil {
		return ProduceResult{}, ErrNoProposer
	}
	if err := r.validate(b); err != nil {
		return ProduceResult{}, err
	}
	if r.cfg.Admit != nil {
		if err := r.cfg.Admit(); err != nil {
			return ProduceResult{}, err
		}
	}
	cmd := encodeProduce(make([]byte, 0, commandHeaderSize+8+len(b)), r.cfg.Now().UnixMilli(), b)
	resp, err := box.p.Propose(ctx, cmd)
	if err != nil {
		return ProduceResult{}, err
	}
	res, ok := resp.(ProduceResult)
	if !ok {
		return ProduceResult{}, fmt.Errorf("partition %s: unexpected apply result %T", r.cfg.ID, resp)
	}
	return res, nil
}

func (r *Replica) validate(b []byte) error {
	if len(b) > r.cfg.MaxBatchBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidBatch, len(b), r.cfg.MaxBatchBytes)
	}
	h, err := batch.Validate(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if len(b) != h.Size() || h.NumRecords == 0 {
		return fmt.Errorf("%w: %d bytes for a batch of %d with %d records", ErrInvalidBatch, len(b), h.Size(), h.NumRecords)
	}
	return nil
}

// Fetch appends to dst whole batches from offset, up to maxBytes (at least
// one batch), all committed. At the high watermark it waits for new data
// until ctx ends, and then returns dst unchanged and no error (a long poll
// that found nothing). Errors: log.ErrOffsetOutOfRange, ErrClosed.
func (r *Replica) Fetch(ctx context.Context, dst []byte, offset int64, maxBytes int) ([]byte, error) {
	for {
		lg := r.log()
		out, err := lg.Read(dst, offset, maxBytes)
		if err != nil || len(out) > len(dst) {
			return out, err
		}
		if err := lg.Wait(ctx, offset); err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return dst, nil
			}
			if errors.Is(err, log.ErrClosed) && r.log() != lg {
				continue // Restore swapped the log.
			}
			return dst, err
		}
	}
}

// HighWatermark returns one past the last committed offset.
func (r *Replica) HighWatermark() int64 { return r.log().HighWatermark() }

// LogStartOffset returns the first readable offset.
func (r *Replica) LogStartOffset() int64 { return r.log().LogStartOffset() }

// LogBytes is the size of the replica's log on disk, in bytes.
func (r *Replica) LogBytes() int64 { return r.log().Size() }

// OffsetForTimestamp returns the first offset whose record timestamp is at
// least ts.
func (r *Replica) OffsetForTimestamp(ts int64) (int64, bool, error) {
	return r.log().OffsetForTimestamp(ts)
}

// Close closes the log. The raft group must be stopped first.
func (r *Replica) Close() error {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.lg.Close()
}

// SetRetention changes the replica's retention policy (zero: unlimited by
// that measure), as an altered stream asks; the next EnforceRetention uses
// it, and so does a log that Restore reopens.
func (r *Replica) SetRetention(bytes int64, age time.Duration) error {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if err := r.lg.SetRetention(bytes, age); err != nil {
		return err
	}
	r.cfg.Log.RetentionBytes, r.cfg.Log.RetentionAge = bytes, age
	return nil
}

// EnforceRetention proposes moving the log start to where the retention
// policy (log.Config RetentionAge and RetentionBytes) puts it at now, if
// that is past the current start. The server calls it periodically on the
// leader; every replica then deletes the same segments when it applies
// the command. It returns the log start offset after the call.
func (r *Replica) EnforceRetention(ctx context.Context, now time.Time) (int64, error) {
	lg := r.log()
	point := lg.RetentionPoint(now)
	if point <= lg.LogStartOffset() {
		return lg.LogStartOffset(), nil
	}
	box := r.proposer.Load()
	if box == nil {
		return lg.LogStartOffset(), ErrNoProposer
	}
	resp, err := box.p.Propose(ctx, encodeAdvanceLogStart(point))
	if err == nil {
		if rerr, ok := resp.(error); ok {
			err = rerr
		}
	}
	return r.LogStartOffset(), err
}
