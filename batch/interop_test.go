package batch

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests check the format against franz-go's kmsg, an independent
// implementation of the Kafka wire types, and decompress with decoders
// other than the ones the package uses where one is at hand (the standard
// library's gzip; fresh, unpooled lz4 and zstd readers).

// independentDecompress decompresses a batch's records without the
// package's own decompress.
func independentDecompress(t *testing.T, c Codec, b []byte) []byte {
	t.Helper()
	var out []byte
	var err error
	switch c {
	case None:
		return b
	case Gzip:
		var r *stdgzip.Reader
		if r, err = stdgzip.NewReader(bytes.NewReader(b)); err == nil {
			out, err = io.ReadAll(r)
		}
	case Snappy:
		out, err = s2.Decode(nil, b) // decodes snappy blocks
	case LZ4:
		out, err = io.ReadAll(lz4.NewReader(bytes.NewReader(b)))
	case Zstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err == nil {
			out, err = d.DecodeAll(b, nil)
			d.Close()
		}
	}
	if err != nil {
		t.Fatalf("decompress %v independently: %v", c, err)
	}
	return out
}

func TestKmsgReadsAppend(t *testing.T) {
	t.Parallel()
	want := append(sampleRecords(), manyRecords(200)...)
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			opts := EncodeOptions{Codec: codec, ProducerID: 12, ProducerEpoch: 3, BaseSequence: 40, BaseOffset: 1000, PartitionLeaderEpoch: 5}
			b := mustAppend(t, nil, want, opts)

			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatalf("kmsg ReadFrom: %v", err)
			}
			if got := uint32(kb.CRC); got != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
				t.Fatalf("kmsg CRC %#x does not match CRC-32C of bytes 21..end", got)
			}
			if re := kb.AppendTo(nil); !bytes.Equal(re, b) {
				t.Fatalf("kmsg re-encodes %d bytes differently", len(b))
			}
			if kb.Magic != 2 || kb.FirstOffset != 1000 || kb.PartitionLeaderEpoch != 5 || kb.Attributes&7 != int16(codec) ||
				kb.NumRecords != int32(len(want)) || kb.LastOffsetDelta != int32(len(want)-1) ||
				kb.ProducerID != 12 || kb.ProducerEpoch != 3 || kb.FirstSequence != 40 ||
				kb.FirstTimestamp != want[0].Timestamp || int(kb.Length) != len(b)-12 {
				t.Fatalf("kmsg batch fields %+v", kb)
			}

			raw := independentDecompress(t, codec, kb.Records)
			for i := range want {
				length, n := binary.Varint(raw)
				if n <= 0 || int(length) > len(raw)-n {
					t.Fatalf("record %d: bad length varint", i)
				}
				var kr kmsg.Record
				if err := kr.ReadFrom(raw[:n+int(length)]); err != nil {
					t.Fatalf("record %d: kmsg ReadFrom: %v", i, err)
				}
				raw = raw[n+int(length):]
				got := Record{Timestamp: kb.FirstTimestamp + kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
				for _, h := range kr.Headers {
					got.Headers = append(got.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				if kr.OffsetDelta != int32(i) || kr.Attributes != 0 {
					t.Fatalf("record %d: offset delta %d, attributes %d", i, kr.OffsetDelta, kr.Attributes)
				}
				if d := recordDiff(got, want[i]); d != "" { // kmsg keeps nil and empty apart too
					t.Fatalf("record %d via kmsg: %s", i, d)
				}
			}
			if len(raw) != 0 {
				t.Fatalf("%d bytes after the last record", len(raw))
			}
		})
	}
}

func TestDecodeKmsgBatch(t *testing.T) {
	t.Parallel()
	want := sampleRecords()
	base := want[0].Timestamp
	var raw []byte
	for i, r := range want {
		kr := kmsg.Record{TimestampDelta64: r.Timestamp - base, OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		body := kr.AppendTo(nil)[1:] // encode with Length 0 to measure, then again with the real length
		kr.Length = int32(len(body))
		raw = kr.AppendTo(raw)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: 77, PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(want) - 1),
		FirstTimestamp: base, MaxTimestamp: base, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(want)), Records: raw,
	}
	kb.Length = int32(49 + len(raw))
	// Kafka rule: CRC-32C over everything from Attributes to the end.
	b := kb.AppendTo(nil)
	kb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	b = kb.AppendTo(nil)

	got, err := DecodeRecords(b, nil, 0)
	if err != nil {
		t.Fatalf("DecodeRecords of a kmsg batch: %v", err)
	}
	checkRecords(t, got, want, 77)
}
