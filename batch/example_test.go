package batch_test

import (
	"fmt"

	"github.com/sluicedb/sluice/batch"
)

func Example() {
	recs := []batch.Record{
		{Timestamp: 1_700_000_000_000, Key: []byte("user-1"), Value: []byte("signed up")},
		{Timestamp: 1_700_000_000_250, Key: nil, Value: []byte("heartbeat"),
			Headers: []batch.RecordHeader{{Key: "source", Value: []byte("agent")}}},
	}
	b, err := batch.Append(nil, recs, batch.EncodeOptions{Codec: batch.Zstd, ProducerID: -1})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A server stamps the offset it assigns without touching the CRC.
	batch.SetBaseOffset(b, 42)
	h, err := batch.Validate(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d records, offsets %d-%d, %v, whole batch: %t\n", h.NumRecords, h.BaseOffset, h.LastOffset(), h.Codec(), h.Size() == len(b))

	got, err := batch.DecodeRecords(b, nil, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range got {
		fmt.Printf("offset %d key %q (nil %t) value %q headers %d\n", r.Offset, r.Key, r.Key == nil, r.Value, len(r.Headers))
	}
	// Output:
	// 2 records, offsets 42-43, zstd, whole batch: true
	// offset 42 key "user-1" (nil false) value "signed up" headers 0
	// offset 43 key "" (nil true) value "heartbeat" headers 1
}
