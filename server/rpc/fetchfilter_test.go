package rpc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// TestFilteredFetch: a fetch or follow with a filter gets only the
// records the filter accepts, at their own offsets, and moves past the
// rest; a bad filter is INVALID_ARGUMENT.
func TestFilteredFetch(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	c.createStream(0, "events", 1, 3)
	// Three batches of 10: offset i has header kind=order when i%3 == 0,
	// refund otherwise; the middle batch is compressed and has none.
	var want []int64
	for b := range 3 {
		recs := make([]batch.Record, 10)
		for i := range recs {
			off := b*10 + i
			kind := "refund"
			if off%3 == 0 && b != 1 {
				kind = "order"
				want = append(want, int64(off))
			}
			recs[i] = batch.Record{Key: fmt.Appendf(nil, "k%d", off), Value: fmt.Appendf(nil, "v%d", off),
				Headers: []batch.RecordHeader{{Key: "kind", Value: []byte(kind)}}}
		}
		opts := plain
		if b == 1 {
			opts.Codec = batch.Zstd
		}
		data, err := batch.Append(nil, recs, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.onLeader("events", 0, func(api sluicev1.SluiceClient) error {
			_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "events", Batch: data})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	offsets := func(b []byte) []int64 {
		t.Helper()
		var out []int64
		for len(b) > 0 {
			h, err := batch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := batch.DecodeRecords(b, nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if string(r.Value) != fmt.Sprintf("v%d", r.Offset) {
					t.Fatalf("record at %d holds %q", r.Offset, r.Value)
				}
				out = append(out, r.Offset)
			}
			b = b[h.Size():]
		}
		return out
	}
	const filter = `{"headers.kind": ["order"]}`
	for _, from := range []int64{0, 4, 10, 20} {
		var resp *sluicev1.FetchResponse
		if err := c.onLeader("events", 0, func(api sluicev1.SluiceClient) (err error) {
			resp, err = api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "events", Offset: from, Filter: filter})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var exp []int64
		for _, o := range want {
			if o >= from {
				exp = append(exp, o)
			}
		}
		if got := offsets(resp.GetBatches()); !slices.Equal(got, exp) || resp.GetNextOffset() != 30 {
			t.Errorf("fetch from %d: offsets %v next %d, want %v next 30", from, got, resp.GetNextOffset(), exp)
		}
	}
	// Follow: the same records, then the stream's next batch filtered.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []int64
	if err := c.onLeader("events", 0, func(api sluicev1.SluiceClient) error {
		fs, err := api.Follow(fctx, &sluicev1.FollowRequest{Stream: "events", Filter: filter})
		if err != nil {
			return err
		}
		for next := int64(0); next < 30; {
			m, err := fs.Recv()
			if err != nil {
				return err
			}
			got, next = append(got, offsets(m.GetBatches())...), m.GetNextOffset()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("follow: %v, want %v", got, want)
	}
	for _, bad := range []string{`{"kind": ["x"]}`, `not json`, `{"key": [{"regex": "x"}]}`} {
		err := c.onLeader("events", 0, func(api sluicev1.SluiceClient) error {
			_, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "events", Filter: bad})
			return err
		})
		if codeOf(err) != sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
			t.Errorf("fetch with filter %q: %v, want INVALID_ARGUMENT", bad, err)
		}
	}
}
