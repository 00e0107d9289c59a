package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// payloads returns compressible, incompressible and tiny inputs.
func payloads() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"one byte":     {42},
		"text":         bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog "), 5000),
		"random":       random,
		"zeros 3 MiB":  make([]byte, 3<<20),
		"mixed blocks": append(bytes.Repeat([]byte{7}, 70<<10), random[:70<<10]...),
	}
}

func TestCompressRoundTrip(t *testing.T) {
	t.Parallel()
	for _, codec := range allCodecs[1:] {
		for name, in := range payloads() {
			t.Run(codec.String()+"/"+name, func(t *testing.T) {
				t.Parallel()
				prefix := []byte("hdr")
				comp, err := compress(codec, prefix, in)
				if err != nil {
					t.Fatalf("compress: %v", err)
				}
				if !bytes.HasPrefix(comp, prefix) {
					t.Fatalf("compress did not append to dst")
				}
				out, err := decompress(codec, comp[len(prefix):], len(in))
				if err != nil {
					t.Fatalf("decompress with exact limit: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d", len(in), len(out))
				}
				if _, err := decompress(codec, comp[len(prefix):], len(in)-1); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("decompress with limit one short: %v, want ErrTooLarge", err)
				}
			})
		}
	}
}

// TestDecompressBomb checks that a tiny input that expands hugely stops at
// the limit without allocating the full output.
func TestDecompressBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, codec := range allCodecs[1:] {
		t.Run(codec.String(), func(t *testing.T) {
			comp, err := compress(codec, nil, zeros)
			if err != nil {
				t.Fatal(err)
			}
			const limit = 1 << 20
			_, _ = decompress(codec, comp[:len(comp)/2], limit) // build pooled codec state
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = decompress(codec, comp, limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decompress of %d bytes into %d: %v, want ErrTooLarge", len(comp), limit, err)
			}
			// Doubling to the limit allocates at most about 2*limit in all.
			if n := after.TotalAlloc - before.TotalAlloc; n > 3*limit {
				t.Fatalf("decompress allocated %d bytes for a %d-byte limit", n, limit)
			}
			t.Logf("%s: %d compressed bytes, %d allocated", codec, len(comp), after.TotalAlloc-before.TotalAlloc)
			if _, err := decompress(codec, comp, 0); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decompress with limit 0: %v, want ErrTooLarge", err)
			}
		})
	}
}

// zstdStream compresses in with the streaming encoder, whose frames do not
// declare their content size, so the decoder must find the limit by trying.
func zstdStream(t *testing.T, in []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var fh zstd.Header
	if err := fh.Decode(buf.Bytes()); err != nil || fh.HasFCS {
		t.Fatalf("stream frame header: %+v, %v; want no content size", fh, err)
	}
	return buf.Bytes()
}

func TestZstdWithoutContentSize(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefgh"), 1<<20)
	comp := zstdStream(t, big)
	out, err := decompress(Zstd, comp, len(big))
	if err != nil || !bytes.Equal(out, big) {
		t.Fatalf("decompress with exact limit: %d bytes, %v", len(out), err)
	}
	const limit = 1 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decompress(Zstd, comp, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decompress of %d bytes into %d: %v, want ErrTooLarge", len(big), limit, err)
	}
	// Each try can overshoot its buffer by a block and the append growth
	// behind it; the tries still stay within a small multiple of the limit.
	n := after.TotalAlloc - before.TotalAlloc
	if n > 6*limit {
		t.Fatalf("decompress allocated %d bytes for a %d-byte limit", n, limit)
	}
	t.Logf("allocated %d bytes for a %d-byte limit", n, limit)
}

func TestDecodeRecordsBomb(t *testing.T) {
	t.Parallel()
	recs := []Record{{Value: make([]byte, 8<<20)}}
	for _, codec := range allCodecs[1:] {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			b := mustAppend(t, nil, recs, EncodeOptions{Codec: codec, ProducerID: -1})
			if _, err := DecodeRecords(b, nil, 1<<20); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("DecodeRecords with 1 MiB limit: %v, want ErrTooLarge", err)
			}
			got, err := DecodeRecords(b, nil, 9<<20)
			if err != nil {
				t.Fatalf("DecodeRecords with 9 MiB limit: %v", err)
			}
			checkRecords(t, got, recs, 0)
		})
	}
}

