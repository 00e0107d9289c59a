package log

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/segment"
)

// Defaults filled in by Open for zero Config fields.
const (
	DefaultSegmentBytes = 1 << 30
	// MaxSegmentBytes is the largest SegmentBytes: segment index positions
	// are 32-bit.
	MaxSegmentBytes = math.MaxUint32
)

// Config describes one partition log. Open fills defaults on a copy.
type Config struct {
	// FS is the file system for every file of the log. Nil means vfs.Default.
	FS vfs.FS
	// Dir is the log's directory; it is created if missing. Required.
	Dir string
	// SegmentBytes rolls the active segment when the next batch would take
	// it past this size. Zero means DefaultSegmentBytes.
	SegmentBytes int64
	// SegmentAge rolls the active segment when a batch's max timestamp is
	// this much later than the segment's first batch. Zero: never by age.
	SegmentAge time.Duration
	// IndexInterval is the bytes between sparse index entries. Zero means
	// segment.DefaultIndexInterval.
	IndexInterval int
	// RetentionBytes keeps the log's total size near this by deleting the
	// oldest sealed segments. Zero: no size limit.
	RetentionBytes int64
	// RetentionAge deletes sealed segments whose newest record is older
	// than this. Zero: no age limit.
	RetentionAge time.Duration
	// Logger receives recovery and retention reports. Nil: slog.Default().
	Logger *slog.Logger
}

// Validate reports the first bad field, matching ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is required", ErrInvalidConfig)
	case c.SegmentBytes < 0 || c.SegmentBytes > MaxSegmentBytes:
		return fmt.Errorf("%w: SegmentBytes %d not in [0, %d]", ErrInvalidConfig, c.SegmentBytes, int64(MaxSegmentBytes))
	case c.SegmentAge < 0:
		return fmt.Errorf("%w: SegmentAge %s is negative", ErrInvalidConfig, c.SegmentAge)
	case c.IndexInterval < 0:
		return fmt.Errorf("%w: IndexInterval %d is negative", ErrInvalidConfig, c.IndexInterval)
	case c.RetentionBytes < 0:
		return fmt.Errorf("%w: RetentionBytes %d is negative", ErrInvalidConfig, c.RetentionBytes)
	case c.RetentionAge < 0:
		return fmt.Errorf("%w: RetentionAge %s is negative", ErrInvalidConfig, c.RetentionAge)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Log is the ordered segments of one partition.
//
// Lock order: wmu, then mu, then a segment's own lock. Writers (Append,
// Sync, SetHighWatermark, AdvanceLogStart, TruncateTo, Close) serialize on
// wmu. Readers hold mu.RLock while they read a segment, so that retention,
// truncation and Close, which take mu.Lock to change the segment list, never
// close a file under a reader. Append to the active segment runs under wmu
// alone, concurrently with readers: the segment publishes its size after
// the bytes are written.
type Log struct {
	cfg  Config
	opts segment.Options

	wmu sync.Mutex // serializes writers

	mu struct {
		sync.RWMutex
		segs   []*segment.Segment // Invariant: contiguous offsets; the last is active.
		closed bool
	}

	// Invariant: logStart <= hw <= log end offset.
	logStart atomic.Int64
	hw       atomic.Int64

	// notify is closed and replaced whenever hw advances or the log closes.
	notifyMu sync.Mutex
	notify   chan struct{}
	closedCh chan struct{}
}

// Open opens the log in cfg.Dir, creating it if needed, and recovers every
// segment (see package segment). The high watermark starts at the log end
// offset: whatever reached a segment had been committed.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Log{
		cfg:      cfg,
		opts:     segment.Options{IndexInterval: cfg.IndexInterval, Logger: cfg.Logger},
		notify:   make(chan struct{}),
		closedCh: make(chan struct{}),
	}
	fs, dir := cfg.FS, cfg.Dir
	// The directory's own entry (and its parents') must survive a crash,
	// or every segment in it goes with it.
	if err := fsutil.MkdirAllSync(fs, dir); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", dir, err)
	}
	var bases []int64
	for _, name := range names {
		if base, ok := segment.ParseLogName(name); ok {
			bases = append(bases, base)
		} else if strings.HasSuffix(name, fsutil.TmpSuffix) {
			// An atomic write that did not finish: never the live copy.
			_ = fs.Remove(fs.PathJoin(dir, name))
		}
	}
	slices.Sort(bases)
	start, haveCheckpoint, err := readCheckpoint(fs, dir)
	if err != nil {
		return nil, err
	}
	if err := l.openSegments(bases, start); err != nil {
		l.closeSegments()
		return nil, err
	}
	segs := l.mu.segs
	end := segs[len(segs)-1].NextOffset()
	if !haveCheckpoint || start < segs[0].BaseOffset() {
		start = segs[0].BaseOffset()
	}
	if start > end {
		cfg.Logger.Warn("log: checkpointed log start is past the log end; using the end",
			"dir", dir, "checkpoint", start, "end", end)
		start = end
		// Appends now reuse the offsets from end on; left as it was, the
		// checkpoint would hide them at the next Open.
		if err := writeCheckpoint(fs, dir, start); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	l.logStart.Store(start)
	l.hw.Store(end)
	return l, nil
}

