package client

import (
	"errors"
	"math"
	"testing"

	"github.com/sluicedb/sluice/batch"
)

// FuzzDecodeBatches feeds a fetch response's bytes to the consumer's
// decoder. Properties: no panic; an error is an *Error matching
// ErrInvalidBatch and leaves the position where it was; otherwise every
// record returned is of the partition, at or after from and before the
// position returned, which never moves back.
func FuzzDecodeBatches(f *testing.F) {
	enc := func(base int64, n int, codec batch.Codec) []byte {
		recs := make([]batch.Record, n)
		for i := range recs {
			recs[i] = batch.Record{Timestamp: 1000, Key: []byte("k"), Value: []byte("v")}
		}
		b, err := batch.Append(nil, recs, batch.EncodeOptions{Codec: codec, ProducerID: -1, BaseOffset: base})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	two := append(enc(10, 5, batch.None), enc(15, 5, batch.Zstd)...)
	f.Add([]byte{}, int64(0))
	f.Add(two, int64(0))
	f.Add(two, int64(13))
	f.Add(two, int64(20))
	f.Add(two[:len(two)-3], int64(10))
	f.Add(enc(0, 1, batch.Gzip), int64(-1))
	f.Add(enc(math.MaxInt64, 1, batch.None), int64(0))
	f.Add(enc(math.MaxInt64-1, 3, batch.Snappy), int64(math.MaxInt64-5))
	f.Add(enc(-5, 2, batch.LZ4), int64(-10))
	f.Add(append(enc(0, 2, batch.None), "garbage after the batch"...), int64(0))
	key := sinkKey{"s", 3}
	f.Fuzz(func(t *testing.T, b []byte, from int64) {
		recs, next, err := decodeBatches(key, b, from, 1<<20)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalidBatch) || next != from || recs != nil {
				t.Fatalf("decodeBatches = %d records, next %d, error %v (%T)", len(recs), next, err, err)
			}
			return
		}
		if next < from {
			t.Fatalf("position moved back from %d to %d", from, next)
		}
		for _, r := range recs {
			if r.Stream != key.stream || r.Partition != key.part || r.Offset < from || r.Offset >= next {
				t.Fatalf("record %+v read from %d, next %d", r, from, next)
			}
		}
	})
}
