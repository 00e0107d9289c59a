package log

import (
	"errors"
	"fmt"
)

var (
	// ErrOffsetOutOfRange reports a read below the log start offset or above
	// the high watermark. errors.As with *OffsetOutOfRangeError gives the
	// valid range.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")

	// ErrClosed reports use of a closed log.
	ErrClosed = errors.New("log: closed")

	// ErrCorrupt reports a log directory whose files do not form a valid log
	// (a gap between segments, a bad checkpoint). Segment damage is reported
	// as segment.ErrCorrupt.
	ErrCorrupt = errors.New("log: corrupt")

	// ErrInvalidConfig reports a Config that does not validate.
	ErrInvalidConfig = errors.New("log: invalid config")
)

// OffsetOutOfRangeError says which offsets can be read. It matches
// ErrOffsetOutOfRange.
type OffsetOutOfRangeError struct {
	Offset int64 // the offset asked for
	Start  int64 // log start offset, the first readable offset
	End    int64 // high watermark, one past the last readable offset
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("log: offset %d out of range [%d, %d)", e.Offset, e.Start, e.End)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }
