package partition

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestEnforceRetention(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	cfg := n.config("p0")
	cfg.Log.RetentionBytes = 8 << 10
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Attach(&direct{r: r})
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := r.Produce(ctx, plain(t, 5)); err != nil {
			t.Fatal(err)
		}
	}
	start, err := r.EnforceRetention(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if start == 0 || start != r.LogStartOffset() {
		t.Fatalf("log start %d (replica says %d): retention deleted nothing", start, r.LogStartOffset())
	}
	if size := r.log().Size(); size < cfg.Log.RetentionBytes {
		t.Fatalf("log of %d bytes fell below the %d retained", size, cfg.Log.RetentionBytes)
	}
	// Nothing more to delete: no proposal.
	again, err := r.EnforceRetention(ctx, time.Now())
	if err != nil || again != start {
		t.Fatalf("second call: %d, %v", again, err)
	}
}
