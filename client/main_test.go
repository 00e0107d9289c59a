package client

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCtx returns a context that ends with the test (or after a minute).
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTestClient connects to fc with short timeouts and backoffs; mod may
// change the configuration. The client is closed when the test ends.
func newTestClient(t testing.TB, fc *fakeCluster, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Servers: fc.addrs(), DialTimeout: time.Second, RequestTimeout: 2 * time.Second,
		RetryBackoff: 2 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newTestProducer makes a producer closed when the test ends.
func newTestProducer(t testing.TB, c *Client, cfg ProducerConfig) *Producer {
	t.Helper()
	p, err := c.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// newTestConsumer makes a consumer closed when the test ends.
func newTestConsumer(t testing.TB, c *Client, cfg ConsumerConfig) *Consumer {
	t.Helper()
	k, err := c.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}
