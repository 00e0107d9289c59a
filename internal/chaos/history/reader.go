package history

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLine bounds a line of a history read by a Reader: 256 MiB, room
// for a final read of a few million records. Split bigger final reads into
// several fetch ops.
const DefaultMaxLine = 256 << 20

// Reader decodes a history from JSON lines, strictly: every line is one
// op, an object with no unknown fields (names match exactly) that passes
// Op.Validate. Blank lines are skipped. It never panics on bad input, and
// holds one line at a time, of at most the limit (a longer line is skipped
// without being held). A Reader is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	max  int
	line int   // lines read so far
	err  error // a sticky read error of the underlying reader
}

// NewReader returns a Reader of r with lines of at most DefaultMaxLine
// bytes.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxLine) }

// NewReaderSize returns a Reader of r with lines of at most maxLine bytes
// (the newline excluded); maxLine < 1 means DefaultMaxLine.
func NewReaderSize(r io.Reader, maxLine int) *Reader {
	if maxLine < 1 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: maxLine}
}

// Read returns the next op. At the end it returns io.EOF. A bad line is a
// *DecodeError (matching ErrSyntax, ErrUnknownField, ErrBadValue or
// ErrLineTooLong) and the next Read goes on with the next line. An error
// of the underlying reader is returned as is, and again by every later
// Read.
func (r *Reader) Read() (Op, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Op{}, err
		}
		if line == nil {
			continue // blank
		}
		op, err := decodeOp(line)
		if err == nil {
			err = op.Validate()
		}
		if err != nil {
			return Op{}, &DecodeError{Line: r.line, Err: err}
		}
		return op, nil
	}
}

// Line returns the number of the line last read, counted from 1.
func (r *Reader) Line() int { return r.line }

// readLine returns the next line without its newline, nil for a blank
// one. The slice is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	var long []byte // a line longer than the buffer, gathered
	tooLong := false
	n := 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		n += len(chunk)
		content := n // the line's length so far, without its newline
		if err == nil {
			content--
		}
		if content > r.max {
			tooLong, long = true, nil
		}
		if !tooLong && (errors.Is(err, bufio.ErrBufferFull) || long != nil) {
			long = append(long, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			r.err = err
			return nil, err
		}
		if n == 0 { // io.EOF with nothing left
			r.err = io.EOF
			return nil, io.EOF
		}
		r.line++
		if tooLong {
			return nil, &DecodeError{Line: r.line, Err: ErrLineTooLong}
		}
		if long != nil {
			chunk = long
		}
		chunk = bytes.TrimSpace(chunk)
		if len(chunk) == 0 {
			return nil, nil
		}
		return chunk, nil
	}
}

// ReadAll reads a whole history and checks it with the rules of
// ValidateHistory as well (unique IDs and values). It stops at the first
// error, a *DecodeError naming the line.
func ReadAll(rd io.Reader) ([]Op, error) {
	r := NewReader(rd)
	var ops []Op
	ids := make(map[int64]struct{})
	values := make(map[Value]struct{})
	for {
		op, err := r.Read()
		if errors.Is(err, io.EOF) {
			return ops, nil
		}
		if err != nil {
			return ops, err
		}
		if _, dup := ids[op.ID]; dup {
			return ops, &DecodeError{Line: r.line, Err: &InvalidOpError{ID: op.ID, Kind: op.Kind, Field: "id",
				Reason: "used twice", Err: ErrDuplicateID}}
		}
		ids[op.ID] = struct{}{}
		if op.Produce != nil {
			if _, dup := values[op.Produce.Value]; dup {
				return ops, &DecodeError{Line: r.line, Err: &InvalidOpError{ID: op.ID, Kind: op.Kind,
					Field: "produce.value", Reason: "value " + string(op.Produce.Value) + " produced twice",
					Err: ErrDuplicateValue}}
			}
			values[op.Produce.Value] = struct{}{}
		}
		ops = append(ops, op)
	}
}
