package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/fsutil"
)

// Mode says how Open treats a segment.
type Mode int

const (
	// Active is the last segment of a log: it takes appends, and a torn or
	// CRC-failing tail after its last durable index point is cut off.
	Active Mode = iota
	// Sealed is any other segment: every batch is checked, and any damage
	// is ErrCorrupt.
	Sealed
)

// Open opens an existing segment and recovers it (see doc.go, "Recovery"):
//
//  1. The .index and .timeindex files are loaded; a missing or malformed one
//     is dropped and rebuilt.
//  2. Active only: the durable point is the last index entry that points at
//     a batch header with the expected offset. Index entries are written
//     after the bytes they cover were fsynced, so everything before it is
//     durable.
//  3. Every batch is read and its framing, offset contiguity and CRC
//     checked.
//  4. Active only: a bad batch at or after the durable point starts a torn
//     tail; its bytes are copied to <base>.<position>.broken and the .log is
//     truncated there. Damage anywhere else (any damage in a sealed
//     segment) is a *CorruptError naming the file and position.
//  5. The indexes are rebuilt from the walk; index files that differ are
//     rewritten.
func Open(fs vfs.FS, dir string, base int64, mode Mode, opts Options) (*Segment, error) {
	s := newSegment(fs, dir, base, opts)
	name := s.path(LogSuffix)
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", name, err)
	}
	s.f = f
	if err := s.recover(mode); err != nil {
		_ = f.Close()
		return nil, err
	}
	s.sealed = mode == Sealed
	return s, nil
}

// Check reads a segment the way Open recovers it, without changing any
// file, and reports what Open would refuse: a *CorruptError for damage in
// a sealed segment or before the active segment's durable point. A torn
// tail after that point is not damage (Open cuts it off) and gives nil.
// next is the offset after the last intact batch before any damage.
func Check(fs vfs.FS, dir string, base int64, mode Mode) (next int64, err error) {
	s := newSegment(fs, dir, base, Options{Logger: slog.New(slog.DiscardHandler)})
	name := s.path(LogSuffix)
	f, err := fs.Open(name)
	if err != nil {
		return base, fmt.Errorf("segment: open %s: %w", name, err)
	}
	defer f.Close()
	s.f = f
	fi, err := f.Stat()
	if err != nil {
		return base, fmt.Errorf("segment: stat %s: %w", name, err)
	}
	durable := fi.Size()
	if mode == Active {
		index, _ := s.loadIndex(IndexSuffix, func(b []byte) (any, error) { return decodeIndex(b) })
		entries, _ := index.([]indexEntry)
		durable = s.durablePoint(entries, fi.Size())
	}
	bad, cause, err := s.scan(fi.Size(), 0)
	if err != nil {
		return s.nextOffset.Load(), err
	}
	if bad >= 0 && (mode == Sealed || bad < durable) {
		return s.nextOffset.Load(), &CorruptError{Path: name, Pos: bad, Offset: s.nextOffset.Load(), Err: cause}
	}
	return s.nextOffset.Load(), nil
}

func (s *Segment) recover(mode Mode) error {
	name := s.path(LogSuffix)
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("segment: stat %s: %w", name, err)
	}
	fileSize := fi.Size()
	index, indexOK := s.loadIndex(IndexSuffix, func(b []byte) (any, error) { return decodeIndex(b) })
	times, timesOK := s.loadIndex(TimeIndexSuffix, func(b []byte) (any, error) { return decodeTimeIndex(b) })
	oldIndex, _ := index.([]indexEntry)
	oldTimes, _ := times.([]timeEntry)

	durable := fileSize
	if mode == Active {
		durable = s.durablePoint(oldIndex, fileSize)
	}
	bad, cause, err := s.scan(fileSize, 0)
	if err != nil {
		return err
	}
	if bad >= 0 {
		if mode == Sealed || bad < durable {
			return &CorruptError{Path: name, Pos: bad, Offset: s.nextOffset.Load(), Err: cause}
		}
		s.opts.Logger.Warn("segment: cutting torn tail", "file", name, "position", bad,
			"bytes", fileSize-bad, "cause", cause)
		if err := s.cutTail(bad, fileSize); err != nil {
			return err
		}
	} else if fileSize > s.size.Load() {
		// Cannot happen after scan succeeds, but never leave bytes past the end.
		if err := s.truncateFile(s.size.Load()); err != nil {
			return err
		}
	}
	if mode == Active {
		// Batches past the old durable point may still be only in the page
		// cache. Make them durable before index files that point at them
		// can be rewritten (see durablePoint).
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("segment: sync %s: %w", name, err)
		}
	}
	return s.reconcileIndexes(oldIndex, oldTimes, mode == Sealed, indexOK && timesOK)
}

