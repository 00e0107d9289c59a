package client

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// TestNoGoroutinesAfterClose runs a producer (with retries and requests
// cut short by Close) and consumers in both modes, closes them and the
// client, and checks that no goroutine is left once the fake servers have
// stopped. It is not parallel, so no other test's goroutines are around.
func TestNoGoroutinesAfterClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the servers stop
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 3)
	c := newTestClient(t, fc, func(cfg *Config) { cfg.MetadataMaxAge = 5 * time.Millisecond })
	ctx := testCtx(t)

	p, err := c.NewProducer(ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector(300)
	for i := range 300 {
		p.Produce(ctx, NewRecord("s", []byte{byte(i)}, []byte("v")), col.cb(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		k, err := c.NewConsumer(ConsumerConfig{Follow: follow, MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Assign(ctx, "s", nil, Earliest()); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, k, 300)
		k.Close() // fetchers are waiting in long polls and streams
	}
	// Requests that never answer, cut short by Close.
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "Produce" {
			return fault{Delay: time.Hour, Before: sluicev1.ErrorCode_ERROR_CODE_TIMEOUT}
		}
		return fault{}
	})
	for i := range 10 {
		p.Produce(ctx, NewRecord("s", []byte{byte(i)}, []byte("v")), nil)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_ = p.Close(short)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
