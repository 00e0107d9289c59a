package rpc

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/replication"
)

// TestLongPollAndFollow checks that a fetch at the high watermark waits
// for data and returns as soon as it comes, that a Follow stream ends with
// NOT_LEADER when its node loses the lead, and that Close ends long polls
// and Follow streams at once.
func TestLongPollAndFollow(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.ShutdownTimeout = 20 * time.Second })
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	c.createStream(0, "w", 1, 0)

	// Nothing comes: the fetch waits its max_wait and answers empty.
	var fr *sluicev1.FetchResponse
	var took time.Duration
	err := c.onLeader("w", 0, func(api sluicev1.SluiceClient) (err error) {
		start := time.Now()
		fr, err = api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "w", Offset: 0, MaxWaitMs: 200})
		took = time.Since(start)
		return err
	})
	if err != nil || len(fr.GetBatches()) != 0 || fr.GetNextOffset() != 0 || took < 200*time.Millisecond {
		t.Fatalf("empty long poll: %v, %v after %v", fr, err, took)
	}
	// max_wait_ms 0 answers at once.
	err = c.onLeader("w", 0, func(api sluicev1.SluiceClient) (err error) {
		start := time.Now()
		fr, err = api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "w", Offset: 0})
		took = time.Since(start)
		return err
	})
	if err != nil || len(fr.GetBatches()) != 0 || took > time.Second {
		t.Fatalf("fetch without wait: %v, %v after %v", fr, err, took)
	}
	lead := c.partitionLeader("w", 0)
	api := c.api(lead)

	// Data comes while a long poll of 20 s waits: it answers with it.
	type result struct {
		resp *sluicev1.FetchResponse
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		resp, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "w", Offset: 0, MaxWaitMs: 20000})
		done <- result{resp, err, time.Since(start)}
	}()
	if err := retry(t, func() error {
		_, err := c.api((lead+1)%3).Produce(ctx, &sluicev1.ProduceRequest{Stream: "w", Batch: records(t, 0, 4, plain)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	switch r := <-done; {
	case nothingDone(r.err):
		t.Logf("the long poll met an election: %v", r.err) // a busy machine; the rest still holds
	case r.err != nil || len(decode(t, r.resp.GetBatches())) != 4 || r.resp.GetNextOffset() != 4 || r.took > 10*time.Second:
		t.Fatalf("long poll: %v, %v after %v", r.resp, r.err, r.took)
	}
	lead = c.partitionLeader("w", 0)
	api = c.api(lead)

	// A Follow stream on the leader ends with NOT_LEADER when it hands
	// the lead over.
	fs, err := api.Follow(ctx, &sluicev1.FollowRequest{Stream: "w", Offset: 0})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := fs.Recv(); err != nil || m.GetNextOffset() != 4 {
		t.Fatalf("Follow: %v, %v", m, err)
	}
	id := c.nodes[lead].Metadata().Stream("w").Partitions[0].ID
	_, g := c.nodes[lead].Partition(id)
	if err := g.TransferLeadership(replication.Peer{}); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Recv()
	if d := detailOf(err); d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER && d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NO_LEADER {
		t.Fatalf("Follow after the leader moved: %v", err)
	}

	// Close ends the long polls and Follow streams of the node at once,
	// though they would wait long and the shutdown timeout is long.
	lead = c.partitionLeader("w", 0)
	api = c.api(lead)
	fs, err = api.Follow(ctx, &sluicev1.FollowRequest{Stream: "w", Offset: 4})
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan error, 1)
	go func() {
		_, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "w", Offset: 4, MaxWaitMs: 50000})
		polled <- err
	}()
	followed := make(chan error, 1)
	go func() {
		_, err := fs.Recv()
		followed <- err
	}()
	// Wait until the fetch is in: the server counts the requests it got.
	waitFor(t, 5*time.Second, "the long poll to arrive", func() bool { return inFlight(c.srvs[lead], "Fetch") > 0 })
	start := time.Now()
	if err := c.srvs[lead].Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	if err := <-polled; err != nil && !nothingDone(err) {
		t.Errorf("long poll cut by Close: %v", err)
	}
	switch err := <-followed; detailOf(err).GetCode() {
	case sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE:
	case sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER:
		t.Logf("the Follow stream met an election before Close: %v", err)
	default:
		t.Errorf("Follow cut by Close: %v", err)
	}
	_, err = api.GetCluster(context.Background(), &sluicev1.GetClusterRequest{})
	if err == nil {
		t.Error("a closed server answered")
	}
}

// inFlight returns the calls of method (of sluice.v1.Sluice) that s is
// handling.
func inFlight(s *Server, method string) float64 {
	var m dto.Metric
	if err := s.svc.metrics.grpcInFlight.WithLabelValues("/sluice.v1.Sluice/" + method).Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}
