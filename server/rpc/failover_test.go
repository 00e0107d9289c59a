package rpc

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// TestClientFailover kills the leader of a partition (its node first, as
// a crash would, then its server) while the Go client produces to it and
// a consumer follows it: the producer goes on with the new leader, no
// acknowledged record is lost or written twice, and each key's records
// stay in order.
func TestClientFailover(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, 30*time.Second)
	cl := c.newClient(ctx, 0, 1, 2)
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "f", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	c.settle("f")
	p, err := cl.NewProducer(client.ProducerConfig{MaxInFlight: 5, Linger: time.Millisecond, BatchBytes: 2 << 10,
		DeliveryTimeout: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n, keys = 4000, 31
	acks := newAcked(n)
	victim := c.partitionLeader("f", 0)
	go func() {
		for i := range n {
			rec := client.NewRecord("f", fmt.Appendf(nil, "key-%d", i%keys), []byte(strconv.Itoa(i)))
			p.Produce(ctx, rec, acks.callback(i))
		}
	}()
	waitFor(t, 20*time.Second, "a quarter of the records acknowledged", func() bool {
		acks.mu.Lock()
		defer acks.mu.Unlock()
		return len(acks.at) >= n/4
	})
	if err := c.nodes[victim].Close(); err != nil {
		t.Error(err)
	}
	c.kill(victim)
	select {
	case <-acks.done:
	case <-ctx.Done():
		acks.mu.Lock()
		t.Fatalf("records not acknowledged in time: %d acknowledged, %d failed", len(acks.at), len(acks.errs))
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(acks.errs) > 0 {
		t.Fatalf("%d records failed, first: %v", len(acks.errs), acks.errs[0])
	}
	if l := c.partitionLeader("f", 0); l == victim {
		t.Fatalf("the killed node %s still leads", c.ids[victim])
	}
	consumeAll(t, ctx, cl, "f", n, keys, acks, false)
}
