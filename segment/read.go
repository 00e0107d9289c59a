package segment

import (
	"fmt"
	"io"
	"slices"

	"github.com/sluicedb/sluice/batch"
)

// Read appends to dst whole batches, starting with the one that contains
// offset, for at most maxBytes bytes, and returns the extended slice. Only
// batches whose last offset is below limit (the high watermark) are
// returned. The first batch is returned whole even when it is larger than
// maxBytes, so that a reader always makes progress. Read returns dst
// unchanged when the batch at offset is not below limit.
//
// The returned bytes are a copy owned by the caller. Errors:
// ErrOffsetOutOfRange when offset is outside [BaseOffset, NextOffset), or
// the I/O error. Read is safe to call concurrently with Append.
func (s *Segment) Read(dst []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	if s.closed {
		return dst, ErrClosed
	}
	next := s.nextOffset.Load()
	if offset < s.base || offset >= next {
		return dst, fmt.Errorf("%w: %d not in [%d, %d)", ErrOffsetOutOfRange, offset, s.base, next)
	}
	maxBytes = max(maxBytes, batch.HeaderSize)
	rel := uint32(offset - s.base)
	s.mu.RLock()
	floor := floorEntry(s.mu.index, rel)
	s.mu.RUnlock()
	pos := int64(floor.pos)

	// One read from the index floor holds the batch at offset and the
	// batches after it: the floor is exact for a reader that goes on where
	// its last read ended, and otherwise at most IndexInterval bytes plus
	// one batch before the wanted batch.
	n := int64(max(maxBytes, int(s.largest.Load())))
	if floor.rel != rel {
		n += int64(s.opts.IndexInterval) + s.largest.Load()
	}
	n = min(n, s.size.Load()-pos)
	start := len(dst)
	dst = slices.Grow(dst, int(n))[:start+int(n)]
	if err := s.readAt(dst[start:], pos); err != nil {
		return dst[:start], err
	}
	b := dst[start:]
	skip := 0
	for {
		if len(b)-skip < batch.HeaderSize {
			// The batch at offset starts beyond what was read (the floor was
			// far behind it): find it by headers and read from there.
			p, _, err := s.locate(offset)
			if err != nil {
				return dst[:start], err
			}
			return s.readFrom(dst[:start], p, maxBytes, limit)
		}
		if last := be64(b[skip:]) + int64(be32(b[skip+23:])); last >= offset {
			break
		}
		skip += frameSize(b[skip:])
	}
	if skip > 0 {
		b = b[:copy(b, b[skip:])]
	}
	i := wholeBatches(b, maxBytes, limit)
	if i == 0 && len(b) >= batch.HeaderSize && be64(b)+int64(be32(b[23:])) < limit {
		// The first batch is larger than what was read: read it whole.
		return s.readFrom(dst[:start], pos+int64(skip), frameSize(b), limit)
	}
	return dst[:start+i], nil
}

// readFrom appends the whole batches below limit found in the maxBytes (at
// least one batch) that start at pos.
func (s *Segment) readFrom(dst []byte, pos int64, maxBytes int, limit int64) ([]byte, error) {
	h, err := s.readHeader(pos)
	if err != nil {
		return dst, s.corruptAt(pos, err)
	}
	n := min(s.size.Load()-pos, int64(max(maxBytes, h.Size())))
	start := len(dst)
	dst = slices.Grow(dst, int(n))[:start+int(n)]
	if err := s.readAt(dst[start:], pos); err != nil {
		return dst[:start], err
	}
	return dst[:start+wholeBatches(dst[start:], maxBytes, limit)], nil
}

func (s *Segment) readAt(b []byte, pos int64) error {
	if _, err := s.f.ReadAt(b, pos); err != nil && err != io.EOF {
		return fmt.Errorf("segment: read %s at %d: %w", s.path(LogSuffix), pos, err)
	}
	return nil
}

