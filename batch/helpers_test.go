package batch

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

var allCodecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

// sampleRecords covers the encodings that must round-trip: nil vs empty
// keys, values and header values; headers; negative, zero and extreme
// timestamps (the deltas wrap).
func sampleRecords() []Record {
	return []Record{
		{Timestamp: 1_700_000_000_000, Key: []byte("k1"), Value: []byte("v1")},
		{Timestamp: 1_700_000_000_005, Key: nil, Value: nil},
		{Timestamp: 1_699_999_999_000, Key: []byte{}, Value: []byte{}},
		{Timestamp: -1, Key: []byte("neg"), Value: bytes.Repeat([]byte("x"), 300)},
		{Timestamp: math.MaxInt64, Key: nil, Value: []byte("max")},
		{Timestamp: math.MinInt64, Key: []byte("min"), Value: nil},
		{Timestamp: 0, Key: []byte("h"), Value: []byte("headers"), Headers: []RecordHeader{
			{Key: "a", Value: []byte("1")},
			{Key: "", Value: []byte("empty key")},
			{Key: "nil", Value: nil},
			{Key: "empty", Value: []byte{}},
			{Key: strings.Repeat("long", 100), Value: bytes.Repeat([]byte{0xff}, 200)},
		}},
	}
}

// manyRecords returns n records with distinct small keys and values.
func manyRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Timestamp: 1_000_000 + int64(i)*3,
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("z", i%50)),
		}
		if i%7 == 0 {
			recs[i].Headers = []RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}}
		}
	}
	return recs
}

// recordDiff describes the first difference between got and want, or
// returns "". Offsets are not compared (the caller checks them); nil and
// empty are distinct for keys, values and header values, but a nil and an
// empty Headers slice are the same (both encode as count 0).
func recordDiff(got, want Record) string {
	switch {
	case got.Timestamp != want.Timestamp:
		return fmt.Sprintf("timestamp %d, want %d", got.Timestamp, want.Timestamp)
	case !sameBytes(got.Key, want.Key):
		return fmt.Sprintf("key %q (nil %t), want %q (nil %t)", got.Key, got.Key == nil, want.Key, want.Key == nil)
	case !sameBytes(got.Value, want.Value):
		return fmt.Sprintf("value %q (nil %t), want %q (nil %t)", got.Value, got.Value == nil, want.Value, want.Value == nil)
	case len(got.Headers) != len(want.Headers):
		return fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		g, w := got.Headers[i], want.Headers[i]
		if g.Key != w.Key || !sameBytes(g.Value, w.Value) {
			return fmt.Sprintf("header %d = %q:%q (nil %t), want %q:%q (nil %t)",
				i, g.Key, g.Value, g.Value == nil, w.Key, w.Value, w.Value == nil)
		}
	}
	return ""
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// checkRecords fails t unless got matches want, with offsets baseOffset+i.
func checkRecords(t testing.TB, got, want []Record, baseOffset int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("decoded %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Offset != baseOffset+int64(i) {
			t.Fatalf("record %d: offset %d, want %d", i, got[i].Offset, baseOffset+int64(i))
		}
		if d := recordDiff(got[i], want[i]); d != "" {
			t.Fatalf("record %d: %s", i, d)
		}
	}
}

func mustAppend(t testing.TB, dst []byte, recs []Record, opts EncodeOptions) []byte {
	t.Helper()
	b, err := Append(dst, recs, opts)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return b
}

// rawBatch wraps hand-made record bytes in a header with a correct Length
// and CRC, so that tests reach the record parser. h.Magic and h.Length are
// filled in unless set.
func rawBatch(h Header, records []byte) []byte {
	if h.Magic == 0 {
		h.Magic = Magic
	}
	if h.Length == 0 {
		h.Length = int32(minLength + len(records))
	}
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	putHeader(b, &h)
	b = append(b, records...)
	sealCRC(b)
	return b
}

// vi encodes v as a zigzag varint.
func vi(v int64) []byte { return appendVarint(nil, v) }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rawRecord encodes one record body from its fields and prefixes the
// length; fields are given already encoded so tests can break any of them.
func rawRecord(fields ...[]byte) []byte {
	body := cat(fields...)
	return cat(vi(int64(len(body))), body)
}

// simpleRecord is a well-formed raw record with the given offset delta.
func simpleRecord(offsetDelta int64) []byte {
	return rawRecord([]byte{0}, vi(0), vi(offsetDelta), vi(1), []byte("k"), vi(1), []byte("v"), vi(0))
}
