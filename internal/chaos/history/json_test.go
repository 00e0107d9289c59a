package history

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestRoundTripEveryField writes one op of each kind with every field set
// and reads them back: a field missing from a decoding table would be an
// unknown field, and a field decoded into the wrong place would differ.
func TestRoundTripEveryField(t *testing.T) {
	ops := everyKind()
	var buf bytes.Buffer
	if err := WriteAll(&buf, ops); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(ops) {
		t.Fatalf("%d lines for %d ops", n, len(ops))
	}
	got, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, ops)
	}
}

func TestRecordJSON(t *testing.T) {
	b, err := Record{Offset: 7, Value: `a"b<`}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[7,"a\"b\u003c"]` {
		t.Fatalf("Record JSON = %s", b)
	}
	var r Record
	if err := r.UnmarshalJSON(b); err != nil || r != (Record{7, `a"b<`}) {
		t.Fatalf("decoded %+v, %v", r, err)
	}
}

// TestReaderErrors feeds one bad line after a good one and checks the
// typed error, its line and its field path.
func TestReaderErrors(t *testing.T) {
	good := `{"id":0,"process":0,"kind":"fault","outcome":"ok","invoke":1,"complete":2,"fault":{"action":"kill"}}`
	produce := func(fields string) string {
		return `{"id":1,"process":1,"kind":"produce","outcome":"ok","invoke":1,"complete":2,"produce":{"stream":"s",` +
			`"partition":0,"value":"v","producer":"p","seq":0` + fields + `}}`
	}
	cases := []struct {
		name string
		line string
		want error
		path string // for a *FieldError
	}{
		{"not JSON", `{"id":`, ErrSyntax, ""},
		{"trailing garbage", good + ` x`, ErrSyntax, ""},
		{"two objects", good + good, ErrSyntax, ""},
		{"an array", `[1,2]`, ErrSyntax, ""},
		{"a string", `"op"`, ErrSyntax, ""},
		{"unknown top field", strings.Replace(good, `"id":0`, `"id":0,"extra":1`, 1), ErrUnknownField, "extra"},
		{"field in the wrong case", strings.Replace(good, `"kind"`, `"Kind"`, 1), ErrUnknownField, "Kind"},
		{"unknown nested field", strings.Replace(good, `"action":"kill"`, `"action":"kill","signal":9`, 1),
			ErrUnknownField, "fault.signal"},
		{"unknown field in a result", produce(`,"result":{"partition":0,"offset":0,"epoch":3}`), ErrUnknownField,
			"produce.result.epoch"},
		{"unknown field in an array of objects", `{"id":1,"process":1,"kind":"group_commit","outcome":"ok","invoke":1,` +
			`"complete":2,"commit":{"group":"g","member":"m","offsets":[{"stream":"s","partition":0,"offset":1,"epoch":2}]}}`,
			ErrUnknownField, "commit.offsets.epoch"},
		{"unknown field in an escaped name", strings.Replace(good, `"id":0`, `"id":0,"\u0069d2":1`, 1), ErrUnknownField, "id2"},
		{"string for a number", strings.Replace(good, `"invoke":1`, `"invoke":"1"`, 1), ErrBadValue, "invoke"},
		{"fraction for an integer", strings.Replace(good, `"invoke":1`, `"invoke":1.5`, 1), ErrBadValue, "invoke"},
		{"int32 overflow", produce(`,"result":{"partition":4294967296,"offset":0}`), ErrBadValue,
			"produce.result.partition"},
		{"payload not an object", strings.Replace(good, `{"action":"kill"}`, `7`, 1), ErrBadValue, "fault"},
		{"bad record", `{"id":1,"process":1,"kind":"fetch","outcome":"ok","invoke":1,"complete":2,"fetch":{"stream":"s",` +
			`"partition":0,"from":0,"result":{"log_start":0,"high_watermark":1,"records":[[0,"a","b"]]}}}`,
			ErrBadValue, "fetch.result.records"},
		{"record offset a string", `{"id":1,"process":1,"kind":"fetch","outcome":"ok","invoke":1,"complete":2,"fetch":{"stream":"s",` +
			`"partition":0,"from":0,"result":{"log_start":0,"high_watermark":1,"records":[["0","a"]]}}}`,
			ErrBadValue, "fetch.result.records"},
		{"invalid op", strings.Replace(good, `"kill"`, `"explode"`, 1), ErrBadValue, ""},
		{"unknown kind", strings.Replace(good, `"fault","outcome"`, `"nemesis","outcome"`, 1), ErrBadValue, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(good + "\n\n" + c.line + "\n" + good + "\n"))
			if _, err := r.Read(); err != nil {
				t.Fatal(err)
			}
			_, err := r.Read()
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, c.want) {
				t.Fatalf("Read = %v, want a *DecodeError matching %v", err, c.want)
			}
			if de.Line != 3 {
				t.Errorf("line %d, want 3", de.Line)
			}
			var fe *FieldError
			if errors.As(err, &fe) != (c.path != "") || (fe != nil && fe.Path != c.path) {
				t.Errorf("field error %v, want path %q", fe, c.path)
			}
			// The next line reads.
			if _, err := r.Read(); err != nil {
				t.Fatalf("after a bad line: %v", err)
			}
			if _, err := r.Read(); !errors.Is(err, io.EOF) {
				t.Fatalf("at the end: %v", err)
			}
		})
	}
}