// frameSize returns the size of the batch that starts b, from its length
// field. These bytes were validated when appended or recovered.
func frameSize(b []byte) int { return max(12+int(be32(b[8:])), batch.HeaderSize) }

// wholeBatches returns how many leading bytes of b are whole batches whose
// last offset is below limit, stopping before maxBytes would be passed
// (but always taking a first whole batch).
func wholeBatches(b []byte, maxBytes int, limit int64) int {
	i := 0
	for i+batch.HeaderSize <= len(b) {
		size := frameSize(b[i:])
		last := be64(b[i:]) + int64(be32(b[i+23:]))
		if i+size > len(b) || last >= limit || (i > 0 && i+size > maxBytes) {
			break
		}
		i += size
	}
	return i
}

// Position returns the file position and size of the batch that contains
// offset: the sparse-index floor, then a scan of batch headers. It lets a
// caller serve the .log bytes directly (sendfile, or a Kafka fetch).
// Errors: ErrOffsetOutOfRange, ErrClosed, an I/O error, or ErrCorrupt.
func (s *Segment) Position(offset int64) (pos int64, size int, err error) {
	pos, h, err := s.locate(offset)
	if err != nil {
		return 0, 0, err
	}
	return pos, h.Size(), nil
}

// IndexFloor returns the file position from which a scan for offset starts:
// that of the last sparse-index entry at or below offset, or 0. It does no
// I/O. offset must be in [BaseOffset, NextOffset).
func (s *Segment) IndexFloor(offset int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return floorIndex(s.mu.index, uint32(offset-s.base))
}

// locate returns the position and header of the batch that contains offset.
func (s *Segment) locate(offset int64) (int64, batch.Header, error) {
	if s.closed {
		return 0, batch.Header{}, ErrClosed
	}
	next := s.nextOffset.Load()
	if offset < s.base || offset >= next {
		return 0, batch.Header{}, fmt.Errorf("%w: %d not in [%d, %d)", ErrOffsetOutOfRange, offset, s.base, next)
	}
	pos := s.IndexFloor(offset)
	end := s.size.Load()
	for pos < end {
		h, err := s.readHeader(pos)
		if err != nil {
			return 0, batch.Header{}, s.corruptAt(pos, err)
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += int64(h.Size())
	}
	return 0, batch.Header{}, fmt.Errorf("%w: %d not found below position %d", ErrOffsetOutOfRange, offset, end)
}

// corruptAt turns a batch framing error found while reading already
// validated bytes into a CorruptError; I/O errors pass through.
func (s *Segment) corruptAt(pos int64, err error) error {
	if isBatchError(err) {
		return &CorruptError{Path: s.path(LogSuffix), Pos: pos, Offset: -1, Err: err}
	}
	return err
}

// FindTimestamp returns a copy of the first batch whose max timestamp is at
// least ts, whose last offset is at least from, and whose last offset is
// below limit, or ok = false when there is none in this segment.
func (s *Segment) FindTimestamp(ts, from, limit int64) (b []byte, ok bool, err error) {
	if s.closed {
		return nil, false, ErrClosed
	}
	if s.maxTimestamp.Load() < ts || from >= s.nextOffset.Load() {
		return nil, false, nil
	}
	s.mu.RLock()
	rel := floorTime(s.mu.times, ts)
	if from > s.base && uint32(from-s.base) > rel {
		rel = uint32(from - s.base)
	}
	pos := floorIndex(s.mu.index, rel)
	s.mu.RUnlock()
	end := s.size.Load()
	for pos < end {
		h, err := s.readHeader(pos)
		if err != nil {
			return nil, false, s.corruptAt(pos, err)
		}
		if h.LastOffset() >= limit {
			return nil, false, nil
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= from {
			b := make([]byte, h.Size())
			if _, err := s.f.ReadAt(b, pos); err != nil {
				return nil, false, fmt.Errorf("segment: read %s at %d: %w", s.path(LogSuffix), pos, err)
			}
			return b, true, nil
		}
		pos += int64(h.Size())
	}
	return nil, false, nil
}
