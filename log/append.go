package log

import (
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/segment"
)

// Append validates b as one whole RecordBatch v2, stamps its base offset
// (the log end offset) in place, and appends it to the active segment,
// rolling first when the batch would take the segment past SegmentBytes or
// past SegmentAge. It returns the stamped header. The batch is readable once
// the high watermark passes it and durable after Sync.
//
// Errors: segment.ErrInvalidBatch for bad input (nothing written),
// ErrClosed, or an I/O error from which the log stays readable and
// consistent (see segment.Append).
func (l *Log) Append(b []byte) (batch.Header, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return batch.Header{}, ErrClosed
	}
	h, err := batch.ParseHeader(b)
	if err != nil {
		return batch.Header{}, fmt.Errorf("%w: %w", segment.ErrInvalidBatch, err)
	}
	active := l.active()
	if l.shouldRoll(active, h) {
		if active, err = l.roll(); err != nil {
			return batch.Header{}, err
		}
	}
	h, err = active.Append(b)
	if errors.Is(err, segment.ErrFull) && active.Size() > 0 {
		if active, err = l.roll(); err != nil {
			return batch.Header{}, err
		}
		h, err = active.Append(b)
	}
	return h, err
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.closed
}

// active returns the active segment. Only writers (holding wmu) may use the
// result beyond the call, since only they change the segment list.
func (l *Log) active() *segment.Segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.activeLocked()
}

func (l *Log) shouldRoll(s *segment.Segment, h batch.Header) bool {
	if s.Sealed() {
		// A roll that sealed s but failed to create the next segment.
		return true
	}
	if s.Size() == 0 {
		return false
	}
	if s.Size()+int64(h.Size()) > l.cfg.SegmentBytes {
		return true
	}
	age := l.cfg.SegmentAge.Milliseconds()
	return age > 0 && h.MaxTimestamp-s.FirstTimestamp() >= age
}

// roll seals the active segment and starts a new one at the log end offset.
// The old segment is fsynced before the new file exists, so after a crash
// every segment but the last is whole.
func (l *Log) roll() (*segment.Segment, error) {
	old := l.active()
	if err := old.Seal(); err != nil {
		return nil, err
	}
	seg, err := segment.Create(l.cfg.FS, l.cfg.Dir, old.NextOffset(), l.opts)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, seg)
	l.mu.Unlock()
	return seg, nil
}

// Sync makes every appended batch durable.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	return l.active().Sync()
}

// SetHighWatermark lets readers see offsets below hw. It is clamped to the
// log end offset, never moves backwards (TruncateTo lowers it), and wakes
// readers waiting in Wait.
func (l *Log) SetHighWatermark(hw int64) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if end := l.active().NextOffset(); hw > end {
		hw = end
	}
	if hw <= l.hw.Load() {
		return
	}
	l.hw.Store(hw)
	l.broadcast()
}

// broadcast wakes every reader blocked in Wait.
func (l *Log) broadcast() {
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
}