// loadIndex reads and decodes a whole index file. A missing or bad file
// yields nil: indexes are derived data and are rebuilt. ok is false when the
// file exists but is bad: it must then be rewritten, not appended to.
func (s *Segment) loadIndex(suffix string, decode func([]byte) (any, error)) (v any, ok bool) {
	name := s.path(suffix)
	f, err := s.fs.Open(name)
	if err != nil {
		if !fsutil.IsNotExist(err) {
			s.opts.Logger.Warn("segment: index unreadable, rebuilding", "file", name, "err", err)
			return nil, false
		}
		return nil, true
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err == nil {
		if v, err = decode(b); err == nil {
			return v, true
		}
	}
	s.opts.Logger.Warn("segment: index bad, rebuilding", "file", name, "err", err)
	return nil, false
}

// durablePoint returns the position before which every batch of the
// active segment was fsynced: one past the last index entry that lies inside
// the file, or 0. Entries reach the .index only after the .log bytes they
// cover, the batch an entry points at included, were fsynced (recovery
// fsyncs what it keeps before it rewrites the index files). So a bad batch
// before this point is damage to durable data, even when the damage hit the
// header that the last entry points at.
func (s *Segment) durablePoint(index []indexEntry, fileSize int64) int64 {
	for i := len(index) - 1; i >= 0; i-- {
		if e := index[i]; int64(e.pos)+batch.HeaderSize <= fileSize {
			return int64(e.pos) + 1
		}
	}
	return 0
}

// scan resets the in-memory state and walks the batches in [0, end),
// rebuilding it. Batches that start at or after verifyFrom are read whole
// and CRC-checked; earlier ones are checked by header. It stops at the first
// bad batch and returns its position and cause, or bad = -1. err is an I/O
// error.
func (s *Segment) scan(end, verifyFrom int64) (bad int64, cause error, err error) {
	s.size.Store(0)
	s.nextOffset.Store(s.base)
	s.maxTimestamp.Store(math.MinInt64)
	s.largest.Store(0)
	s.firstTimestamp = math.MinInt64
	s.sinceIndex = 0
	s.mu.Lock()
	s.mu.index, s.mu.times = nil, nil
	s.mu.Unlock()

	var buf []byte
	pos := int64(0)
	for pos < end {
		if end-pos < batch.HeaderSize {
			return pos, fmt.Errorf("%w: %d bytes left for a header", batch.ErrTruncated, end-pos), nil
		}
		h, err := s.readHeader(pos)
		if err != nil {
			if isBatchError(err) {
				return pos, err, nil
			}
			return 0, nil, err
		}
		size := int64(h.Size())
		if pos+size > end {
			return pos, fmt.Errorf("%w: batch of %d bytes, %d left", batch.ErrTruncated, size, end-pos), nil
		}
		if next := s.nextOffset.Load(); h.BaseOffset != next {
			return pos, fmt.Errorf("%w: base offset %d, want %d", batch.ErrCorrupt, h.BaseOffset, next), nil
		}
		if h.LastOffset()-s.base > math.MaxUint32 || h.NumRecords == 0 {
			return pos, fmt.Errorf("%w: batch %d..%d does not belong in segment %d",
				batch.ErrCorrupt, h.BaseOffset, h.LastOffset(), s.base), nil
		}
		if pos >= verifyFrom {
			buf = slices.Grow(buf[:0], int(size))[:size]
			if _, err := s.f.ReadAt(buf, pos); err != nil {
				return 0, nil, fmt.Errorf("segment: read %s at %d: %w", s.path(LogSuffix), pos, err)
			}
			if _, err := batch.Validate(buf); err != nil {
				return pos, err, nil
			}
		}
		s.addIndexEntries(h, pos)
		pos += size
		s.size.Store(pos)
		s.nextOffset.Store(h.LastOffset() + 1)
	}
	return -1, nil, nil
}

func isBatchError(err error) bool {
	return errors.Is(err, batch.ErrCorrupt) || errors.Is(err, batch.ErrTruncated)
}

// readHeader reads and parses the batch header at pos.
func (s *Segment) readHeader(pos int64) (batch.Header, error) {
	// The buffer escapes through the vfs.File interface; pool it so that a
	// lookup does not allocate.
	b := headerPool.Get().(*[batch.HeaderSize]byte)
	defer headerPool.Put(b)
	if _, err := s.f.ReadAt(b[:], pos); err != nil {
		if err == io.EOF {
			return batch.Header{}, fmt.Errorf("%w: end of file at %d", batch.ErrTruncated, pos)
		}
		return batch.Header{}, fmt.Errorf("segment: read %s at %d: %w", s.path(LogSuffix), pos, err)
	}
	return batch.ParseHeader(b[:])
}

var headerPool = sync.Pool{New: func() any { return new([batch.HeaderSize]byte) }}

// cutTail copies the bytes [at, fileSize) to a .broken file, for a person
// to look at, and truncates the .log at at.
func (s *Segment) cutTail(at, fileSize int64) error {
	tail := make([]byte, fileSize-at)
	if _, err := s.f.ReadAt(tail, at); err != nil && err != io.EOF {
		return fmt.Errorf("segment: read tail of %s at %d: %w", s.path(LogSuffix), at, err)
	}
	broken := s.fs.PathJoin(s.dir, fmt.Sprintf("%020d.%d%s", s.base, at, BrokenSuffix))
	if err := fsutil.WriteFileAtomic(s.fs, broken, tail); err != nil {
		return err
	}
	return s.truncateFile(at)
}

// reconcileIndexes keeps the index files when they are a prefix of the
// rebuilt indexes (the active segment's files lag until the next Sync), and
// rewrites them otherwise. filesOK is false when a file on disk was bad:
// later entries are written after the old ones, so a bad file is replaced
// even when it decoded to nothing.
func (s *Segment) reconcileIndexes(oldIndex []indexEntry, oldTimes []timeEntry, sealed, filesOK bool) error {
	s.mu.RLock()
	index, times := s.mu.index, s.mu.times
	s.mu.RUnlock()
	prefixOK := filesOK && len(oldIndex) <= len(index) && slices.Equal(oldIndex, index[:len(oldIndex)]) &&
		len(oldTimes) <= len(times) && slices.Equal(oldTimes, times[:len(oldTimes)])
	if sealed && (len(oldIndex) != len(index) || len(oldTimes) != len(times)) {
		prefixOK = false
	}
	if prefixOK {
		s.flushedIndex, s.flushedTime = len(oldIndex), len(oldTimes)
		return nil
	}
	s.opts.Logger.Info("segment: rebuilding index files", "file", s.path(IndexSuffix),
		"entries", len(index), "had", len(oldIndex))
	return s.rewriteIndexes()
}

// rewriteIndexes replaces both index files with the in-memory indexes.
func (s *Segment) rewriteIndexes() error {
	s.mu.RLock()
	var ib, tb []byte
	for _, e := range s.mu.index {
		ib = appendIndexEntry(ib, e)
	}
	for _, e := range s.mu.times {
		tb = appendTimeEntry(tb, e)
	}
	n, m := len(s.mu.index), len(s.mu.times)
	s.mu.RUnlock()
	if err := fsutil.WriteFileAtomic(s.fs, s.path(IndexSuffix), ib); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.fs, s.path(TimeIndexSuffix), tb); err != nil {
		return err
	}
	s.flushedIndex, s.flushedTime = n, m
	return nil
}

