package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt reports bytes on disk that are not a valid segment where a
	// valid one must be: inside a sealed segment, or before the last durable
	// index point of the active one. The segment refuses to open. Match with
	// errors.Is; errors.As with *CorruptError gives the file and position.
	ErrCorrupt = errors.New("segment: corrupt")

	// ErrInvalidBatch reports a batch handed to Append that does not
	// validate (bad header, CRC mismatch, wrong length). Nothing is written.
	// The underlying batch error is wrapped too.
	ErrInvalidBatch = errors.New("segment: invalid batch")

	// ErrFull reports that a batch does not fit in this segment: its
	// relative offsets or file positions would overflow the 32-bit index
	// fields. The caller rolls to a new segment.
	ErrFull = errors.New("segment: full")

	// ErrOffsetOutOfRange reports a read or lookup outside
	// [BaseOffset, NextOffset).
	ErrOffsetOutOfRange = errors.New("segment: offset out of range")

	// ErrNotBoundary reports a truncation point inside a batch: the log is
	// cut only between whole batches.
	ErrNotBoundary = errors.New("segment: offset is not a batch boundary")

	// ErrClosed reports use of a closed segment.
	ErrClosed = errors.New("segment: closed")

	// ErrSealed reports an Append to a sealed segment.
	ErrSealed = errors.New("segment: sealed")

	// ErrFailed reports a segment that stopped taking writes after an I/O
	// error it could not undo (a failed fsync may have dropped written
	// pages). Reads of what was already appended keep working.
	ErrFailed = errors.New("segment: failed after an I/O error")
)

// CorruptError says where a segment is corrupt. It matches ErrCorrupt.
type CorruptError struct {
	Path string // file name
	Pos  int64  // byte position in the file
	// Offset is the offset of the first record the damage hides (the
	// batch that should start at Pos), or -1 when it is not known.
	Offset int64
	Err    error // what was wrong, usually a batch.ErrCorrupt or batch.ErrTruncated
}

func (e *CorruptError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("segment: corrupt %s at position %d: %v", e.Path, e.Pos, e.Err)
	}
	return fmt.Sprintf("segment: corrupt %s at position %d (offset %d): %v", e.Path, e.Pos, e.Offset, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying cause.
func (e *CorruptError) Unwrap() error { return e.Err }
