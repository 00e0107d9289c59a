package history

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader feeds the Reader arbitrary bytes. Properties: no panic; every
// error is a *DecodeError with a line in range (the input has no I/O
// errors); and every op it accepts writes and reads back equal.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	ops := everyKind()
	if err := WriteAll(&buf, ops); err != nil {
		f.Fatal(err)
	}
	valid := buf.String()
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("null"))
	f.Add([]byte(valid))
	for _, line := range strings.Split(valid, "\n") {
		f.Add([]byte(line))
		f.Add([]byte(line + "garbage\n" + line))
		if len(line) > 10 {
			f.Add([]byte(line[:len(line)/2])) // cut mid-line
		}
	}
	f.Add([]byte(`{"id":9223372036854775807,"process":-1,"kind":"fault","outcome":"ok","invoke":0,` +
		`"complete":9223372036854775807,"fault":{"action":"heal"}}`))
	f.Add([]byte(`{"id":1,"kind":"fetch","outcome":"ok","fetch":{"stream":"s","result":{"records":[[0,"\ud800"],[1e3,"x"]]}}}`))
	f.Add([]byte(`{"id":1,"kind":"produce","produce":{"result":null,"value":"\u0000"}}` + "\n\x00\xff"))
	f.Add([]byte(strings.Repeat("[", 10000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReaderSize(bytes.NewReader(data), 1<<16)
		lines := bytes.Count(data, []byte("\n")) + 1
		for {
			op, err := r.Read()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Line < 1 || de.Line > lines {
					t.Fatalf("error %v (%T) is not a *DecodeError of a line in 1..%d", err, err, lines)
				}
				continue
			}
			var out bytes.Buffer
			if err := WriteAll(&out, []Op{op}); err != nil {
				t.Fatalf("write %+v: %v", op, err)
			}
			back, err := ReadAll(&out)
			if err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], op) {
				t.Fatalf("round trip of %+v: %+v, %v", op, back, err)
			}
		}
	})
}

// FuzzReadAll reads a whole history. Properties: no panic; an error is a
// *DecodeError; the ops read (all of them, or those before the error)
// pass ValidateHistory; and a history read whole writes and reads back
// equal.
func FuzzReadAll(f *testing.F) {
	var buf bytes.Buffer
	ops := everyKind()
	if err := WriteAll(&buf, ops); err != nil {
		f.Fatal(err)
	}
	valid := buf.String()
	lines := strings.Split(strings.TrimSpace(valid), "\n")
	f.Add([]byte(""))
	f.Add([]byte(valid))
	f.Add([]byte(valid + lines[0] + "\n")) // an id used twice
	f.Add([]byte(lines[0] + "\n\n  \n" + lines[1]))
	f.Add([]byte(valid[:len(valid)/2]))
	for _, l := range lines {
		if strings.Contains(l, `"produce"`) {
			f.Add([]byte(l + "\n" + strings.Replace(l, `"id":`, `"id":1`, 1))) // a value produced twice
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := ReadAll(bytes.NewReader(data))
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
		}
		if verr := ValidateHistory(ops); verr != nil {
			t.Fatalf("ReadAll returned %d ops (error %v) that ValidateHistory refuses: %v", len(ops), err, verr)
		}
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteAll(&out, ops); err != nil {
			t.Fatalf("write: %v", err)
		}
		back, err := ReadAll(&out)
		if err != nil || len(back) != len(ops) || len(ops) > 0 && !reflect.DeepEqual(back, ops) {
			t.Fatalf("round trip of %d ops: %d, %v", len(ops), len(back), err)
		}
	})
}