// openSegments opens the segments at bases (sorted), the last one active,
// or creates an empty one at emptyBase when there are none.
func (l *Log) openSegments(bases []int64, emptyBase int64) error {
	if len(bases) == 0 {
		seg, err := segment.Create(l.cfg.FS, l.cfg.Dir, emptyBase, l.opts)
		if err != nil {
			return err
		}
		l.mu.segs = []*segment.Segment{seg}
		return nil
	}
	for i, base := range bases {
		mode := segment.Sealed
		if i == len(bases)-1 {
			mode = segment.Active
		}
		// Check contiguity before opening the next segment: opening the
		// active one may cut its tail, and a log that is refused must be
		// left as it was found.
		if n := len(l.mu.segs); n > 0 && l.mu.segs[n-1].NextOffset() != base {
			return fmt.Errorf("%w: %s: segment %s ends at offset %d but the next starts at %d",
				ErrCorrupt, l.cfg.Dir, segment.FileName(l.mu.segs[n-1].BaseOffset(), segment.LogSuffix),
				l.mu.segs[n-1].NextOffset(), base)
		}
		seg, err := segment.Open(l.cfg.FS, l.cfg.Dir, base, mode, l.opts)
		if err != nil {
			return err
		}
		l.mu.segs = append(l.mu.segs, seg)
	}
	return nil
}

func (l *Log) closeSegments() error {
	var first error
	for _, s := range l.mu.segs {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close syncs and closes every segment and wakes every waiting reader. It is
// idempotent.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil
	}
	l.mu.closed = true
	close(l.closedCh)
	return l.closeSegments()
}

// LogStartOffset returns the first readable offset.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// HighWatermark returns one past the last offset readers may see.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// LogEndOffset returns the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.activeLocked().NextOffset()
}

func (l *Log) activeLocked() *segment.Segment { return l.mu.segs[len(l.mu.segs)-1] }

// SegmentInfo describes one segment, for tools and tests.
type SegmentInfo struct {
	BaseOffset, NextOffset, Size int64
	MaxTimestamp                 int64
	Sealed                       bool
}

// Segments describes the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.mu.segs))
	for i, s := range l.mu.segs {
		out[i] = SegmentInfo{BaseOffset: s.BaseOffset(), NextOffset: s.NextOffset(), Size: s.Size(),
			MaxTimestamp: s.MaxTimestamp(), Sealed: i < len(l.mu.segs)-1}
	}
	return out
}

// Size returns the bytes in all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segs {
		n += s.Size()
	}
	return n
}

// Check reads the log in dir the way Open recovers it, without changing
// any file, and reports what Open would refuse: a *segment.CorruptError
// (damage inside a segment) or ErrCorrupt (segments that are not
// contiguous). end is the offset after the last intact batch before the
// damage, or the log end offset when there is none (0 for a log without
// segments).
func Check(fs vfs.FS, dir string) (end int64, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return 0, fmt.Errorf("log: list %s: %w", dir, err)
	}
	var bases []int64
	for _, name := range names {
		if base, ok := segment.ParseLogName(name); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	if len(bases) == 0 {
		// Open creates an empty segment at the checkpointed log start.
		start, _, err := readCheckpoint(fs, dir)
		return start, err
	}
	for i, base := range bases {
		if i > 0 && end != base {
			return end, fmt.Errorf("%w: %s: segment %s ends at offset %d but the next starts at %d",
				ErrCorrupt, dir, segment.FileName(bases[i-1], segment.LogSuffix), end, base)
		}
		mode := segment.Sealed
		if i == len(bases)-1 {
			mode = segment.Active
		}
		if end, err = segment.Check(fs, dir, base, mode); err != nil {
			return end, err
		}
	}
	return end, nil
}
