package segment

import (
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/fsutil"
)

// Append validates b as one whole Kafka RecordBatch v2 (header fields and
// CRC-32C), stamps its base offset with NextOffset() in place, and writes it
// at the end of the .log file. The bytes become visible to readers when
// Append returns; they are durable after the next Sync.
//
// Errors: ErrInvalidBatch (with the batch error) when b does not validate;
// ErrFull when the batch does not fit the 32-bit index fields; ErrSealed,
// ErrClosed, ErrFailed; or the I/O error. On any error nothing becomes
// visible and the segment stays consistent: a partial write past the end is
// overwritten by the next append or cut at Close or recovery.
func (s *Segment) Append(b []byte) (batch.Header, error) {
	if err := s.writable(); err != nil {
		return batch.Header{}, err
	}
	h, err := batch.Validate(b)
	if err != nil {
		return batch.Header{}, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if len(b) != h.Size() {
		return batch.Header{}, fmt.Errorf("%w: %d bytes given for a batch of %d", ErrInvalidBatch, len(b), h.Size())
	}
	if h.NumRecords == 0 {
		return batch.Header{}, fmt.Errorf("%w: no records", ErrInvalidBatch)
	}
	next := s.nextOffset.Load()
	pos := s.size.Load()
	if next-s.base+int64(h.LastOffsetDelta) > math.MaxUint32 || pos+int64(len(b)) > math.MaxUint32 {
		return batch.Header{}, fmt.Errorf("%w: base %d at position %d", ErrFull, s.base, pos)
	}
	batch.SetBaseOffset(b, next)
	h.BaseOffset = next
	if _, err := s.f.WriteAt(b, pos); err != nil {
		return batch.Header{}, fmt.Errorf("segment: write %s at %d: %w", s.path(LogSuffix), pos, err)
	}
	s.addIndexEntries(h, pos)
	s.size.Store(pos + int64(len(b)))
	s.nextOffset.Store(h.LastOffset() + 1)
	return h, nil
}

func (s *Segment) writable() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.failed != nil:
		return fmt.Errorf("%w: %w", ErrFailed, s.failed)
	case s.sealed:
		return ErrSealed
	}
	return nil
}

// addIndexEntries records the batch h at pos in the in-memory indexes and
// the timestamp bookkeeping. Index entries reach their files at Sync, after
// the .log fsync, so that an entry on disk always points at durable data.
func (s *Segment) addIndexEntries(h batch.Header, pos int64) {
	rel := uint32(h.BaseOffset - s.base)
	prevMax := s.maxTimestamp.Load()
	if pos == 0 {
		s.firstTimestamp = h.MaxTimestamp
	} else if s.sinceIndex >= s.opts.IndexInterval {
		s.mu.Lock()
		s.mu.index = append(s.mu.index, indexEntry{rel: rel, pos: uint32(pos)})
		if n := len(s.mu.times); prevMax != math.MinInt64 && (n == 0 || prevMax > s.mu.times[n-1].ts) {
			s.mu.times = append(s.mu.times, timeEntry{ts: prevMax, rel: rel})
		}
		s.mu.Unlock()
		s.sinceIndex = 0
	}
	s.sinceIndex += h.Size()
	if int64(h.Size()) > s.largest.Load() {
		s.largest.Store(int64(h.Size()))
	}
	if h.MaxTimestamp > prevMax {
		s.maxTimestamp.Store(h.MaxTimestamp)
	}
}

// Sync makes every appended batch durable, then writes the index entries
// added since the last Sync. The index files themselves are fsynced at Seal
// and Close: they are derived data and recovery checks them.
//
// A failed fsync leaves the segment failed (ErrFailed): the kernel may have
// dropped the dirty pages, so nothing appended since the last good Sync can
// be trusted to be durable and no further write is taken.
func (s *Segment) Sync() error {
	if err := s.writable(); err != nil && !errors.Is(err, ErrSealed) {
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.failed = err
		return fmt.Errorf("segment: sync %s: %w", s.path(LogSuffix), err)
	}
	return s.flushIndexes(false)
}

// flushIndexes appends the not yet written index entries to the .index and
// .timeindex files, and fsyncs them when sync is true.
func (s *Segment) flushIndexes(sync bool) error {
	s.mu.RLock()
	index, times := s.mu.index, s.mu.times
	s.mu.RUnlock()
	if err := s.appendIndexFile(IndexSuffix, len(index)-s.flushedIndex, sync, func(dst []byte) []byte {
		for _, e := range index[s.flushedIndex:] {
			dst = appendIndexEntry(dst, e)
		}
		return dst
	}, int64(s.flushedIndex*indexEntrySize)); err != nil {
		return err
	}
	s.flushedIndex = len(index)
	if err := s.appendIndexFile(TimeIndexSuffix, len(times)-s.flushedTime, sync, func(dst []byte) []byte {
		for _, e := range times[s.flushedTime:] {
			dst = appendTimeEntry(dst, e)
		}
		return dst
	}, int64(s.flushedTime*timeIndexEntrySize)); err != nil {
		return err
	}
	s.flushedTime = len(times)
	return nil
}

func (s *Segment) appendIndexFile(suffix string, pending int, sync bool, encode func([]byte) []byte, at int64) error {
	if pending == 0 && !sync {
		return nil
	}
	name := s.path(suffix)
	f, err := s.fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("segment: open %s: %w", name, err)
	}
	defer f.Close()
	if pending > 0 {
		s.idxBuf = encode(s.idxBuf[:0])
		if _, err := f.WriteAt(s.idxBuf, at); err != nil {
			return fmt.Errorf("segment: write %s at %d: %w", name, at, err)
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("segment: sync %s: %w", name, err)
		}
	}
	return nil
}

// Seal makes the segment read-only: it syncs the .log, writes and syncs both
// index files, and syncs the directory. A sealed segment is trusted to be
// whole: any later corruption in it makes Open fail with ErrCorrupt.
func (s *Segment) Seal() error {
	if err := s.writable(); err != nil {
		if errors.Is(err, ErrSealed) {
			return nil
		}
		return err
	}
	if err := s.Sync(); err != nil {
		return err
	}
	if err := s.flushIndexes(true); err != nil {
		return err
	}
	if err := fsutil.SyncDir(s.fs, s.dir); err != nil {
		return err
	}
	s.sealed = true
	return nil
}