func TestDecompressCorrupt(t *testing.T) {
	t.Parallel()
	in := bytes.Repeat([]byte("some compressible text, "), 1000)
	for _, codec := range allCodecs[1:] {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			comp, err := compress(codec, nil, in)
			if err != nil {
				t.Fatal(err)
			}
			garbage := bytes.Repeat([]byte{0xa5, 0x17, 0xff}, 50)
			if _, err := decompress(codec, garbage, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Errorf("garbage: %v, want ErrCorrupt", err)
			}
			for _, n := range []int{1, len(comp) / 2, len(comp) - 1} {
				if _, err := decompress(codec, comp[:n], 1<<20); !errors.Is(err, ErrCorrupt) {
					t.Errorf("truncated to %d of %d bytes: %v, want ErrCorrupt", n, len(comp), err)
				}
			}
		})
	}
}

func TestCompressedBatchWithTrailingBytes(t *testing.T) {
	t.Parallel()
	for _, codec := range allCodecs[1:] {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			raw := cat(simpleRecord(0), []byte("trailing"))
			comp, err := compress(codec, nil, raw)
			if err != nil {
				t.Fatal(err)
			}
			b := rawBatch(Header{Attributes: int16(codec), NumRecords: 1}, comp)
			if _, err := DecodeRecords(b, nil, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecords: %v, want ErrCorrupt", err)
			}
		})
	}
}

// xerial frames snappy blocks the way Java's snappy-java stream does.
func xerial(chunks ...[]byte) []byte {
	b := append([]byte(nil), xerialMagic...)
	b = binary.BigEndian.AppendUint32(b, 1) // version
	b = binary.BigEndian.AppendUint32(b, 1) // compatible version
	for _, c := range chunks {
		block := s2.EncodeSnappy(nil, c)
		b = binary.BigEndian.AppendUint32(b, uint32(len(block)))
		b = append(b, block...)
	}
	return b
}

func TestSnappyXerial(t *testing.T) {
	t.Parallel()
	a, b := bytes.Repeat([]byte("a"), 40000), []byte("second chunk")
	full := xerial(a, b)
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		want  []byte
		err   error
	}{
		{"two chunks", full, 1 << 20, cat(a, b), nil},
		{"header only", xerial(), 1 << 20, []byte{}, nil},
		{"limit across chunks", full, len(a) + len(b) - 1, nil, ErrTooLarge},
		{"short header", full[:12], 1 << 20, nil, ErrCorrupt},
		{"short chunk length", full[:18], 1 << 20, nil, ErrCorrupt},
		{"chunk overruns", full[:len(full)-1], 1 << 20, nil, ErrCorrupt},
		{"corrupt block", append(xerial(), 0, 0, 0, 3, 0xff, 0xff, 0xff), 1 << 20, nil, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decompress(Snappy, tc.in, tc.limit)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("decompress: %v, want %v", err, tc.err)
			}
			if tc.err == nil && !sameBytes(got, tc.want) {
				t.Fatalf("decompress = %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}

	// A batch whose snappy payload uses the xerial framing decodes.
	raw := cat(simpleRecord(0), simpleRecord(1))
	batch := rawBatch(Header{Attributes: int16(Snappy), NumRecords: 2, LastOffsetDelta: 1}, xerial(raw[:5], raw[5:]))
	got, err := DecodeRecords(batch, nil, 1<<20)
	if err != nil || len(got) != 2 || string(got[1].Value) != "v" {
		t.Fatalf("xerial batch: %d records, %v", len(got), err)
	}
}

// stallReader returns no bytes and no error forever.
type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadLimited(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		r     io.Reader
		limit int
		want  error
	}{
		{"exact", bytes.NewReader(make([]byte, 1000)), 1000, nil},
		{"over", bytes.NewReader(make([]byte, 1001)), 1000, ErrTooLarge},
		{"zero limit, empty", bytes.NewReader(nil), 0, nil},
		{"zero limit, data", bytes.NewReader([]byte{1}), 0, ErrTooLarge},
		{"stalls", stallReader{}, 1000, io.ErrNoProgress},
		{"error", errReader{boom}, 1000, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := readLimited(tc.r, 1, tc.limit)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("readLimited: %v, want %v", err, tc.want)
			}
			if err == nil && cap(out) > tc.limit {
				t.Fatalf("readLimited buffer capacity %d over limit %d", cap(out), tc.limit)
			}
		})
	}
}
