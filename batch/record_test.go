package batch

import (
	"errors"
	"math"
	"runtime"
	"testing"
)

func TestVarintRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{
		0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, math.MaxInt32, math.MinInt32,
		math.MaxInt32 + 1, math.MinInt32 - 1, 1 << 50, math.MaxInt64, math.MinInt64,
	} {
		b := appendVarint(nil, v)
		if len(b) != varintSize(v) {
			t.Errorf("varintSize(%d) = %d, encoded %d bytes", v, varintSize(v), len(b))
		}
		got, next, ok := readVarint64(b, 0)
		if !ok || got != v || next != len(b) {
			t.Errorf("readVarint64(%x) = %d, %d, %t; want %d, %d", b, got, next, ok, v, len(b))
		}
		got32, next, ok := readVarint32(b, 0)
		fits := v >= math.MinInt32 && v <= math.MaxInt32
		if ok != fits || (fits && (int64(got32) != v || next != len(b))) {
			t.Errorf("readVarint32(%x) = %d, %d, %t; fits int32 %t", b, got32, next, ok, fits)
		}
	}
}

func TestReadVarintErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		b        []byte
		ok32     bool
		ok64     bool
		wantNext int
	}{
		{"empty", nil, false, false, 0},
		{"continuation then end", []byte{0x80}, false, false, 0},
		{"five-byte uint32 max", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, true, true, 5},
		{"five bytes beyond uint32", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, false, true, 5},
		{"six-byte varint", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, false, true, 6},
		{"ten-byte uint64 max", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, false, true, 10},
		{"ten bytes beyond uint64", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, false, false, 0},
		{"eleven-byte varlong", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, ok := readVarint32(tc.b, 0); ok != tc.ok32 {
				t.Errorf("readVarint32 ok = %t, want %t", ok, tc.ok32)
			}
			_, next, ok := readVarint64(tc.b, 0)
			if ok != tc.ok64 || (ok && next != tc.wantNext) {
				t.Errorf("readVarint64 = next %d, ok %t; want %d, %t", next, ok, tc.wantNext, tc.ok64)
			}
		})
	}
}

// TestParseRecordsErrors feeds hand-made records, in batches with a correct
// CRC, to DecodeRecords.
func TestParseRecordsErrors(t *testing.T) {
	t.Parallel()
	zero := []byte{0}
	k := cat(vi(1), []byte("k"))
	v := cat(vi(1), []byte("v"))
	overflow5 := []byte{0xff, 0xff, 0xff, 0xff, 0x7f}
	overflow10 := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	for _, tc := range []struct {
		name    string
		count   int32 // NumRecords; LastOffsetDelta is max(count-1, lastDelta)
		last    int32
		records []byte
		want    error
	}{
		{"valid", 2, 0, cat(simpleRecord(0), simpleRecord(1)), nil},
		{"valid gaps", 2, 9, cat(simpleRecord(3), simpleRecord(9)), nil},
		{"valid empty batch", 0, 0, nil, nil},
		{"count says more", 3, 0, cat(simpleRecord(0), simpleRecord(1)), ErrCorrupt},
		{"count says fewer", 1, 0, cat(simpleRecord(0), simpleRecord(1)), ErrCorrupt},
		{"empty batch with bytes", 0, 0, simpleRecord(0), ErrCorrupt},
		{"huge count", math.MaxInt32, 0, simpleRecord(0), ErrCorrupt},
		{"length too small", 1, 0, cat(vi(5), zero, vi(0), vi(0), vi(-1), vi(-1)), ErrCorrupt},
		{"length past end", 1, 0, cat(vi(100), zero, vi(0), vi(0), vi(-1), vi(-1), vi(0)), ErrCorrupt},
		{"negative length", 1, 0, cat(vi(-1), zero, vi(0), vi(0), vi(-1), vi(-1), vi(0)), ErrCorrupt},
		{"length varint overflow", 1, 0, cat(overflow5, zero, vi(0), vi(0), vi(-1), vi(-1), vi(0)), ErrCorrupt},
		{"extra bytes in record", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(0), []byte("junk")), ErrCorrupt},
		{"timestamp varlong overflow", 1, 0, rawRecord(zero, overflow10, vi(0), k, v, vi(0)), ErrCorrupt},
		{"timestamp varlong truncated", 1, 0, rawRecord(zero, []byte{0x80, 0x80}), ErrCorrupt},
		{"offset delta varint overflow", 1, 0, rawRecord(zero, vi(0), overflow5, k, v, vi(0)), ErrCorrupt},
		{"negative offset delta", 1, 0, rawRecord(zero, vi(0), vi(-1), k, v, vi(0)), ErrCorrupt},
		{"offset delta past last", 1, 0, rawRecord(zero, vi(0), vi(1), k, v, vi(0)), ErrCorrupt},
		{"offset delta repeated", 2, 1, cat(simpleRecord(0), simpleRecord(0)), ErrCorrupt},
		{"offset delta decreasing", 2, 5, cat(simpleRecord(3), simpleRecord(2)), ErrCorrupt},
		{"key length -2", 1, 0, rawRecord(zero, vi(0), vi(0), vi(-2), v, vi(0)), ErrCorrupt},
		{"key past record", 1, 0, rawRecord(zero, vi(0), vi(0), vi(50), []byte("k"), v, vi(0)), ErrCorrupt},
		{"key length overflow", 1, 0, rawRecord(zero, vi(0), vi(0), overflow5, v, vi(0)), ErrCorrupt},
		{"value past record", 1, 0, rawRecord(zero, vi(0), vi(0), k, vi(3), []byte("v"), vi(0)), ErrCorrupt},
		{"value length -5", 1, 0, rawRecord(zero, vi(0), vi(0), k, vi(-5), vi(0)), ErrCorrupt},
		{"value crosses into next record", 2, 1, cat(
			rawRecord(zero, vi(0), vi(0), k, vi(10), []byte("v")), simpleRecord(1)), ErrCorrupt},
		{"missing header count", 1, 0, rawRecord(zero, vi(0), vi(0), k, v), ErrCorrupt},
		{"negative header count", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(-1)), ErrCorrupt},
		{"huge header count", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(math.MaxInt32)), ErrCorrupt},
		{"header count says more", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(2), vi(1), []byte("h"), vi(-1)), ErrCorrupt},
		{"nil header key", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(1), vi(-1), vi(-1)), ErrCorrupt},
		{"header key past record", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(1), vi(9), []byte("h"), vi(-1)), ErrCorrupt},
		{"header value past record", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(1), vi(1), []byte("h"), vi(9)), ErrCorrupt},
		{"header value length -2", 1, 0, rawRecord(zero, vi(0), vi(0), k, v, vi(1), vi(1), []byte("h"), vi(-2)), ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := Header{NumRecords: tc.count, LastOffsetDelta: max(tc.count-1, tc.last), ProducerID: -1}
			b := rawBatch(h, tc.records)
			prefix := []Record{{Offset: -7}}
			got, err := DecodeRecords(b, prefix, 1<<20)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("DecodeRecords: %v, want %v", err, tc.want)
			}
			if tc.want != nil && (len(got) != 1 || got[0].Offset != -7) {
				t.Fatalf("on error DecodeRecords returned %d records, want the original 1", len(got))
			}
			if tc.want == nil && len(got) != 1+int(tc.count) {
				t.Fatalf("decoded %d records, want %d", len(got)-1, tc.count)
			}
		})
	}
}

