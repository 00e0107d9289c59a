package log

import (
	"fmt"
	"time"

	"github.com/sluicedb/sluice/segment"
)

// RetentionPoint returns the log start offset that the retention policy
// asks for at now: the end of the newest sealed segment that may go, or the
// current log start when none may. It changes nothing, so a replicated
// partition can propose the result as a command and every replica applies
// the same AdvanceLogStart.
//
// A sealed segment may go when it lies wholly below the high watermark and
// either its newest record is older than now - RetentionAge, or the log
// without it (and without every older one) still holds at least
// RetentionBytes. The active segment never goes.
func (l *Log) RetentionPoint(now time.Time) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	point := l.logStart.Load()
	if l.mu.closed {
		return point
	}
	var total int64
	for _, s := range l.mu.segs {
		total += s.Size()
	}
	ageLimit := now.Add(-l.cfg.RetentionAge).UnixMilli()
	hw := l.hw.Load()
	sealed := l.mu.segs[:len(l.mu.segs)-1]
	for _, s := range sealed {
		if s.NextOffset() > hw {
			break
		}
		byAge := l.cfg.RetentionAge > 0 && s.MaxTimestamp() < ageLimit
		bySize := l.cfg.RetentionBytes > 0 && total-s.Size() >= l.cfg.RetentionBytes
		if !byAge && !bySize {
			break
		}
		total -= s.Size()
		if s.NextOffset() > point {
			point = s.NextOffset()
		}
	}
	return point
}

// SetRetention replaces the retention policy (RetentionBytes and
// RetentionAge of the Config; zero keeps everything by that measure), so
// that an altered stream takes effect on an open log. It changes nothing on
// disk: the next RetentionPoint uses it.
func (l *Log) SetRetention(bytes int64, age time.Duration) error {
	if bytes < 0 || age < 0 {
		return fmt.Errorf("%w: retention %d bytes, %s", ErrInvalidConfig, bytes, age)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg.RetentionBytes, l.cfg.RetentionAge = bytes, age
	return nil
}

// ApplyRetention advances the log start offset to RetentionPoint(now).
func (l *Log) ApplyRetention(now time.Time) error {
	return l.AdvanceLogStart(l.RetentionPoint(now))
}

// AdvanceLogStart makes offset the first readable offset and deletes every
// segment wholly below it (Kafka DeleteRecords). offset may fall inside a
// segment; that segment stays until the log start passes its end. The log
// start never moves backwards: a lower offset only deletes what is wholly
// below the current start. offset must not exceed the high watermark.
//
// The new log start is checkpointed durably before any file is deleted.
func (l *Log) AdvanceLogStart(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	start, hw := l.logStart.Load(), l.hw.Load()
	if offset > hw {
		return &OffsetOutOfRangeError{Offset: offset, Start: start, End: hw}
	}
	if offset < start {
		// Never backwards; but still delete segments wholly below the
		// current start (one can be left by TruncateTo and a roll, or by a
		// crash before the deletion that followed a checkpoint).
		offset = start
	}
	if offset > start {
		if err := writeCheckpoint(l.cfg.FS, l.cfg.Dir, offset); err != nil {
			return err
		}
		l.logStart.Store(offset)
	}
	// An active segment wholly below the new start is rolled, so that it
	// can be deleted like the others.
	if a := l.active(); a.Size() > 0 && a.NextOffset() <= offset {
		if _, err := l.roll(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	var doomed []*segment.Segment
	for len(l.mu.segs) > 1 && l.mu.segs[0].NextOffset() <= offset {
		doomed = append(doomed, l.mu.segs[0])
		l.mu.segs = l.mu.segs[1:]
	}
	l.mu.Unlock()
	for _, s := range doomed {
		l.cfg.Logger.Info("log: deleting segment below log start", "dir", l.cfg.Dir,
			"base", s.BaseOffset(), "next", s.NextOffset(), "bytes", s.Size(), "log_start", offset)
		if err := s.Remove(); err != nil {
			return err
		}
	}
	return nil
}

// TruncateTo removes every record at or above offset, which must be a batch
// boundary between the log start and the log end. The high watermark drops
// to offset if it was above. Replicas use it to drop a divergent tail.
func (l *Log) TruncateTo(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	start, end := l.logStart.Load(), l.activeLocked().NextOffset()
	if offset < start || offset > end {
		return &OffsetOutOfRangeError{Offset: offset, Start: start, End: end}
	}
	// Drop whole segments that start at or above offset, keeping at least
	// one segment.
	for len(l.mu.segs) > 1 && l.activeLocked().BaseOffset() >= offset {
		last := l.activeLocked()
		if err := last.Remove(); err != nil {
			return err
		}
		l.mu.segs = l.mu.segs[:len(l.mu.segs)-1]
	}
	if err := l.activeLocked().TruncateTo(offset); err != nil {
		return fmt.Errorf("log: truncate to %d: %w", offset, err)
	}
	if l.hw.Load() > offset {
		l.hw.Store(offset)
	}
	return nil
}
