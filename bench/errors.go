package bench

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidWorkload is matched (errors.Is) by every *WorkloadError: the
// workload file could not be read as YAML, or a field is out of range.
var ErrInvalidWorkload = errors.New("bench: invalid workload")

// ErrInvalidRunConfig is returned by Run for a RunConfig it cannot run:
// no workload or no driver.
var ErrInvalidRunConfig = errors.New("bench: invalid run config")

// WorkloadError describes what is wrong with a workload: a YAML syntax
// error (Field empty), an unknown or duplicated field, a value of the
// wrong type, or a value out of range. It matches ErrInvalidWorkload.
type WorkloadError struct {
	Source string // the file (or name) the workload came from
	Field  string // the YAML field name, such as "producerRate"; empty for the whole document
	Line   int    // the field's line in the file, or 0 when unknown
	Msg    string // what is wrong, one line
	Err    error  // the underlying error (YAML or file system), if any
}

// Error returns a one-line message such as
// "workloads/x.yaml:7: producerRate: must be >= 0, got -5".
func (e *WorkloadError) Error() string {
	s := e.Source
	if s == "" {
		s = "workload"
	}
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Unwrap returns the underlying error.
func (e *WorkloadError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidWorkload.
func (e *WorkloadError) Is(target error) bool { return target == ErrInvalidWorkload }

// fieldErrorf returns a WorkloadError for field, with the message built
// from format and args.
func fieldErrorf(field, format string, args ...any) *WorkloadError {
	return &WorkloadError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
