package client

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/batch"
)

// TestRecordSize checks the size estimate against the encoder: exact for
// one record (deltas 0).
func TestRecordSize(t *testing.T) {
	tests := []Record{
		{},
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("k"), Value: []byte("v")},
		{Value: []byte(strings.Repeat("x", 200))},
		{Key: []byte("key"), Value: []byte(strings.Repeat("y", 70000)),
			Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "nil"}, {Key: strings.Repeat("h", 130), Value: []byte{}}}},
	}
	for i, r := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r.Timestamp = time.UnixMilli(1_700_000_000_000)
			b, err := batch.Append(nil, []batch.Record{toBatch(&r)}, batch.EncodeOptions{ProducerID: -1})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := recordSize(&r), len(b)-batch.HeaderSize; got != want {
				t.Errorf("recordSize = %d, encoded %d", got, want)
			}
		})
	}
}

func TestVarintLen(t *testing.T) {
	for _, tt := range []struct {
		v    int64
		want int
	}{{0, 1}, {-1, 1}, {63, 1}, {64, 2}, {-64, 1}, {-65, 2}, {8191, 2}, {8192, 3}, {math.MaxInt64, 10}, {math.MinInt64, 10}} {
		if got := varintLen(tt.v); got != tt.want {
			t.Errorf("varintLen(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestNextSeq(t *testing.T) {
	for _, tt := range []struct{ seq, n, want int32 }{
		{0, 1, 1}, {0, 5, 5}, {100, 10, 110},
		{math.MaxInt32, 1, 0}, {math.MaxInt32 - 1, 3, 1}, {math.MaxInt32 - 4, 5, 0},
	} {
		if got := nextSeq(tt.seq, tt.n); got != tt.want {
			t.Errorf("nextSeq(%d, %d) = %d, want %d", tt.seq, tt.n, got, tt.want)
		}
	}
}

func TestRecordConversion(t *testing.T) {
	r := Record{Stream: "s", Partition: 2, Timestamp: time.UnixMilli(1234), Key: []byte("k"), Value: nil,
		Headers: []Header{{Key: "h", Value: []byte("v")}}}
	br := toBatch(&r)
	br.Offset = 7
	got := fromBatch("s", 2, &br)
	r.Offset = 7
	if fmt.Sprint(got) != fmt.Sprint(r) || got.Value != nil {
		t.Errorf("round trip: got %+v, want %+v", got, r)
	}
	if NewRecord("s", nil, nil).Partition != AnyPartition {
		t.Error("NewRecord does not route by key")
	}
}
