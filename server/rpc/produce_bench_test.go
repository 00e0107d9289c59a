package rpc

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/batch"
)

// BenchmarkValidateBatch measures what validating a produced batch costs
// the server per batch: 1,000 records of 1 KiB.
//
//	go test -run XXX -bench ValidateBatch ./server/rpc/
func BenchmarkValidateBatch(b *testing.B) {
	for _, c := range []batch.Codec{batch.None, batch.LZ4, batch.Zstd} {
		recs := make([]batch.Record, 1000)
		for i := range recs {
			recs[i] = batch.Record{Key: fmt.Appendf(nil, "key-%d", i), Value: bytes.Repeat([]byte{byte(i)}, 1024)}
		}
		raw, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: -1, Codec: c})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := validateBatch(raw, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
