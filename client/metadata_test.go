package client

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// TestMetadataRefresh checks the periodic refresh: a leader change that
// no request ran into is picked up.
func TestMetadataRefresh(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, func(cfg *Config) { cfg.MetadataMaxAge = 10 * time.Millisecond })
	ctx := testCtx(t)
	if _, err := c.stream(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	before := c.leaderAddr("s", 0)
	fc.moveLeader("s", 0, (fc.leader("s", 0)+1)%3)
	// The loop refreshes one at a time: once the second call after the
	// move is counted, a refresh that saw the move has been applied.
	fc.waitCalls(ctx, "GetMetadata", fc.calls("GetMetadata")+2)
	if after := c.leaderAddr("s", 0); after == before || after != fc.nodes[fc.leader("s", 0)].addr {
		t.Errorf("leader %s before the move, %s after", before, after)
	}
}

// TestNotLeaderWithoutHint checks that a NOT_LEADER that names no leader
// makes the client refresh its metadata and find the leader.
func TestNotLeaderWithoutHint(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 1)
	fc.setForward(false)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, NewRecord("s", nil, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Produce" && call.N == 1 {
			return fault{MoveLeader: true, Before: sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, NoHint: true}
		}
		return fault{}
	})
	metas := fc.calls("GetMetadata")
	res, err := p.ProduceSync(ctx, NewRecord("s", nil, []byte("b")))
	if err != nil || res[0].Offset != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if fc.calls("GetMetadata") == metas {
		t.Error("the metadata was not refreshed")
	}
	if c.leaderAddr("s", 0) != fc.nodes[fc.leader("s", 0)].addr {
		t.Error("the cache does not name the new leader")
	}
}

// TestStreamDeleted checks a stream deleted behind the client's back:
// the server's UNKNOWN_STREAM fails the records and drops the cache
// entry, so the next record fails before anything is sent.
func TestStreamDeleted(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	ctx := testCtx(t)
	if _, err := p.ProduceSync(ctx, NewRecord("s", nil, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	delete(fc.mu.streams, "s")
	fc.mu.Unlock()
	if _, err := p.ProduceSync(ctx, NewRecord("s", nil, []byte("b")), NewRecord("s", nil, []byte("c"))); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("produce to a deleted stream: %v", err)
	}
	produces := fc.calls("Produce")
	if _, err := p.ProduceSync(ctx, NewRecord("s", nil, []byte("d"))); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("second produce: %v", err)
	}
	if fc.calls("Produce") != produces {
		t.Error("the second produce reached the cluster")
	}
}

// TestDeliveryTimeout checks that records a partition keeps refusing fail
// with ErrDeliveryTimeout, wrapping the last error.
func TestDeliveryTimeout(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Produce" {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_TIMEOUT}
		}
		return fault{}
	})
	p := newTestProducer(t, c, ProducerConfig{DeliveryTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := p.ProduceSync(testCtx(t), NewRecord("s", nil, []byte("a")))
	if !errors.Is(err, ErrDeliveryTimeout) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("failed after %v", d)
	}
	if fc.calls("Produce") < 2 {
		t.Errorf("%d attempts", fc.calls("Produce"))
	}
	// The partition goes on with a new producer id.
	fc.setHook(nil)
	if _, err := p.ProduceSync(testCtx(t), NewRecord("s", nil, []byte("b"))); err != nil {
		t.Fatal(err)
	}
}
