package batch

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"runtime"
	"testing"
)

// fuzzMaxDecompressed is the decompression limit the decode fuzzers use.
const fuzzMaxDecompressed = 1 << 20

// seedBatches returns the seed inputs the decode fuzzers share: empty, a
// zero header, a header whose Length is zero or the maximum, one valid
// batch per codec, and a valid batch followed by garbage.
func seedBatches(t testing.TB) [][]byte {
	seeds := [][]byte{nil, make([]byte, HeaderSize)}
	h := Header{Magic: Magic, Length: 0, NumRecords: 1}
	zeroLen := make([]byte, HeaderSize)
	putHeader(zeroLen, &h)
	h.Length = math.MaxInt32
	maxLen := make([]byte, HeaderSize+10)
	putHeader(maxLen, &h)
	seeds = append(seeds, zeroLen, maxLen)
	for _, codec := range allCodecs {
		seeds = append(seeds, mustAppend(t, nil, sampleRecords(), EncodeOptions{Codec: codec, ProducerID: -1}))
	}
	valid := mustAppend(t, nil, manyRecords(20), EncodeOptions{Codec: Zstd, ProducerID: 3, BaseOffset: 10})
	seeds = append(seeds, append(valid, "trailing garbage\x00\xff"...))
	return seeds
}

func isSentinel(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge)
}

func FuzzValidate(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Validate(data)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Validate error %v wraps no sentinel", err)
			}
			return
		}
		if h.Size() > len(data) || h.Size() < HeaderSize {
			t.Fatalf("valid batch of Size %d in %d bytes", h.Size(), len(data))
		}
		if ph, err := ParseHeader(data); err != nil || ph != h {
			t.Fatalf("ParseHeader = %+v, %v; Validate said %+v", ph, err, h)
		}
		if got := crc32.Checksum(data[21:h.Size()], crc32.MakeTable(crc32.Castagnoli)); got != h.CRC {
			t.Fatalf("accepted CRC %#x, computed %#x", h.CRC, got)
		}
		if allocs := testing.AllocsPerRun(1, func() { _, _ = Validate(data) }); allocs != 0 {
			t.Fatalf("Validate of a valid batch allocated %v times", allocs)
		}
	})
}

// fixBatch lets the fuzzer get past the CRC to the record parser: bit 0 of
// mode sets Length to cover all of b, bit 1 recomputes the CRC.
func fixBatch(b []byte, mode byte) {
	if len(b) < HeaderSize {
		return
	}
	if mode&1 != 0 && len(b)-lengthPrefix <= math.MaxInt32 {
		binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-lengthPrefix))
	}
	if mode&2 != 0 {
		end := min(len(b), lengthPrefix+int(int32(binary.BigEndian.Uint32(b[posLength:]))))
		if end >= crcStart {
			binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[crcStart:end], castagnoli))
		}
	}
}

func FuzzDecodeRecords(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s, byte(0))
	}
	// Hand-made records behind a fixed-up header reach the parser directly.
	f.Add(rawBatch(Header{NumRecords: 2, LastOffsetDelta: 1}, cat(simpleRecord(0), simpleRecord(1))), byte(3))
	f.Add(rawBatch(Header{NumRecords: 1, Attributes: attrTimestampType}, simpleRecord(0)), byte(3))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		b := append([]byte(nil), data...)
		fixBatch(b, mode)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		recs, err := DecodeRecords(b, nil, fuzzMaxDecompressed)
		runtime.ReadMemStats(&after)
		// Generous, but linear in the input and the limit: a lying length
		// or count would blow far past it.
		limit := 64*uint64(len(b)) + 8*fuzzMaxDecompressed + 16<<20
		if n := after.TotalAlloc - before.TotalAlloc; n > limit {
			t.Fatalf("DecodeRecords of %d bytes allocated %d bytes (limit %d)", len(b), n, limit)
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("DecodeRecords error %v wraps no sentinel", err)
			}
			return
		}
		h, err := Validate(b)
		if err != nil || int(h.NumRecords) != len(recs) {
			t.Fatalf("decoded %d records from a batch with header %+v, %v", len(recs), h, err)
		}
		if len(recs) == 0 {
			return
		}
		// Re-encoding the records with the same codec yields the same records.
		opts := EncodeOptions{Codec: h.Codec(), ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
			BaseSequence: h.BaseSequence, BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch}
		re, err := Append(nil, recs, opts)
		if err != nil {
			t.Fatalf("re-encoding %d decoded records: %v", len(recs), err)
		}
		again, err := DecodeRecords(re, nil, max(fuzzMaxDecompressed, 2*len(re)))
		if err != nil {
			t.Fatalf("decoding re-encoded batch: %v", err)
		}
		checkRecords(t, again, recs, h.BaseOffset)
	})
}

// fuzzRecords builds up to 64 records from data. Each starts with a flags
// byte: bit 0 nil key, bit 1 nil value, bits 2-3 header count, bits 4-7 a
// timestamp step; then a key length and value length byte, then the bytes.
func fuzzRecords(data []byte, ts int64) []Record {
	take := func(n int) []byte {
		n = min(n, len(data))
		b := data[:n:n]
		data = data[n:]
		return b
	}
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		return int(take(1)[0])
	}
	var recs []Record
	for len(data) > 0 && len(recs) < 64 {
		flags := next()
		ts += int64(flags>>4-8) * 1_000_003
		r := Record{Timestamp: ts}
		kl, vl := next(), next()
		if flags&1 == 0 {
			r.Key = append([]byte{}, take(kl)...)
		}
		if flags&2 == 0 {
			r.Value = append([]byte{}, take(vl)...)
		}
		for range flags >> 2 & 3 {
			h := RecordHeader{Key: string(take(next()))}
			if l := next(); l != 0xff {
				h.Value = append([]byte{}, take(l)...)
			}
			r.Headers = append(r.Headers, h)
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		recs = append(recs, Record{Timestamp: ts})
	}
	return recs
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, byte(0), int64(0), int64(0))
	f.Add([]byte{0x0c, 3, 5, 'k', 'e', 'y', 'v', 'a', 'l', 'u', 'e', 1, 'h', 0xff, 0, 0}, byte(1), int64(100), int64(1_700_000_000_000))
	f.Add([]byte{0x03, 0, 0, 0xf0, 2, 2, 'a', 'b', 'c', 'd'}, byte(2), int64(-5), int64(math.MinInt64))
	f.Add([]byte("\x10\x04\x08keysvaluesva\x20\x01\x01xy"), byte(3), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(make([]byte, 300), byte(4), int64(1), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, codec byte, baseOffset, ts int64) {
		recs := fuzzRecords(data, ts)
		opts := EncodeOptions{Codec: Codec(codec % 5), ProducerID: -1, BaseOffset: baseOffset}
		b, err := Append(nil, recs, opts)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		h, err := Validate(b)
		if err != nil || h.Size() != len(b) {
			t.Fatalf("Validate: %+v, %v", h, err)
		}
		got, err := DecodeRecords(b, nil, 1<<20)
		if err != nil {
			t.Fatalf("DecodeRecords: %v", err)
		}
		checkRecords(t, got, recs, baseOffset)
	})
}
