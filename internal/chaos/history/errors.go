package history

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors of decoding and validation. Match them with errors.Is; errors.As
// with the typed errors below gives the details.
var (
	// ErrSyntax reports a line that is not one JSON object. errors.As with
	// *DecodeError gives the line.
	ErrSyntax = errors.New("history: malformed JSON")

	// ErrUnknownField reports a JSON field the format does not have (field
	// names are matched exactly, case included). errors.As with
	// *FieldError gives its path.
	ErrUnknownField = errors.New("history: unknown field")

	// ErrBadValue reports a field of the wrong JSON type, or an operation
	// whose fields break the format's rules (an unknown kind, a payload
	// that is not the kind's, a result on an op that was not ok, negative
	// times). errors.As with *FieldError or *InvalidOpError gives the
	// details.
	ErrBadValue = errors.New("history: bad value")

	// ErrLineTooLong reports a line longer than the Reader's limit.
	ErrLineTooLong = errors.New("history: line too long")

	// ErrDuplicateID reports two operations with the same ID. errors.As
	// with *InvalidOpError gives the second.
	ErrDuplicateID = errors.New("history: duplicate op id")

	// ErrDuplicateValue reports two produce or send operations that carry
	// the same value. errors.As with *InvalidOpError gives the second.
	ErrDuplicateValue = errors.New("history: value produced twice")
)

// DecodeError is an error of the line Line (counted from 1) of a history.
// It wraps the error of that line.
type DecodeError struct {
	Line int
	Err  error
}

func (e *DecodeError) Error() string {
	return "history: line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// FieldError is an error in the JSON field at Path ("fetch.result.records",
// dot-separated from the op). Err is ErrUnknownField, or wraps ErrBadValue.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	return "field " + strconv.Quote(e.Path) + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// InvalidOpError is an operation that breaks the format's rules: Field
// (a path as in FieldError, or empty for the op as a whole) and why. It
// matches ErrBadValue, or Err when that is set (ErrDuplicateID,
// ErrDuplicateValue).
type InvalidOpError struct {
	ID     int64
	Kind   Kind
	Field  string
	Reason string
	Err    error
}

func (e *InvalidOpError) Error() string {
	s := fmt.Sprintf("history: op %d (%s)", e.ID, e.Kind)
	if e.Field != "" {
		s += " field " + strconv.Quote(e.Field)
	}
	return s + ": " + e.Reason
}

func (e *InvalidOpError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return ErrBadValue
}
