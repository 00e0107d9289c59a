package rpc

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/client"
)

func counter(c *prometheus.CounterVec, labels ...string) float64 {
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestReorderWait measures what the reorder wait saves: the Go client's
// idempotent producer sends up to 5 small batches per partition at once,
// gRPC may deliver them out of order, and without the wait each one that
// arrives early goes back to the client as OUT_OF_ORDER_SEQUENCE. The
// numbers are logged (go test -v -run TestReorderWait); the test checks
// that every record lands once and in order either way, and that with the
// wait no batch needs the client's round trip unless it waited in vain.
func TestReorderWait(t *testing.T) {
	const n, keys = 3000, 7
	for _, mode := range []struct {
		name string
		wait time.Duration
	}{{"wait 100ms", 0}, {"no wait", -1}} {
		t.Run(mode.name, func(t *testing.T) {
			c := startCluster(t, 3, func(cfg *Config) { cfg.ReorderWait = mode.wait })
			c.waitReady()
			ctx := testCtx(t, time.Minute)
			c.createStream(0, "r", 1, 0)
			cl := c.newClient(ctx, 0, 1, 2)
			p, err := cl.NewProducer(client.ProducerConfig{MaxInFlight: 5, Linger: -1, BatchBytes: 200})
			if err != nil {
				t.Fatal(err)
			}
			acks := newAcked(n)
			start := time.Now()
			for i := range n {
				p.Produce(ctx, client.NewRecord("r", fmt.Appendf(nil, "key-%d", i%keys), []byte(strconv.Itoa(i))), acks.callback(i))
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if len(acks.errs) > 0 {
				t.Fatalf("%d records failed, first: %v", len(acks.errs), acks.errs[0])
			}
			var ooo, held, retried, expired, produces float64
			for _, s := range c.srvs {
				m := s.svc.metrics
				ooo += counter(m.produceRequests, "OUT_OF_ORDER_SEQUENCE")
				produces += counter(m.produceRequests, "OK")
				held += counter(m.reorder, "held")
				retried += counter(m.reorder, "retried")
				expired += counter(m.reorder, "expired")
			}
			t.Logf("%s: %d records in %.0f OK produce requests, %v (%.0f records/s); OUT_OF_ORDER_SEQUENCE answered %.0f; held %.0f, retried %.0f, expired %.0f",
				mode.name, n, produces, took.Round(time.Millisecond), n/took.Seconds(), ooo, held, retried, expired)
			if mode.wait == 0 && ooo > expired {
				t.Errorf("with the wait, %.0f OUT_OF_ORDER_SEQUENCE answers but only %.0f waits expired", ooo, expired)
			}
			consumeAll(t, ctx, cl, "r", n, keys, acks, false)
		})
	}
}

// TestReorderedBatchesWait sends an idempotent producer's batches 1..4
// before batch 0, each on its own request: with the wait they are held
// until 0 lands and all succeed, in sequence order.
func TestReorderedBatchesWait(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.ReorderWait = 5 * time.Second })
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	c.createStream(0, "o", 1, 1)
	lead := c.partitionLeader("o", 0)
	api := c.api(lead)
	var ip *sluicev1.InitProducerResponse
	err := retry(t, func() (err error) { // the metadata group may be electing
		ip, err = api.InitProducer(ctx, &sluicev1.InitProducerRequest{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		seq  int
		resp *sluicev1.ProduceResponse
		err  error
	}
	results := make(chan result, 5)
	send := func(seq int) {
		b := records(t, seq*2, 2, batch.EncodeOptions{ProducerID: ip.GetProducerId(), BaseSequence: int32(seq * 2)})
		resp, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "o", Batch: b})
		results <- result{seq, resp, err}
	}
	for seq := 1; seq <= 4; seq++ {
		go send(seq)
	}
	// Batch 0 goes once the others have arrived and wait.
	waitFor(t, 10*time.Second, "4 produces waiting", func() bool { return inFlight(c.srvs[lead], "Produce") >= 4 })
	go send(0)
	for range 5 {
		r := <-results
		if r.err != nil {
			t.Fatalf("batch %d: %v", r.seq, r.err)
		}
		if r.resp.GetBaseOffset() != int64(r.seq*2) {
			t.Errorf("batch %d written at %d", r.seq, r.resp.GetBaseOffset())
		}
	}
	if got := counter(c.srvs[lead].svc.metrics.reorder, "expired"); got != 0 {
		t.Errorf("%v waits expired", got)
	}
}
