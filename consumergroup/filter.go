package consumergroup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A Filter selects records for a topic subscription, evaluated on the
// server so that records filtered out never leave it. Its text is JSON in
// the manner of an SNS filter policy:
//
//	{"key": ["order-1", {"prefix": "eu-"}],
//	 "headers.type": [{"anything-but": ["test"]}],
//	 "headers.amount": [{"numeric": [">=", 10, "<", 100]}],
//	 "headers.trace": [{"exists": true}]}
//
// Each field is "key" (the record key) or "headers.NAME" (the value of the
// record's first header NAME), and maps to a list of conditions: the
// record matches a field if any of its conditions holds (OR within a
// field), and the filter if every field matches (AND across fields). A
// condition is a string (equal to it), a number (the value parsed as a
// number equals it), {"prefix": S}, {"numeric": [OP, N (, OP, N)]} with
// OP one of = < <= > >=, {"exists": true|false}, or {"anything-but":
// [S...]}. A field that is absent matches only {"exists": false}. An
// empty filter ("" or {}) matches everything.
type Filter struct {
	fields []filterField // sorted by name
	text   string        // canonical JSON
}

type filterField struct {
	name   string // "key" or a header name
	header bool
	conds  []condition
}

type condition struct {
	kind     condKind
	str      string
	num      float64
	ops      []numericOp // numeric
	exists   bool
	excluded []string // anything-but
}

type condKind uint8

const (
	condEqual condKind = iota
	condNumberEqual
	condPrefix
	condNumeric
	condExists
	condAnythingBut
)

type numericOp struct {
	op  string
	val float64
}

// Limits of a filter.
const (
	MaxFilterBytes      = 4096
	MaxFilterFields     = 16
	MaxFilterConditions = 100 // per field
)

// ErrInvalidFilter reports a filter that does not parse; the error says
// where.
var ErrInvalidFilter = errors.New("consumergroup: invalid filter")

func badFilter(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidFilter, fmt.Sprintf(format, args...))
}

// ParseFilter parses a filter's JSON text ("" matches everything).
func ParseFilter(text string) (*Filter, error) {
	if strings.TrimSpace(text) == "" {
		return &Filter{}, nil
	}
	if len(text) > MaxFilterBytes {
		return nil, badFilter("%d bytes, limit %d", len(text), MaxFilterBytes)
	}
	var raw map[string][]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, badFilter("want a JSON object of field -> list of conditions: %v", err)
	}
	if dec.More() {
		return nil, badFilter("text after the JSON object")
	}
	if len(raw) > MaxFilterFields {
		return nil, badFilter("%d fields, limit %d", len(raw), MaxFilterFields)
	}
	f := &Filter{}
	if len(raw) == 0 {
		return f, nil // {} matches everything, like ""
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) { // the first bad field is always the same one
		list := raw[name]
		ff := filterField{name: name}
		switch {
		case name == "key":
		case strings.HasPrefix(name, "headers.") && len(name) > len("headers."):
			ff.header, ff.name = true, strings.TrimPrefix(name, "headers.")
		default:
			return nil, badFilter("field %q: want \"key\" or \"headers.NAME\"", name)
		}
		if len(list) == 0 || len(list) > MaxFilterConditions {
			return nil, badFilter("field %q: %d conditions, want 1 to %d", name, len(list), MaxFilterConditions)
		}
		for i, rc := range list {
			c, err := parseCondition(rc)
			if err != nil {
				return nil, badFilter("field %q, condition %d: %v", name, i, err)
			}
			ff.conds = append(ff.conds, c)
		}
		f.fields = append(f.fields, ff)
	}
	slices.SortFunc(f.fields, func(a, b filterField) int {
		return strings.Compare(fieldName(a), fieldName(b))
	})
	f.text = canonical(raw)
	return f, nil
}

func fieldName(f filterField) string {
	if f.header {
		return "headers." + f.name
	}
	return f.name
}

