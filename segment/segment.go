package segment

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
)

// File name suffixes. On-disk format; never change.
const (
	LogSuffix       = ".log"
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"
	BrokenSuffix    = ".broken"
)

// DefaultIndexInterval is the number of log bytes between sparse index
// entries when Options.IndexInterval is zero.
const DefaultIndexInterval = 4096

// Options tune a segment. The zero value is usable.
type Options struct {
	// IndexInterval is the number of .log bytes appended between two sparse
	// index entries. Zero means DefaultIndexInterval.
	IndexInterval int
	// Logger receives recovery reports. Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.IndexInterval <= 0 {
		o.IndexInterval = DefaultIndexInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// FileName returns the name of a segment file: the 20-digit base offset
// followed by suffix.
func FileName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// ParseLogName returns the base offset named by a segment .log file name,
// and false for any other name.
func ParseLogName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, LogSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 || FileName(base, LogSuffix) != name {
		return 0, false // "+0000000000000000042.log" is not the file of 42
	}
	return base, true
}

// Segment is one .log file of batches with its sparse .index and .timeindex.
//
// Concurrency: one writer (Append, Sync, Seal, TruncateTo, Close) and any
// number of concurrent readers (Read, FindTimestamp, accessors). Readers only
// look at bytes below the published size, which the writer advances after a
// write completes. TruncateTo and Close must not run concurrently with
// readers; the log package excludes them with its own lock.
type Segment struct {
	fs   vfs.FS
	dir  string
	base int64
	opts Options

	// Written only by the writer; read by readers with atomic loads.
	size         atomic.Int64 // published bytes of whole, valid batches
	nextOffset   atomic.Int64 // offset after the last batch
	maxTimestamp atomic.Int64 // largest MaxTimestamp of any batch, or math.MinInt64
	largest      atomic.Int64 // size of the largest batch, to size reads

	// Writer-only state.
	f              vfs.File // the .log file, opened read-write
	sealed         bool
	closed         bool
	failed         error // sticky: set after an fsync error
	firstTimestamp int64 // MaxTimestamp of the first batch (for roll by age)
	sinceIndex     int   // bytes appended since the last index entry
	flushedIndex   int   // index entries already written to the .index file
	flushedTime    int   // time entries already written to the .timeindex file
	idxBuf         []byte

	mu struct {
		sync.RWMutex
		// index and times are the in-memory sparse indexes; the writer
		// appends under mu, readers search under mu.RLock.
		index []indexEntry
		times []timeEntry
	}
}

func (s *Segment) path(suffix string) string {
	return s.fs.PathJoin(s.dir, FileName(s.base, suffix))
}

// Create makes a new, empty, active segment starting at base and syncs the
// directory so that the file survives a crash.
func Create(fs vfs.FS, dir string, base int64, opts Options) (*Segment, error) {
	if base < 0 {
		return nil, fmt.Errorf("segment: negative base offset %d", base)
	}
	s := newSegment(fs, dir, base, opts)
	f, err := fs.Create(s.path(LogSuffix), vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("segment: create %s: %w", s.path(LogSuffix), err)
	}
	s.f = f
	if err := fsutil.SyncDir(fs, dir); err != nil {
		_ = f.Close()
		return nil, err
	}
	return s, nil
}

func newSegment(fs vfs.FS, dir string, base int64, opts Options) *Segment {
	s := &Segment{fs: fs, dir: dir, base: base, opts: opts.withDefaults()}
	s.nextOffset.Store(base)
	s.maxTimestamp.Store(math.MinInt64)
	s.firstTimestamp = math.MinInt64
	return s
}

// BaseOffset returns the offset of the first record the segment holds or
// will hold.
func (s *Segment) BaseOffset() int64 { return s.base }

// NextOffset returns the offset after the last record in the segment.
func (s *Segment) NextOffset() int64 { return s.nextOffset.Load() }

// Size returns the bytes of whole batches in the .log file.
func (s *Segment) Size() int64 { return s.size.Load() }

// MaxTimestamp returns the largest batch max timestamp in the segment, or
// math.MinInt64 when it is empty.
func (s *Segment) MaxTimestamp() int64 { return s.maxTimestamp.Load() }

// FirstTimestamp returns the max timestamp of the first batch, or
// math.MinInt64 when the segment is empty. The log rolls by age from it.
func (s *Segment) FirstTimestamp() int64 { return s.firstTimestamp }

// Sealed reports whether the segment takes no more appends.
func (s *Segment) Sealed() bool { return s.sealed }

// Close writes pending index entries, syncs, and closes the files. It is
// idempotent. A segment that failed closes without syncing.
func (s *Segment) Close() error {
	if s.closed {
		return nil
	}
	var err error
	if s.failed == nil && !s.sealed {
		if err = s.Sync(); err == nil {
			err = s.flushIndexes(true)
		}
	}
	s.closed = true
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("segment: close %s: %w", s.path(LogSuffix), cerr)
	}
	return err
}

// Remove closes the segment and deletes its files, durably: it syncs the
// directory, so that a crash cannot bring back a segment whose offsets the
// log has since dropped or reused.
func (s *Segment) Remove() error {
	if !s.closed {
		s.closed = true
		_ = s.f.Close()
	}
	for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		if err := s.fs.Remove(s.path(suffix)); err != nil && !fsutil.IsNotExist(err) {
			return fmt.Errorf("segment: remove %s: %w", s.path(suffix), err)
		}
	}
	return fsutil.SyncDir(s.fs, s.dir)
}
