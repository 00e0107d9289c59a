package batch

import (
	"fmt"
	"testing"
)

// benchRecords returns the records of a batch of about size bytes: 16-byte
// keys, 100-byte values, no headers, timestamps a millisecond apart.
func benchRecords(size int) []Record {
	const key, value = 16, 100
	perRecord := 1 + 1 + 1 + 2 + 1 + key + 1 + value + 1 // length .. header count
	n := (size - HeaderSize) / perRecord
	recs := make([]Record, n)
	for i := range recs {
		k := fmt.Appendf(nil, "key-%012d", i)
		v := make([]byte, value)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = Record{Timestamp: 1_700_000_000_000 + int64(i), Key: k, Value: v}
	}
	return recs
}

// BenchmarkEncodeDecode encodes a 64 KiB uncompressed batch into a reused
// buffer and decodes it into a reused record slice.
func BenchmarkEncodeDecode(b *testing.B) {
	recs := benchRecords(64 << 10)
	opts := EncodeOptions{ProducerID: -1}
	buf := mustAppend(b, nil, recs, opts)
	out := make([]Record, 0, len(recs))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], recs, opts); err != nil {
			b.Fatal(err)
		}
		if out, err = DecodeRecords(buf, out[:0], 0); err != nil {
			b.Fatal(err)
		}
	}
	if len(out) != len(recs) {
		b.Fatalf("decoded %d records, want %d", len(out), len(recs))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkValidate measures the header check and CRC-32C of a 64 KiB batch.
func BenchmarkValidate(b *testing.B) {
	buf := mustAppend(b, nil, benchRecords(64<<10), EncodeOptions{ProducerID: -1})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend encodes a 64 KiB batch with each codec into a reused buffer.
func BenchmarkAppend(b *testing.B) {
	recs := benchRecords(64 << 10)
	raw := mustAppend(b, nil, recs, EncodeOptions{ProducerID: -1})
	for _, codec := range allCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			opts := EncodeOptions{Codec: codec, ProducerID: -1}
			buf := mustAppend(b, nil, recs, opts)
			b.SetBytes(int64(len(raw))) // uncompressed bytes per second
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Append(buf[:0], recs, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(buf))/float64(len(raw)), "ratio")
		})
	}
}

// BenchmarkDecodeRecords decodes a 64 KiB batch with each codec into a
// reused record slice.
func BenchmarkDecodeRecords(b *testing.B) {
	recs := benchRecords(64 << 10)
	raw := mustAppend(b, nil, recs, EncodeOptions{ProducerID: -1})
	for _, codec := range allCodecs {
		b.Run(codec.String(), func(b *testing.B) {
			buf := mustAppend(b, nil, recs, EncodeOptions{Codec: codec, ProducerID: -1})
			out := make([]Record, 0, len(recs))
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = DecodeRecords(buf, out[:0], 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
