package rpc

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// noKeepAlive leaves no idle connection (and goroutine) behind.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTP checks /healthz, /readyz (503 with a reason on a node that
// waits to join, 200 once it is added) and /metrics (every family).
func TestHTTP(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	j, p := c.addNode()
	if code, body := httpGet(t, "http://"+c.https[j]+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz of a joining node: %d %q", code, body)
	}
	code, body := httpGet(t, "http://"+c.https[j]+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not registered") || strings.Count(body, "\n") != 1 {
		t.Errorf("/readyz of a node waiting to join: %d %q", code, body)
	}
	if _, err := c.nodes[c.metaLeader()].AddNode(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "/readyz of the added node", func() bool {
		code, _ := httpGet(t, "http://"+c.https[j]+"/readyz")
		return code == http.StatusOK
	})

	// Some traffic, then the metrics.
	c.createStream(0, "m", 2, 1)
	lead := c.partitionLeader("m", 0)
	api := c.api(lead)
	if _, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "m", Batch: records(t, 0, 3, plain)}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "m", Batch: []byte("junk")}); err == nil {
		t.Fatal("junk produced")
	}
	if _, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "m", Offset: 0}); err != nil {
		t.Fatal(err)
	}
	code, body = httpGet(t, "http://"+c.https[lead]+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE sluice_produce_requests_total counter", `sluice_produce_requests_total{code="OK"} 1`,
		`sluice_produce_requests_total{code="INVALID_BATCH"} 1`,
		"# TYPE sluice_produce_latency_seconds histogram", "sluice_produced_bytes_total ",
		`sluice_fetch_requests_total{code="OK"} 1`, "# TYPE sluice_fetch_latency_seconds histogram",
		"sluice_fetched_bytes_total ", "# TYPE sluice_follow_messages_total counter",
		"sluice_grpc_requests_total{", "# TYPE sluice_grpc_requests_in_flight gauge",
		`sluice_partition_leader{index="0",partition="s1-p0",stream="m"} 1`,
		"# TYPE sluice_partition_raft_term gauge", "# TYPE sluice_partition_log_bytes gauge",
		`sluice_partition_high_watermark{index="0",partition="s1-p0",stream="m"} 3`,
		"# TYPE sluice_partition_log_start_offset gauge", "# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := strings.Count(body, "sluice_partition_leader{"); n != len(c.nodes[lead].OpenPartitions()) {
		t.Errorf("/metrics has %d partition leader series, the node hosts %v", n, c.nodes[lead].OpenPartitions())
	}

	if err := c.srvs[lead].Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := noKeepAlive.Get("http://" + c.https[lead] + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("/healthz answers after Close")
	}
}
