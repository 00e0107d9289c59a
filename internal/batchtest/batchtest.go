// Package batchtest builds RecordBatch v2 batches for tests and benchmarks
// of the storage packages.
package batchtest

import (
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/batch"
)

// Spec describes a batch to build.
type Spec struct {
	Records   int    // number of records, at least 1
	ValueSize int    // bytes per value
	Timestamp int64  // timestamp of the first record; each next one is 1 ms later
	Tag       string // written into every key, so tests can tell batches apart
	Codec     batch.Codec
}

// Make encodes the batch described by sp, failing tb on error. Values are
// deterministic: record i of a batch tagged t has key "t-i".
func Make(tb testing.TB, sp Spec) []byte {
	tb.Helper()
	b, err := Build(nil, sp)
	if err != nil {
		tb.Fatalf("batchtest: %v", err)
	}
	return b
}

// Build appends the batch described by sp to dst.
func Build(dst []byte, sp Spec) ([]byte, error) {
	recs := make([]batch.Record, sp.Records)
	for i := range recs {
		v := make([]byte, sp.ValueSize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = batch.Record{
			Timestamp: sp.Timestamp + int64(i),
			Key:       fmt.Appendf(nil, "%s-%d", sp.Tag, i),
			Value:     v,
		}
	}
	return batch.Append(dst, recs, batch.EncodeOptions{Codec: sp.Codec, ProducerID: -1})
}