func TestParseRecordsGapsAndHeaders(t *testing.T) {
	t.Parallel()
	recs := cat(
		rawRecord([]byte{0}, vi(-5), vi(2), vi(-1), vi(0), vi(2), vi(1), []byte("a"), vi(-1), vi(0), vi(0)),
		rawRecord([]byte{0}, vi(7), vi(6), vi(0), vi(-1), vi(0)),
	)
	b := rawBatch(Header{BaseOffset: 1000, BaseTimestamp: 50, NumRecords: 2, LastOffsetDelta: 8}, recs)
	got, err := DecodeRecords(b, nil, 0)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	want := []Record{
		{Offset: 1002, Timestamp: 45, Key: nil, Value: []byte{}, Headers: []RecordHeader{{"a", nil}, {"", []byte{}}}},
		{Offset: 1006, Timestamp: 57, Key: []byte{}, Value: nil},
	}
	for i := range want {
		if got[i].Offset != want[i].Offset {
			t.Errorf("record %d offset %d, want %d", i, got[i].Offset, want[i].Offset)
		}
		if d := recordDiff(got[i], want[i]); d != "" {
			t.Errorf("record %d: %s", i, d)
		}
	}
}

func TestParseRecordsLogAppendTime(t *testing.T) {
	t.Parallel()
	h := Header{Attributes: attrTimestampType, BaseTimestamp: 10, MaxTimestamp: 999, NumRecords: 2, LastOffsetDelta: 1}
	got, err := DecodeRecords(rawBatch(h, cat(simpleRecord(0), simpleRecord(1))), nil, 0)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	for i, r := range got {
		if r.Timestamp != 999 {
			t.Errorf("record %d timestamp %d, want MaxTimestamp 999", i, r.Timestamp)
		}
	}
}

// TestParseRecordsLyingCountsDoNotAllocate checks that record and header
// counts are bounded by the bytes present before anything is allocated.
// It reads process-wide memory statistics, so it does not run in parallel.
func TestParseRecordsLyingCountsDoNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		count   int32
		records []byte
	}{
		{"record count", math.MaxInt32, simpleRecord(0)},
		{"header count", 1, rawRecord([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := rawBatch(Header{NumRecords: tc.count, LastOffsetDelta: math.MaxInt32}, tc.records)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := DecodeRecords(b, nil, 1<<20)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecords: %v, want ErrCorrupt", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Fatalf("DecodeRecords allocated %d bytes for a lying count", n)
			}
		})
	}
}

func TestEncodeRecordsLimit(t *testing.T) {
	t.Parallel()
	for _, recs := range [][]Record{sampleRecords(), manyRecords(300)} {
		prefix := []byte("p")
		out, err := encodeRecords(prefix, 0, recs, 0, maxRecordsSize)
		if err != nil {
			t.Fatal(err)
		}
		size := len(out) - len(prefix)
		if _, err := encodeRecords(prefix, 0, recs, 0, size); err != nil {
			t.Fatalf("encodeRecords at exactly the limit: %v", err)
		}
		// Over the limit only after encoding, and over it before.
		for _, limit := range []int{size - 1, len(recs)} {
			got, err := encodeRecords(prefix, 0, recs, 0, limit)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("encodeRecords of %d bytes with limit %d: %v, want ErrTooLarge", size, limit, err)
			}
			if string(got) != "p" {
				t.Fatalf("encodeRecords changed dst on error: %q", got)
			}
		}
	}
}

func TestVarintSizeMatchesEncoding(t *testing.T) {
	t.Parallel()
	for bitsLen := range 64 {
		for _, v := range []int64{1<<bitsLen - 1, 1 << bitsLen, -(1 << bitsLen), -(1 << bitsLen) - 1} {
			if got, want := varintSize(v), len(appendVarint(nil, v)); got != want {
				t.Fatalf("varintSize(%d) = %d, encoding is %d bytes", v, got, want)
			}
		}
	}
}
