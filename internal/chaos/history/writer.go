package history

import (
	"bufio"
	"encoding/json"
	"io"
)

// Writer encodes ops as JSON lines. It does not validate them (a history
// is written even when a runner recorded a bad op, and the Reader then
// names the line). A Writer is not safe for concurrent use.
type Writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewWriter returns a Writer to w. Call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// Write encodes op as one line.
func (w *Writer) Write(op *Op) error { return w.enc.Encode(op) }

// Flush writes what is buffered to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// WriteAll writes ops as JSON lines to w.
func WriteAll(w io.Writer, ops []Op) error {
	hw := NewWriter(w)
	for i := range ops {
		if err := hw.Write(&ops[i]); err != nil {
			return err
		}
	}
	return hw.Flush()
}
