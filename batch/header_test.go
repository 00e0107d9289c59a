package batch

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestCodecString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Codec
		want string
	}{
		{None, "none"}, {Gzip, "gzip"}, {Snappy, "snappy"}, {LZ4, "lz4"}, {Zstd, "zstd"},
		{5, "codec(5)"}, {-1, "codec(-1)"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Codec(%d).String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func validHeader() Header {
	return Header{
		BaseOffset: 100, Length: minLength + 20, PartitionLeaderEpoch: 7, Magic: Magic,
		CRC: 0xdeadbeef, Attributes: int16(Zstd), LastOffsetDelta: 4, BaseTimestamp: 1000,
		MaxTimestamp: 2000, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 9, NumRecords: 5,
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		modify func(h *Header)
		want   error
	}{
		{"valid", func(*Header) {}, nil},
		{"empty batch", func(h *Header) { h.NumRecords, h.LastOffsetDelta, h.Length = 0, 0, minLength }, nil},
		{"compacted gap", func(h *Header) { h.NumRecords, h.LastOffsetDelta = 2, 1000 }, nil},
		{"magic 1", func(h *Header) { h.Magic = 1 }, ErrCorrupt},
		{"magic 3", func(h *Header) { h.Magic = 3 }, ErrCorrupt},
		{"length below header", func(h *Header) { h.Length = minLength - 1 }, ErrCorrupt},
		{"negative length", func(h *Header) { h.Length = -1 }, ErrCorrupt},
		{"negative records", func(h *Header) { h.NumRecords = -1 }, ErrCorrupt},
		{"negative last delta", func(h *Header) { h.LastOffsetDelta = -1 }, ErrCorrupt},
		{"last delta too small", func(h *Header) { h.NumRecords, h.LastOffsetDelta = 5, 3 }, ErrCorrupt},
		{"unknown codec 5", func(h *Header) { h.Attributes = 5 }, ErrCorrupt},
		{"unknown codec 7", func(h *Header) { h.Attributes = 0x7f }, ErrCorrupt},
		{"other attribute bits", func(h *Header) { h.Attributes = -8 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := validHeader()
			tc.modify(&h)
			b := make([]byte, HeaderSize+3) // longer than a header is fine
			putHeader(b, &h)
			got, err := ParseHeader(b)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("ParseHeader: %v, want %v", err, tc.want)
			}
			if tc.want == nil && got != h {
				t.Fatalf("ParseHeader = %+v, want %+v", got, h)
			}
			if tc.want != nil && got != (Header{}) {
				t.Fatalf("ParseHeader returned %+v with error, want zero", got)
			}
		})
	}
}

func TestParseHeaderTruncated(t *testing.T) {
	t.Parallel()
	h := validHeader()
	b := make([]byte, HeaderSize)
	putHeader(b, &h)
	for n := range HeaderSize {
		if _, err := ParseHeader(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ParseHeader(%d bytes): %v, want ErrTruncated", n, err)
		}
	}
	if _, err := ParseHeader(b); err != nil {
		t.Fatalf("ParseHeader(exactly HeaderSize): %v", err)
	}
}

func TestHeaderMethods(t *testing.T) {
	t.Parallel()
	h := validHeader()
	if got, want := h.Size(), 12+int(h.Length); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	if got := h.LastOffset(); got != 104 {
		t.Errorf("LastOffset = %d, want 104", got)
	}
	if got := h.Codec(); got != Zstd {
		t.Errorf("Codec = %v, want zstd", got)
	}
	if h.LogAppendTime() || h.Transactional() || h.Control() {
		t.Errorf("flags set on attributes %#x", h.Attributes)
	}
	h.Attributes = int16(Gzip) | attrTimestampType | attrTransactional | attrControl
	if h.Codec() != Gzip || !h.LogAppendTime() || !h.Transactional() || !h.Control() {
		t.Errorf("flags not reported for attributes %#x", h.Attributes)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	b := mustAppend(t, nil, sampleRecords(), EncodeOptions{ProducerID: -1, BaseOffset: 5})
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if h.Size() != len(b) || h.BaseOffset != 5 || h.NumRecords != int32(len(sampleRecords())) {
		t.Fatalf("Validate header = %+v for %d bytes", h, len(b))
	}

	t.Run("trailing bytes ignored", func(t *testing.T) {
		t.Parallel()
		long := append(append([]byte(nil), b...), "garbage after the batch"...)
		got, err := Validate(long)
		if err != nil || got != h {
			t.Fatalf("Validate(batch+garbage) = %+v, %v; want %+v", got, err, h)
		}
	})
	t.Run("truncated at every length", func(t *testing.T) {
		t.Parallel()
		for n := range len(b) {
			if _, err := Validate(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("Validate(%d of %d bytes): %v, want ErrTruncated", n, len(b), err)
			}
		}
	})
	t.Run("huge length", func(t *testing.T) {
		t.Parallel()
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint32(c[posLength:], math.MaxInt32)
		if _, err := Validate(c); !errors.Is(err, ErrTruncated) {
			t.Fatalf("Validate with Length MaxInt32: %v, want ErrTruncated", err)
		}
	})
	t.Run("flipped byte anywhere", func(t *testing.T) {
		t.Parallel()
		for pos := range b {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				c := append([]byte(nil), b...)
				c[pos] ^= mask
				_, err := Validate(c)
				switch {
				case pos < posLength || (pos >= posLeaderEpoch && pos < posMagic):
					// BaseOffset and PartitionLeaderEpoch are outside the CRC
					// by design, so that they can be stamped in place.
					if err != nil {
						t.Fatalf("flip %#x at %d (outside CRC): %v", mask, pos, err)
					}
				case pos < posLeaderEpoch:
					// A wrong Length makes the batch look truncated or cuts
					// the CRC region short.
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
						t.Fatalf("flip %#x at %d (length): %v, want ErrCorrupt or ErrTruncated", mask, pos, err)
					}
				default:
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("flip %#x at %d: %v, want ErrCorrupt", mask, pos, err)
					}
				}
			}
		}
	})
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := mustAppend(t, nil, manyRecords(100), EncodeOptions{Codec: None, ProducerID: -1})
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Validate allocates %v times per call, want 0", allocs)
	}
}

func TestSetBaseOffsetAndEpoch(t *testing.T) {
	t.Parallel()
	b := mustAppend(t, nil, sampleRecords(), EncodeOptions{Codec: LZ4, ProducerID: -1, PartitionLeaderEpoch: -1})
	SetBaseOffset(b, 1<<40)
	SetPartitionLeaderEpoch(b, 12)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate after stamping: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 12 {
		t.Fatalf("stamped header = %+v", h)
	}
	recs, err := DecodeRecords(b, nil, 1<<20)
	if err != nil {
		t.Fatalf("DecodeRecords: %v", err)
	}
	checkRecords(t, recs, sampleRecords(), 1<<40)

	short := []byte{1, 2, 3}
	SetBaseOffset(short, 9)
	SetPartitionLeaderEpoch(short, 9)
	if short[0] != 1 || short[1] != 2 || short[2] != 3 {
		t.Fatalf("short slice modified: %v", short)
	}
}