func parseCondition(rc json.RawMessage) (condition, error) {
	var s string
	if json.Unmarshal(rc, &s) == nil {
		return condition{kind: condEqual, str: s}, nil
	}
	var n json.Number
	if json.Unmarshal(rc, &n) == nil {
		v, err := n.Float64()
		if err != nil || math.IsInf(v, 0) {
			return condition{}, fmt.Errorf("number %s out of range", n)
		}
		return condition{kind: condNumberEqual, num: v}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rc, &obj); err != nil || len(obj) != 1 {
		return condition{}, fmt.Errorf("want a string, a number or an object of one operator, got %s", rc)
	}
	for op, arg := range obj {
		switch op {
		case "prefix":
			var p string
			if err := json.Unmarshal(arg, &p); err != nil {
				return condition{}, fmt.Errorf("prefix wants a string")
			}
			return condition{kind: condPrefix, str: p}, nil
		case "exists":
			var b bool
			if err := json.Unmarshal(arg, &b); err != nil {
				return condition{}, fmt.Errorf("exists wants true or false")
			}
			return condition{kind: condExists, exists: b}, nil
		case "anything-but":
			var ex []string
			if err := json.Unmarshal(arg, &ex); err != nil || len(ex) == 0 {
				return condition{}, fmt.Errorf("anything-but wants a non-empty list of strings")
			}
			return condition{kind: condAnythingBut, excluded: ex}, nil
		case "numeric":
			ops, err := parseNumeric(arg)
			if err != nil {
				return condition{}, err
			}
			return condition{kind: condNumeric, ops: ops}, nil
		}
		return condition{}, fmt.Errorf("unknown operator %q (want prefix, numeric, exists or anything-but)", op)
	}
	return condition{}, fmt.Errorf("empty condition")
}

func parseNumeric(arg json.RawMessage) ([]numericOp, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(arg, &items); err != nil || (len(items) != 2 && len(items) != 4) {
		return nil, fmt.Errorf(`numeric wants [OP, N] or [OP, N, OP, N], such as [">=", 10, "<", 20]`)
	}
	var ops []numericOp
	for i := 0; i < len(items); i += 2 {
		var op string
		var n json.Number
		if json.Unmarshal(items[i], &op) != nil || json.Unmarshal(items[i+1], &n) != nil {
			return nil, fmt.Errorf(`numeric wants [OP, N] or [OP, N, OP, N], such as [">=", 10, "<", 20]`)
		}
		v, err := n.Float64()
		if err != nil || math.IsInf(v, 0) {
			return nil, fmt.Errorf("numeric: number %s out of range", n)
		}
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return nil, fmt.Errorf("numeric: unknown comparison %q (want =, <, <=, >, >=)", op)
		}
		ops = append(ops, numericOp{op, v})
	}
	return ops, nil
}

// canonical re-encodes the filter with sorted fields, so that equal
// filters have equal text.
func canonical(raw map[string][]json.RawMessage) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(raw)) {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteString(":[")
		for j, rc := range raw[name] {
			if j > 0 {
				b.WriteByte(',')
			}
			var c bytes.Buffer
			if json.Compact(&c, rc) != nil {
				c.Reset()
				c.Write(rc)
			}
			b.Write(c.Bytes())
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String()
}

// String returns the filter's canonical text ("" for match-all).
func (f *Filter) String() string { return f.text }

// MatchAll reports whether the filter matches every record.
func (f *Filter) MatchAll() bool { return len(f.fields) == 0 }

// Match reports whether a record with this key and these headers (name,
// value pairs; the first of a name counts) matches. A nil key is absent.
func (f *Filter) Match(key []byte, headers func(name string) ([]byte, bool)) bool {
	for _, ff := range f.fields {
		var v []byte
		present := false
		if ff.header {
			v, present = headers(ff.name)
		} else {
			v, present = key, key != nil
		}
		if !ff.match(v, present) {
			return false
		}
	}
	return true
}

func (ff *filterField) match(v []byte, present bool) bool {
	for _, c := range ff.conds {
		if c.match(v, present) {
			return true
		}
	}
	return false
}

func (c *condition) match(v []byte, present bool) bool {
	if c.kind == condExists {
		return present == c.exists
	}
	if !present {
		return false
	}
	switch c.kind {
	case condEqual:
		return string(v) == c.str
	case condPrefix:
		return bytes.HasPrefix(v, []byte(c.str))
	case condAnythingBut:
		return !slices.Contains(c.excluded, string(v))
	case condNumberEqual, condNumeric:
		n, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return false
		}
		if c.kind == condNumberEqual {
			return n == c.num
		}
		for _, op := range c.ops {
			if !compare(n, op) {
				return false
			}
		}
		return true
	}
	return false
}

func compare(n float64, op numericOp) bool {
	switch op.op {
	case "=":
		return n == op.val
	case "<":
		return n < op.val
	case "<=":
		return n <= op.val
	case ">":
		return n > op.val
	case ">=":
		return n >= op.val
	}
	return false
}
