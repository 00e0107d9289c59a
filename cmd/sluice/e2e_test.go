package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// devNodeLine is a parsed "node n1 pid P client C raft R http H log L"
// line of sluice dev.
type devNodeLine struct {
	id, client, http string
	pid              int
}

func parseDevNodeLine(t *testing.T, line string) devNodeLine {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 10 || f[0] != "node" || f[2] != "pid" || f[4] != "client" || f[8] != "http" {
		t.Fatalf("unexpected node line %q", line)
	}
	pid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatalf("node line %q: %v", line, err)
	}
	return devNodeLine{id: f[1], pid: pid, client: f[5], http: f[9]}
}

// devRun is a `sluice dev` process that a test started, with the
// three nodes it printed.
type devRun struct {
	dir     string
	cmd     *exec.Cmd
	out     *lineLog
	done    chan error
	nodes   []devNodeLine
	clients []string
	stopped bool
}

// startDev runs `sluice dev` on free ports in a temporary directory and
// waits until it is ready. If the test does not stop it, a cleanup does
// and logs its output.
func startDev(t *testing.T, bin string) *devRun {
	t.Helper()
	d := &devRun{dir: filepath.Join(t.TempDir(), "dev"), done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "dev", "--dir", d.dir, "--base-port", "0", "--timeout", "45s")
	d.cmd.Env = append(os.Environ(), "SLUICE_SERVER=") // dev must not depend on it
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = d.cmd.Stdout
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.out = newLineLog(stdout)
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if !d.stopped {
			_ = d.cmd.Process.Signal(syscall.SIGINT)
			<-d.done
			t.Logf("sluice dev output:\n%s", d.out)
		}
	})
	if d.out.wait("sluice dev: ready", 50*time.Second) == "" {
		t.Fatalf("sluice dev not ready; output:\n%s", d.out)
	}
	for i := 1; i <= 3; i++ {
		n := parseDevNodeLine(t, d.out.wait(fmt.Sprintf("node n%d ", i), time.Second))
		d.nodes, d.clients = append(d.nodes, n), append(d.clients, n.client)
	}
	return d
}

// stop sends dev SIGINT and waits (up to 30 s) until it exited.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	d.stopped = true
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("sluice dev: %v\n%s", err, d.out)
		}
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Fatalf("sluice dev did not stop on SIGINT:\n%s", d.out)
	}
}

// TestEndToEnd runs sluice dev as a process and drives the cluster with
// the CLI: streams, 1,000 keyed records produced and consumed back,
// consumer groups, the error cases, a node killed and restarted, and a
// clean stop on SIGINT.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a three-node cluster")
	}
	bin := buildSluice(t)
	start := time.Now()
	d := startDev(t, bin)
	t.Logf("sluice dev ready in %s", time.Since(start).Round(time.Millisecond))
	dir, out, nodes := d.dir, d.out, d.nodes
	export := out.wait("export SLUICE_SERVER=", time.Second)
	if want := "export SLUICE_SERVER=" + strings.Join(d.clients, ","); export != want {
		t.Fatalf("export line %q, want %q", export, want)
	}
	env := []string{"SLUICE_SERVER=" + strings.Join(d.clients, ",")}

	t.Run("cluster", func(t *testing.T) { testClusterStatus(t, bin, env) })
	t.Run("produce-consume", func(t *testing.T) { testProduceConsume(t, bin, env) })
	t.Run("small", func(t *testing.T) { testSmallStream(t, bin, env) })
	t.Run("groups", func(t *testing.T) { testGroups(t, bin, env) })
	t.Run("queues", func(t *testing.T) { testQueues(t, bin, env) })
	t.Run("topics", func(t *testing.T) { testTopics(t, bin, env) })
	t.Run("errors", func(t *testing.T) { testErrors(t, bin, env, dir) })
	t.Run("bench", func(t *testing.T) { testBench(t, bin, env) })
	t.Run("restart", func(t *testing.T) { testKillRestart(t, bin, env, dir, nodes[2], out) })
	t.Run("dev early exit", func(t *testing.T) { testDevEarlyExit(t, bin) })

	// SIGINT stops dev and every node it started.
	d.stop(t)
	if out.wait("sluice dev: stopped", time.Second) == "" {
		t.Errorf("no stopped line:\n%s", out)
	}
	for _, n := range nodes[:2] {
		if err := syscall.Kill(n.pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("node %s (pid %d) still exists after dev stopped: %v", n.id, n.pid, err)
		}
	}
}

