package log

import (
	"context"
	"fmt"
	"sort"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/segment"
)

// Read appends to dst whole batches from one segment, starting with the batch
// that contains offset, up to maxBytes (but at least one batch), and all
// below the high watermark. The first batch may start below offset; readers
// skip records they did not ask for. Reading at the high watermark returns
// dst unchanged: use Wait to block for more.
//
// The returned bytes are the caller's. Errors: *OffsetOutOfRangeError when
// offset is below the log start offset or above the high watermark;
// ErrClosed; an I/O error.
func (l *Log) Read(dst []byte, offset int64, maxBytes int) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return dst, ErrClosed
	}
	start, hw := l.logStart.Load(), l.hw.Load()
	if offset < start || offset > hw {
		return dst, &OffsetOutOfRangeError{Offset: offset, Start: start, End: hw}
	}
	if offset == hw {
		return dst, nil
	}
	return l.segmentForLocked(offset).Read(dst, offset, maxBytes, hw)
}

// Location says where the batch holding an offset lies on disk.
type Location struct {
	SegmentBase int64 // base offset of the segment, which names its files
	Position    int64 // byte position of the batch in the segment's .log
	Size        int   // bytes of the batch
}

// Locate returns where the batch that contains offset lies: the segment
// search, the sparse-index floor and a short scan of batch headers. offset
// must be readable (log start <= offset < high watermark), else
// *OffsetOutOfRangeError. The location stays valid until retention or
// truncation removes the segment.
func (l *Log) Locate(offset int64) (Location, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return Location{}, ErrClosed
	}
	start, hw := l.logStart.Load(), l.hw.Load()
	if offset < start || offset >= hw {
		return Location{}, &OffsetOutOfRangeError{Offset: offset, Start: start, End: hw}
	}
	s := l.segmentForLocked(offset)
	pos, size, err := s.Position(offset)
	if err != nil {
		return Location{}, err
	}
	return Location{SegmentBase: s.BaseOffset(), Position: pos, Size: size}, nil
}

// segmentForLocked returns the segment holding offset, which must be in
// [log start, log end).
func (l *Log) segmentForLocked(offset int64) *segment.Segment {
	segs := l.mu.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].BaseOffset() > offset })
	if i == 0 {
		return segs[0]
	}
	return segs[i-1]
}

// Wait blocks until the high watermark is above offset, ctx is done
// (returning ctx.Err()) or the log closes (ErrClosed).
func (l *Log) Wait(ctx context.Context, offset int64) error {
	for {
		l.notifyMu.Lock()
		ch := l.notify
		l.notifyMu.Unlock()
		if l.hw.Load() > offset {
			return nil
		}
		select {
		case <-ch:
		case <-l.closedCh:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maxTimestampDecode bounds decompression while searching by timestamp.
const maxTimestampDecode = 64 << 20

// OffsetForTimestamp returns the offset of the first record, at or after the
// log start and below the high watermark, whose timestamp is at least ts,
// and ok = false when there is none (Kafka ListOffsets semantics).
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return 0, false, ErrClosed
	}
	start, hw := l.logStart.Load(), l.hw.Load()
	from := start
	var recs []batch.Record
	for _, s := range l.mu.segs {
		for s.NextOffset() > from && s.MaxTimestamp() >= ts {
			b, found, err := s.FindTimestamp(ts, from, hw)
			if err != nil {
				return 0, false, err
			}
			if !found {
				break
			}
			h, err := batch.ParseHeader(b)
			if err != nil {
				return 0, false, err
			}
			recs, err = batch.DecodeRecords(b, recs[:0], maxTimestampDecode)
			if err != nil {
				return 0, false, fmt.Errorf("log: timestamp lookup in batch at %d: %w", h.BaseOffset, err)
			}
			for _, r := range recs {
				if r.Offset >= from && r.Timestamp >= ts {
					return r.Offset, true, nil
				}
			}
			// The records at or after ts are all below from (the log start
			// cuts this batch): go on after it.
			from = h.LastOffset() + 1
		}
	}
	return 0, false, nil
}
