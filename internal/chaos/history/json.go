package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strict decoding. encoding/json matches field names without regard to
// case, drops unknown fields (or, with DisallowUnknownFields, reports them
// with an untyped error) and names a wrong type's field by its path. So a
// line is decoded in two steps: encoding/json decodes it into an Op
// (syntax and types), then one walk over the line checks every object key
// against the schema of the Op type (exact names, from the struct tags).

// schema is the JSON shape of a struct type: its field names and, for
// fields holding objects (or arrays of them), their schemas. A nil
// *schema is a field whose value is not an object of ours.
type schema struct {
	fields map[string]*schema
}

// opSchema is the schema of Op. It is computed once from the struct tags
// and never changed.
var opSchema = schemaOf(reflect.TypeFor[Op]())

// schemaOf returns the schema of struct type t, nil for a type that is no
// struct (after pointers and slices) or decodes itself.
func schemaOf(t reflect.Type) *schema {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	s := &schema{fields: map[string]*schema{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.fields[name] = schemaOf(f.Type)
	}
	return s
}

// decodeOp decodes one line of a history. It does not validate the op. A
// line that is not one JSON object is ErrSyntax; a bad field is a
// *FieldError.
func decodeOp(line []byte) (Op, error) {
	var op Op
	if err := json.Unmarshal(line, &op); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var fe *FieldError
		switch {
		case errors.As(err, &fe):
			return Op{}, fe
		case errors.As(err, &te) && te.Field != "":
			return Op{}, &FieldError{Path: te.Field, Err: fmt.Errorf("%w: %w", ErrBadValue, err)}
		case errors.As(err, &se) || errors.As(err, &te):
			return Op{}, fmt.Errorf("%w: %w", ErrSyntax, err)
		default:
			return Op{}, fmt.Errorf("%w: %w", ErrBadValue, err)
		}
	}
	w := keyWalker{data: line}
	w.space()
	if w.i >= len(w.data) || w.data[w.i] != '{' {
		return Op{}, fmt.Errorf("%w: not a JSON object", ErrSyntax)
	}
	if err := w.value(opSchema); err != nil {
		return Op{}, err
	}
	return op, nil
}

// keyWalker checks the object keys of valid JSON against a schema.
type keyWalker struct {
	data []byte
	i    int
	path []string // keys from the top to the value being walked
}

func (w *keyWalker) space() {
	for w.i < len(w.data) && (w.data[w.i] == ' ' || w.data[w.i] == '\t' || w.data[w.i] == '\r' || w.data[w.i] == '\n') {
		w.i++
	}
}

// value walks one value. s is the schema of the objects in it (the value
// itself or, for an array, its elements); nil checks nothing.
func (w *keyWalker) value(s *schema) error {
	w.space()
	if w.i >= len(w.data) {
		return nil
	}
	switch w.data[w.i] {
	case '{':
		w.i++
		for {
			w.space()
			if w.i >= len(w.data) || w.data[w.i] == '}' {
				w.i++
				return nil
			}
			if w.data[w.i] == ',' {
				w.i++
				continue
			}
			key := w.key()
			w.space()
			w.i++ // ':'
			var sub *schema
			if s != nil {
				var ok bool
				if sub, ok = s.fields[key]; !ok {
					return &FieldError{Path: strings.Join(append(w.path, key), "."), Err: ErrUnknownField}
				}
			}
			w.path = append(w.path, key)
			if err := w.value(sub); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case '[':
		w.i++
		for {
			w.space()
			if w.i >= len(w.data) || w.data[w.i] == ']' {
				w.i++
				return nil
			}
			if w.data[w.i] == ',' {
				w.i++
				continue
			}
			if err := w.value(s); err != nil {
				return err
			}
		}
	case '"':
		w.str()
	default: // a number, true, false, null
		for w.i < len(w.data) && !strings.ContainsRune(",}] \t\r\n", rune(w.data[w.i])) {
			w.i++
		}
	}
	return nil
}

// str skips a string and returns its raw bytes, quotes included.
func (w *keyWalker) str() []byte {
	start := w.i
	w.i++
	for w.i < len(w.data) && w.data[w.i] != '"' {
		if w.data[w.i] == '\\' {
			w.i++
		}
		w.i++
	}
	w.i++
	return w.data[start:min(w.i, len(w.data))]
}

// key reads an object key, unescaped.
func (w *keyWalker) key() string {
	raw := w.str()
	if !strings.ContainsRune(string(raw), '\\') && len(raw) >= 2 {
		return string(raw[1 : len(raw)-1])
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return string(raw) // not reached: the line decoded
	}
	return k
}

// recordsPath is where records are in an op; Record's errors name it.
const recordsPath = "fetch.result.records"

// MarshalJSON encodes a Record as [offset, "value"].
func (r Record) MarshalJSON() ([]byte, error) {
	v, err := json.Marshal(string(r.Value))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(v)+24)
	b = append(b, '[')
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, ',')
	b = append(b, v...)
	return append(b, ']'), nil
}

// UnmarshalJSON decodes a Record from [offset, "value"]. It parses the
// pair itself (a history is mostly records): encoding/json has checked
// that data is valid JSON.
func (r *Record) UnmarshalJSON(data []byte) error {
	bad := func(why string) error {
		return &FieldError{Path: recordsPath, Err: fmt.Errorf("%w: a record is [offset, \"value\"]: %s", ErrBadValue, why)}
	}
	w := keyWalker{data: data}
	w.space()
	if w.i >= len(data) || data[w.i] != '[' {
		return bad("not an array")
	}
	w.i++
	w.space()
	start := w.i
	for w.i < len(data) && !strings.ContainsRune(",] \t\r\n", rune(data[w.i])) {
		w.i++
	}
	off, err := strconv.ParseInt(string(data[start:w.i]), 10, 64)
	if err != nil {
		return bad("the offset is not an int64")
	}
	w.space()
	if w.i >= len(data) || data[w.i] != ',' {
		return bad("not a pair")
	}
	w.i++
	w.space()
	if w.i >= len(data) || data[w.i] != '"' {
		return bad("the value is not a string")
	}
	raw := w.str()
	w.space()
	if w.i >= len(data) || data[w.i] != ']' {
		return bad("not a pair")
	}
	w.i++
	if w.space(); w.i != len(data) {
		return bad("not a pair")
	}
	var v string
	if inner := raw[1 : len(raw)-1]; !strings.ContainsRune(string(inner), '\\') && utf8.Valid(inner) {
		v = string(inner)
	} else if err := json.Unmarshal(raw, &v); err != nil {
		return bad("the value is not a string")
	}
	r.Offset, r.Value = off, Value(v)
	return nil
}
