package client

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/batch"
)

// batchAt encodes n records with values base..base+n-1 at base offset
// base.
func batchAt(t *testing.T, base int64, n int, codec batch.Codec) []byte {
	t.Helper()
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{Timestamp: 1000, Value: []byte(fmt.Sprint(base + int64(i)))}
	}
	b, err := batch.Append(nil, recs, batch.EncodeOptions{Codec: codec, ProducerID: -1, BaseOffset: base})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeBatches(t *testing.T) {
	key := sinkKey{"s", 3}
	two := append(batchAt(t, 10, 5, batch.None), batchAt(t, 15, 5, batch.Zstd)...)
	corrupt := append([]byte(nil), two...)
	corrupt[len(corrupt)-1] ^= 0xff // in the second batch's CRC-covered bytes
	tests := []struct {
		name   string
		b      []byte
		from   int64
		values string
		next   int64
		err    error
	}{
		{"empty", nil, 7, "[]", 7, nil},
		{"from the first record", two, 10, "[10 11 12 13 14 15 16 17 18 19]", 20, nil},
		{"from inside the first batch", two, 13, "[13 14 15 16 17 18 19]", 20, nil},
		{"from inside the second batch", two, 17, "[17 18 19]", 20, nil},
		{"truncated tail", two[:len(two)-3], 10, "[10 11 12 13 14]", 15, nil},
		{"corrupt", corrupt, 10, "", 10, ErrInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, next, err := decodeBatches(key, tt.b, tt.from, 1<<20)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			var values []string
			for i, r := range recs {
				values = append(values, string(r.Value))
				if r.Stream != "s" || r.Partition != 3 || fmt.Sprint(r.Offset) != string(r.Value) ||
					!r.Timestamp.Equal(time.UnixMilli(1000)) || i > 0 && r.Offset != recs[i-1].Offset+1 {
					t.Errorf("record %+v", r)
				}
			}
			if fmt.Sprint(values) != tt.values && !(tt.values == "[]" && values == nil) || next != tt.next {
				t.Errorf("values %v next %d, want %s next %d", values, next, tt.values, tt.next)
			}
		})
	}
}

func TestStartAtString(t *testing.T) {
	for at, want := range map[StartAt]string{
		Earliest(): "earliest", Latest(): "latest", Offset(42): "offset 42",
		Time(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)): "time 2024-01-02T03:04:05Z",
	} {
		if got := at.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestUnassignSome unassigns one partition of two.
func TestUnassignSome(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	k := newTestConsumer(t, c, ConsumerConfig{MaxWait: 10 * time.Millisecond})
	if err := k.Assign(testCtx(t), "s", nil, Earliest()); err != nil {
		t.Fatal(err)
	}
	k.Unassign("s", []int32{0})
	produceN(t, p, "s", 0, 0, 5)
	produceN(t, p, "s", 1, 0, 5)
	recs := pollUntil(t, k, 5)
	for _, r := range recs {
		if r.Partition != 1 {
			t.Fatalf("record of unassigned partition %d", r.Partition)
		}
	}
	checkSequence(t, recs, 0)
}
