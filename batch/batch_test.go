package batch

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	big := []Record{{Timestamp: 5, Key: []byte("big"), Value: bytes.Repeat([]byte("0123456789abcdef"), 64<<10)}}
	sets := []struct {
		name string
		recs []Record
	}{
		{"sample", sampleRecords()},
		{"one nil record", []Record{{}}},
		{"one empty record", []Record{{Key: []byte{}, Value: []byte{}, Headers: []RecordHeader{}}}},
		{"many", manyRecords(5000)},
		{"1 MiB value", big},
	}
	for _, codec := range allCodecs {
		for _, set := range sets {
			t.Run(codec.String()+"/"+set.name, func(t *testing.T) {
				t.Parallel()
				opts := EncodeOptions{
					Codec: codec, ProducerID: 77, ProducerEpoch: 2, BaseSequence: 1000,
					BaseOffset: 1 << 33, PartitionLeaderEpoch: 9,
				}
				b := mustAppend(t, nil, set.recs, opts)
				h, err := Validate(b)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Size() != len(b) || h.Codec() != codec || h.NumRecords != int32(len(set.recs)) {
					t.Fatalf("header %+v for %d bytes", h, len(b))
				}
				got, err := DecodeRecords(b, nil, 4<<20)
				if err != nil {
					t.Fatalf("DecodeRecords: %v", err)
				}
				checkRecords(t, got, set.recs, opts.BaseOffset)
			})
		}
	}
}

func TestAppendHeaderFields(t *testing.T) {
	t.Parallel()
	recs := []Record{{Timestamp: 50, Offset: 999}, {Timestamp: 20}, {Timestamp: 70}, {Timestamp: 60}}
	for _, tc := range []struct {
		name string
		opts EncodeOptions
		want Header
	}{
		{"idempotent", EncodeOptions{Codec: Snappy, ProducerID: 5, ProducerEpoch: 6, BaseSequence: 7, BaseOffset: 8, PartitionLeaderEpoch: 9},
			Header{BaseOffset: 8, PartitionLeaderEpoch: 9, Magic: Magic, Attributes: int16(Snappy), LastOffsetDelta: 3,
				BaseTimestamp: 50, MaxTimestamp: 70, ProducerID: 5, ProducerEpoch: 6, BaseSequence: 7, NumRecords: 4}},
		{"no producer", EncodeOptions{ProducerID: -1, ProducerEpoch: 6, BaseSequence: 7, PartitionLeaderEpoch: -1},
			Header{PartitionLeaderEpoch: -1, Magic: Magic, LastOffsetDelta: 3,
				BaseTimestamp: 50, MaxTimestamp: 70, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := mustAppend(t, nil, recs, tc.opts)
			got, err := Validate(b)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			tc.want.Length, tc.want.CRC = got.Length, got.CRC // checked by Validate
			if got != tc.want {
				t.Fatalf("header\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	prefix := []byte("prefix")
	for _, tc := range []struct {
		name string
		recs []Record
		opts EncodeOptions
		want error
	}{
		{"no records", nil, EncodeOptions{}, ErrEmpty},
		{"empty slice", []Record{}, EncodeOptions{Codec: Zstd}, ErrEmpty},
		{"codec 5", sampleRecords(), EncodeOptions{Codec: 5}, ErrUnknownCodec},
		{"codec -1", sampleRecords(), EncodeOptions{Codec: -1}, ErrUnknownCodec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Append(prefix, tc.recs, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append: %v, want %v", err, tc.want)
			}
			if !bytes.Equal(got, prefix) {
				t.Fatalf("Append returned %q on error, want the original dst", got)
			}
		})
	}
}

func TestAppendToExistingBuffer(t *testing.T) {
	t.Parallel()
	var buf []byte
	var want [][]Record
	for i, codec := range allCodecs {
		recs := manyRecords(10 + i)
		buf = mustAppend(t, buf, recs, EncodeOptions{Codec: codec, ProducerID: -1, BaseOffset: int64(100 * i)})
		want = append(want, recs)
	}
	// Decode the batches back to back, as a segment reader would.
	var got []Record
	for i := 0; len(buf) > 0; i++ {
		h, err := Validate(buf)
		if err != nil {
			t.Fatalf("batch %d: Validate: %v", i, err)
		}
		n := len(got)
		if got, err = DecodeRecords(buf, got, 1<<20); err != nil {
			t.Fatalf("batch %d: DecodeRecords: %v", i, err)
		}
		checkRecords(t, got[n:], want[i], int64(100*i))
		buf = buf[h.Size():]
	}
	if len(got) != 10+11+12+13+14 {
		t.Fatalf("decoded %d records in all", len(got))
	}
}

func TestDecodeRecordsErrors(t *testing.T) {
	t.Parallel()
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			b := mustAppend(t, nil, sampleRecords(), EncodeOptions{Codec: codec, ProducerID: -1})
			prefix := []Record{{Offset: -1}}
			check := func(what string, c []byte, want ...error) {
				t.Helper()
				got, err := DecodeRecords(c, prefix, 1<<20)
				for _, w := range want {
					if errors.Is(err, w) {
						if len(got) != 1 || got[0].Offset != -1 {
							t.Fatalf("%s: dst changed on error", what)
						}
						return
					}
				}
				t.Fatalf("%s: %v, want one of %v", what, err, want)
			}
			for n := range len(b) {
				check("truncated", b[:n], ErrTruncated)
			}
			for pos := posMagic; pos < len(b); pos++ {
				c := append([]byte(nil), b...)
				c[pos] ^= 0x10
				check("flipped byte", c, ErrCorrupt)
			}
			for pos := posLength; pos < posLeaderEpoch; pos++ {
				c := append([]byte(nil), b...)
				c[pos] ^= 0x10
				check("flipped length", c, ErrCorrupt, ErrTruncated)
			}
			c := append([]byte(nil), b...)
			c[posMagic] = 1
			check("magic 1", c, ErrCorrupt)

			got, err := DecodeRecords(append(append([]byte(nil), b...), 0xde, 0xad), nil, 1<<20)
			if err != nil {
				t.Fatalf("trailing bytes: %v", err)
			}
			checkRecords(t, got, sampleRecords(), 0)
		})
	}
}

func TestDecodeRecordsAliasing(t *testing.T) {
	t.Parallel()
	b := mustAppend(t, nil, []Record{{Key: []byte("key"), Value: []byte("value")}}, EncodeOptions{})
	recs, err := DecodeRecords(b, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	if p := uintptr(unsafe.Pointer(&recs[0].Key[0])); p < start || p >= start+uintptr(len(b)) {
		t.Fatalf("uncompressed key does not alias b")
	}
	if cap(recs[0].Key) != len(recs[0].Key) {
		t.Fatalf("key capacity %d exceeds its length %d: appending would clobber the value", cap(recs[0].Key), len(recs[0].Key))
	}
}