// truncateFile cuts the .log to n bytes, durably. Files that can truncate in
// place (the OS file system) do; otherwise the prefix is copied to a new file
// that atomically replaces the old one.
func (s *Segment) truncateFile(n int64) error {
	name := s.path(LogSuffix)
	if t, ok := s.f.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(n); err != nil {
			return fmt.Errorf("segment: truncate %s to %d: %w", name, n, err)
		}
		if err := s.f.Sync(); err != nil {
			s.failed = err
			return fmt.Errorf("segment: sync %s: %w", name, err)
		}
		return nil
	}
	prefix := make([]byte, n)
	if _, err := s.f.ReadAt(prefix, 0); err != nil && !(err == io.EOF && n == 0) {
		return fmt.Errorf("segment: read %s: %w", name, err)
	}
	if err := fsutil.WriteFileAtomic(s.fs, name, prefix); err != nil {
		return err
	}
	f, err := s.fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("segment: reopen %s: %w", name, err)
	}
	_ = s.f.Close()
	s.f = f
	return nil
}

// TruncateTo removes every batch at or above offset, which must be the base
// offset of a batch in the segment or NextOffset(). The segment becomes
// active again. It must not run concurrently with readers.
func (s *Segment) TruncateTo(offset int64) error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	next := s.nextOffset.Load()
	if offset < s.base || offset > next {
		return fmt.Errorf("%w: truncate to %d, segment holds [%d, %d)", ErrOffsetOutOfRange, offset, s.base, next)
	}
	if offset == next {
		s.sealed = false
		return nil
	}
	pos, h, err := s.locate(offset)
	if err != nil {
		return err
	}
	if h.BaseOffset != offset {
		return fmt.Errorf("%w: %d is inside batch %d..%d", ErrNotBoundary, offset, h.BaseOffset, h.LastOffset())
	}
	if err := s.truncateFile(pos); err != nil {
		return err
	}
	// Rebuild the in-memory state from what is left. The remaining bytes were
	// checked when they were appended or recovered, so headers suffice.
	bad, cause, err := s.scan(pos, pos)
	if err != nil {
		return err
	}
	if bad >= 0 {
		return &CorruptError{Path: s.path(LogSuffix), Pos: bad, Offset: s.nextOffset.Load(), Err: cause}
	}
	s.sealed = false
	return s.rewriteIndexes()
}

func be64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }
