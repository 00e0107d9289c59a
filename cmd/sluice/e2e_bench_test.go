package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/localnats"
)

// testBench runs a small workload with sluice bench run against the dev
// cluster and renders it with sluice bench report.
func testBench(t *testing.T, bin string, env []string) {
	dir := t.TempDir()
	out := filepath.Join(dir, "keyed.json")
	mustRun(t, bin, env, "", "bench", "run", "../../bench/workloads/keyed.yaml",
		"--records", "3000", "--rate", "3000", "--warmup", "0s", "--quiet", "--out", out)
	res := readResult(t, out)
	if res.Sent != 3000 || res.Acked != 3000 || res.Failed != 0 || res.Received != 3000 || res.Unreceived != 0 {
		t.Fatalf("sent %d acked %d failed %d received %d unreceived %d; want 3000 of each, no failure",
			res.Sent, res.Acked, res.Failed, res.Received, res.Unreceived)
	}
	if res.Publish.Count != 3000 || res.Publish.P50 <= 0 || res.EndToEnd.P99 < res.EndToEnd.P50 {
		t.Fatalf("latency summaries look wrong: publish %+v, end-to-end %+v", res.Publish, res.EndToEnd)
	}
	html, pngPath := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.png")
	table := mustRun(t, bin, nil, "", "bench", "report", out, "--html", html, "--png", pngPath)
	if !strings.Contains(table, "publish records/s") {
		t.Fatalf("report table:\n%s", table)
	}
	checkPNG(t, pngPath)
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("HTML report: %v, %d bytes without a chart", err, len(b))
	}
	wantError(t, sluiceCmd(t, bin, nil, "", "bench", "report", filepath.Join(dir, "missing.json")), exitError, "missing.json")

	// A topic with four filtered subscriptions (queues filtered on the
	// server): each receives the records its filter matches, about 1.75
	// per record sent (the producers share the record count, each cycling
	// over the header's four values from its own start).
	out = filepath.Join(dir, "filtered.json")
	mustRun(t, bin, env, "", "bench", "run", "../../bench/workloads/topic-4-filtered.yaml",
		"--records", "2000", "--rate", "2000", "--warmup", "0s", "--quiet", "--out", out)
	res = readResult(t, out)
	if res.Acked != 2000 || res.Failed != 0 || res.Unreceived != 0 || res.Misdelivered != 0 ||
		res.Received < 3400 || res.Received > 3600 {
		t.Fatalf("acked %d failed %d received %d unreceived %d misdelivered %d; want 2000 acked, about 3500 received, no failure",
			res.Acked, res.Failed, res.Received, res.Unreceived, res.Misdelivered)
	}
}

func readResult(t *testing.T, path string) *bench.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &res
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestBenchCompare runs sluice bench compare end to end on a short
// workload: a local Sluice cluster and two local JetStream clusters
// (default and fsync-always), one round each. It needs nats-server
// (bench/install-nats-server.sh; .ci/run installs it).
func TestBenchCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three local clusters")
	}
	natsBin, err := localnats.FindBinary()
	if err != nil {
		t.Skipf("no nats-server: %v", err)
	}
	bin := buildSluice(t)
	dir := t.TempDir()
	out := mustRun(t, bin, []string{"SLUICE_NATS_SERVER=" + natsBin}, "", "bench", "compare",
		"../../bench/workloads/fixed-rate-latency.yaml", "--rounds", "1", "--records", "2000", "--rate", "2000",
		"--warmup", "0s", "--quiet", "--out", dir)
	for _, want := range []string{"round 1/1: sluice", "round 1/1: jetstream", "round 1/1: jetstream (fsync always)",
		"median runs", "jetstream / sluice"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, sys := range []string{"sluice", "nats", "nats-sync"} {
		res := readResult(t, filepath.Join(dir, "fixed-rate-latency", sys+"-r1.json"))
		if res.Acked != 2000 || res.Received != 2000 {
			t.Errorf("%s: acked %d received %d, want 2000", sys, res.Acked, res.Received)
		}
		if len(res.Processes) != 3 {
			t.Errorf("%s: %d server processes sampled, want 3", sys, len(res.Processes))
		}
	}
	checkPNG(t, filepath.Join(dir, "fixed-rate-latency", "report.png"))
}