func testClusterStatus(t *testing.T, bin string, env []string) {
	var status struct {
		Nodes []struct {
			ID, State string
		} `json:"nodes"`
		Leader string `json:"metadata_leader"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "cluster", "status", "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if len(status.Nodes) != 3 || status.Leader == "" {
		t.Fatalf("cluster status: %+v", status)
	}
	text := mustRun(t, bin, env, "", "cluster", "status")
	if !strings.HasPrefix(text, "NODE") || strings.Count(text, "\n") != 4 {
		t.Errorf("cluster status table:\n%s", text)
	}
}

// testProduceConsume produces 1,000 records over 17 keys (half as text
// lines with a key separator, half as JSON lines) and reads them back.
func testProduceConsume(t *testing.T, bin string, env []string) {
	created := mustRun(t, bin, env, "", "stream", "create", "e2e", "--partitions", "6", "-o", "json")
	var s streamJSON
	if err := json.Unmarshal([]byte(created), &s); err != nil || s.Partitions != 6 || len(s.PartitionInfo) != 6 {
		t.Fatalf("stream create: %s (%v)", created, err)
	}
	const n = 1000
	var text, js strings.Builder
	for i := range n {
		key, value := fmt.Sprintf("key-%d", i%17), fmt.Sprintf("%d", i)
		if i < n/2 {
			fmt.Fprintf(&text, "%s:%s\n", key, value)
		} else {
			fmt.Fprintf(&js, `{"key":%q,"value":%q,"headers":{"i":%q}}`+"\n", key, value, value)
		}
	}
	got := mustRun(t, bin, env, text.String(), "produce", "e2e", "--key-separator", ":")
	if !strings.HasPrefix(got, "produced 500 records to e2e") {
		t.Fatalf("produce text: %q", got)
	}
	got = mustRun(t, bin, env, js.String(), "produce", "e2e", "--format", "json", "-o", "json")
	if lines := strings.Split(strings.TrimSpace(got), "\n"); len(lines) != n/2 {
		t.Fatalf("produce -o json printed %d lines, want %d", len(lines), n/2)
	}
	consumed := mustRun(t, bin, env, "", "consume", "e2e", "--from", "earliest", "--max", "1000", "-o", "json")
	checkConsumed(t, consumed, n)
}

// checkConsumed checks n JSON records: each value once, the offsets of a
// partition unique, and each key in one partition in produce order.
func checkConsumed(t *testing.T, out string, n int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("consumed %d records, want %d", len(lines), n)
	}
	type rec struct {
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Timestamp string            `json:"timestamp"`
		Key       *string           `json:"key"`
		Value     string            `json:"value"`
		Headers   map[string]string `json:"headers"`
	}
	seen := map[string]bool{}
	offsets := map[string]bool{}
	last := map[string]rec{} // by key: the last record, by offset order per partition
	for _, line := range lines {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Key == nil {
			t.Fatalf("record %s: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Timestamp); err != nil {
			t.Fatalf("record %s: timestamp: %v", line, err)
		}
		if seen[r.Value] {
			t.Fatalf("value %s twice", r.Value)
		}
		seen[r.Value] = true
		po := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		if offsets[po] {
			t.Fatalf("offset %s twice", po)
		}
		offsets[po] = true
		i, _ := strconv.Atoi(r.Value)
		if i >= n/2 && r.Headers["i"] != r.Value {
			t.Fatalf("record %s: headers %v", line, r.Headers)
		}
		if p, ok := last[*r.Key]; ok {
			pi, _ := strconv.Atoi(p.Value)
			if p.Partition != r.Partition || p.Offset >= r.Offset || pi >= i {
				t.Fatalf("key %s: %+v then %+v: out of order", *r.Key, p, r)
			}
		}
		last[*r.Key] = r
	}
	if len(seen) != n || len(last) != 17 {
		t.Fatalf("%d values over %d keys", len(seen), len(last))
	}
}

// testSmallStream runs the exact forms of the brief.
func testSmallStream(t *testing.T, bin string, env []string) {
	got := mustRun(t, bin, env, "", "stream", "create", "small", "--partitions", "2", "--replicas", "3", "--retention", "1h")
	if !strings.Contains(got, "created stream small: 2 partitions, replication factor 3, retention 1h0m0s") {
		t.Errorf("stream create: %q", got)
	}
	mustRun(t, bin, env, "a\nb\n", "produce", "small", "--key", "K")
	got = mustRun(t, bin, env, "", "consume", "small", "--from", "earliest", "--max", "2")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "key=K value=a") || !strings.Contains(lines[1], "key=K value=b") {
		t.Errorf("consume text:\n%s", got)
	}
	// Without --max, consume stops at the end of the log.
	got = mustRun(t, bin, env, "", "consume", "small", "--from", "earliest", "-o", "json")
	if strings.Count(got, "\n") != 2 {
		t.Errorf("consume to the end: %q", got)
	}
	if got := mustRun(t, bin, env, "", "consume", "small", "--from", "latest"); got != "" {
		t.Errorf("consume --from latest: %q", got)
	}
	list := mustRun(t, bin, env, "", "stream", "list")
	if !strings.Contains(list, "small") || !strings.Contains(list, "e2e") {
		t.Errorf("stream list:\n%s", list)
	}
	got = mustRun(t, bin, env, "", "stream", "alter", "small", "--retention", "2d")
	if !strings.Contains(got, "retention 2d") {
		t.Errorf("stream alter: %q", got)
	}
	var s streamJSON
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "stream", "describe", "small", "-o", "json")), &s); err != nil ||
		s.RetentionMs != (48*time.Hour).Milliseconds() || s.PartitionInfo[0].HighWatermark+s.PartitionInfo[1].HighWatermark != 2 {
		t.Errorf("stream describe: %+v (%v)", s, err)
	}
	testFollow(t, bin, env)
	mustRun(t, bin, env, "", "stream", "delete", "small")
	// Completion: the subcommands of "stream".
	got = mustRun(t, bin, nil, "", "stream", "--generate-bash-completion")
	for _, w := range []string{"create", "list", "describe", "delete", "alter"} {
		if !strings.Contains(got, w) {
			t.Errorf("completion %q lacks %q", got, w)
		}
	}
}

// testFollow follows stream small (records a and b so far): the follower
// prints them, then a record produced afterwards, and exits 0 on SIGINT.
func testFollow(t *testing.T, bin string, env []string) {
	follow := exec.Command(bin, "consume", "small", "--follow", "--from", "earliest")
	follow.Env = append(os.Environ(), env...)
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	lines := newLineLog(stdout)
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	if lines.wait("partition=", 20*time.Second) == "" {
		_ = follow.Process.Kill()
		t.Fatalf("follow printed nothing")
	}
	mustRun(t, bin, env, "", "produce", "small", "--key", "K", "--value", "c", "--header", "h=x,y")
	ok := lines.waitMatch(func(l string) bool { return strings.Contains(l, "value=c h.h=x,y") }, 20*time.Second) != ""
	if err := follow.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("consume --follow on SIGINT: %v", err)
	}
	if !ok {
		t.Fatalf("follow did not print the new record:\n%s", lines)
	}
	if n := strings.Count(lines.String(), "partition="); n != 3 {
		t.Errorf("follow printed %d records:\n%s", n, lines)
	}
}

func testErrors(t *testing.T, bin string, env []string, dir string) {
	t.Run("unknown stream", func(t *testing.T) {
		wantError(t, sluiceCmd(t, bin, env, "", "consume", "nope", "--from", "earliest", "--max", "1"),
			exitNotFound, `unknown stream`)
		wantError(t, sluiceCmd(t, bin, env, "", "produce", "nope", "--value", "x"), exitNotFound, "unknown stream")
		wantError(t, sluiceCmd(t, bin, env, "", "stream", "describe", "nope"), exitNotFound, "unknown stream")
	})
	t.Run("stream exists", func(t *testing.T) {
		wantError(t, sluiceCmd(t, bin, env, "", "stream", "create", "e2e", "--partitions", "1"), exitExists, "already exists")
	})
	t.Run("unreachable cluster", func(t *testing.T) {
		addr := freeAddr(t)
		wantError(t, sluiceCmd(t, bin, []string{"SLUICE_SERVER=" + addr}, "", "stream", "list"),
			exitUnreachable, "cluster unreachable: no answer from "+addr)
	})
	t.Run("record too large", func(t *testing.T) {
		mustRun(t, bin, env, "", "stream", "create", "tiny", "--partitions", "1", "--max-record-bytes", "1KiB")
		r := sluiceCmd(t, bin, env, "ok\n"+strings.Repeat("x", 2000)+"\n", "produce", "tiny")
		wantError(t, r, exitRejected, "bytes is above the limit of 1024 bytes (stream \"tiny\") (input record 2)")
	})
	t.Run("bad flag", func(t *testing.T) {
		wantError(t, sluiceCmd(t, bin, env, "", "stream", "create", "x", "--partitions", "many"), exitUsage,
			`invalid value "many" for flag -partitions`)
		wantError(t, sluiceCmd(t, bin, env, "", "consume", "e2e", "--frmo", "earliest"), exitUsage,
			"flag provided but not defined: -frmo")
	})
	t.Run("data dir in use", func(t *testing.T) {
		r := sluiceCmd(t, bin, nil, "", "server", "--id", "n1", "--data-dir", filepath.Join(dir, "n1", "data"),
			"--raft-addr", freeAddr(t), "--client-addr", freeAddr(t))
		wantError(t, r, exitBusy, "data directory in use")
	})
}

// testKillRestart kills a node, checks that dev reports it, restarts it
// from its cmdline file and reads everything back.
func testKillRestart(t *testing.T, bin string, env []string, dir string, n devNodeLine, out *lineLog) {
	if err := syscall.Kill(n.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("sluice dev: node %s (pid %d) exited", n.id, n.pid)
	if out.wait(prefix, 10*time.Second) == "" {
		t.Fatalf("dev did not report the killed node:\n%s", out)
	}
	// The cluster goes on with two nodes.
	checkConsumed(t, mustRun(t, bin, env, "", "consume", "e2e", "--from", "earliest", "--max", "1000", "-o", "json"), 1000)

	restart := exec.Command("sh", filepath.Join(dir, n.id, "cmdline"))
	if err := restart.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = restart.Process.Signal(syscall.SIGTERM)
		_ = restart.Wait()
	}()
	ready := waitFor(30*time.Second, func() bool {
		resp, err := http.Get("http://" + n.http + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ready {
		t.Fatalf("restarted node %s not ready; log:\n%s", n.id, logTail(filepath.Join(dir, n.id, "node.log"), 30))
	}
	checkConsumed(t, mustRun(t, bin, env, "", "consume", "e2e", "--from", "earliest", "--max", "1000", "-o", "json"), 1000)
}

// testDevEarlyExit starts a second dev whose node n2 cannot start (its
// data directory is a file): dev names the node, shows its log, stops the
// others and fails.
func testDevEarlyExit(t *testing.T, bin string) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "n2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n2", "data"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sluiceCmd(t, bin, nil, "", "dev", "--dir", dir, "--base-port", "0")
	wantError(t, r, exitError, "dev: node n2 exited during start-up (exit status")
	if !strings.Contains(r.stdout, "last lines of "+filepath.Join(dir, "n2", "node.log")) ||
		!strings.Contains(r.stdout, "not a directory") {
		t.Errorf("no log tail in the output:\n%s", r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "node ") {
			n := parseDevNodeLine(t, line)
			if err := syscall.Kill(n.pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("node %s (pid %d) still running after dev failed", n.id, n.pid)
			}
		}
	}
}