func TestEscapedNames(t *testing.T) {
	line := `{"\u0069d":7,"process":0,"kind":"fault","outcome":"ok","invoke":1,"complete":2,"fault":{"action":"kill"}}`
	ops, err := ReadAll(strings.NewReader(line))
	if err != nil || len(ops) != 1 || ops[0].ID != 7 {
		t.Fatalf("%+v %v", ops, err)
	}
}

func TestReaderLines(t *testing.T) {
	ops := everyKind()
	var buf bytes.Buffer
	if err := WriteAll(&buf, ops[:3]); err != nil {
		t.Fatal(err)
	}
	// Blank lines and spaces are skipped; the last line needs no newline.
	in := "\n  \n" + strings.ReplaceAll(buf.String(), "\n", "\r\n\n")
	in = strings.TrimRight(in, "\r\n")
	got, err := ReadAll(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops[:3]) {
		t.Fatalf("got %+v", got)
	}
	if got, err := ReadAll(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Fatalf("empty history: %v %v", got, err)
	}
}

func TestReaderLineTooLong(t *testing.T) {
	ops := everyKind()
	var buf bytes.Buffer
	if err := WriteAll(&buf, ops[:2]); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	limit := len(lines[0]) - 1 // the first line fits exactly, the second does not
	if len(lines[1]) <= len(lines[0]) {
		t.Fatal("test needs a longer second line")
	}
	long := lines[0] + lines[1] + strings.Repeat(" ", 200<<10) + "\n" + lines[0]
	r := NewReaderSize(strings.NewReader(long), limit)
	if _, err := r.Read(); err != nil {
		t.Fatalf("a line of exactly the limit: %v", err)
	}
	for range 2 {
		_, err := r.Read()
		var de *DecodeError
		if !errors.Is(err, ErrLineTooLong) || !errors.As(err, &de) {
			t.Fatalf("Read = %v, want ErrLineTooLong", err)
		}
	}
	if _, err := r.Read(); err != nil {
		t.Fatalf("after long lines: %v", err)
	}
	if r.Line() != 4 {
		t.Fatalf("line %d", r.Line())
	}
}

func TestReadAllDuplicates(t *testing.T) {
	ops := everyKind()
	again := ops[2] // the produce
	again.ID = 99
	var buf bytes.Buffer
	if err := WriteAll(&buf, append(ops[:len(ops):len(ops)], again)); err != nil {
		t.Fatal(err)
	}
	_, err := ReadAll(&buf)
	var de *DecodeError
	if !errors.Is(err, ErrDuplicateValue) || !errors.As(err, &de) || de.Line != len(ops)+1 {
		t.Fatalf("ReadAll = %v", err)
	}
	buf.Reset()
	if err := WriteAll(&buf, append(ops[:len(ops):len(ops)], ops[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(&buf); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("ReadAll = %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestReaderIOErrorSticks(t *testing.T) {
	boom := errors.New("disk gone")
	r := NewReader(io.MultiReader(strings.NewReader("{"), failingReader{boom}))
	for range 2 {
		if _, err := r.Read(); !errors.Is(err, boom) {
			t.Fatalf("Read = %v", err)
		}
	}
}

// TestDocExample reads the example of the package doc.
func TestDocExample(t *testing.T) {
	example := `
{"id":0,"process":0,"kind":"create_stream","outcome":"ok","invoke":10,"complete":90,"stream":{"name":"s","partitions":2}}
{"id":1,"process":3,"kind":"produce","outcome":"ok","invoke":100,"complete":250,"produce":{"stream":"s","partition":-1,"key":"k7","value":"p3-17","producer":"p3","seq":17,"idempotent":true,"ordered":true,"result":{"partition":1,"offset":0}}}
{"id":2,"process":-1,"kind":"fault","outcome":"ok","invoke":260,"complete":300,"fault":{"action":"kill","nodes":["n2"]}}
{"id":3,"process":4,"kind":"fetch","outcome":"ok","invoke":900,"complete":950,"fetch":{"stream":"s","partition":1,"from":0,"final":true,"result":{"log_start":0,"high_watermark":1,"records":[[0,"p3-17"]]}}}
`
	ops, err := ReadAll(strings.NewReader(example))
	if err != nil || len(ops) != 4 {
		t.Fatalf("%d ops, %v", len(ops), err)
	}
}
