package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// The figures of TestEndToEndFull: keys k000..k999, each key's records
// numbered by a per-key sequence continued across the phases.
const (
	fullKeys       = 1000
	fullCLIRecords = 100_000
	fullGoRecords  = 1_000_000
	fullAfterKill  = 100_000
	fullPartitions = 6
)

func fullKey(k int) string { return fmt.Sprintf("k%03d", k) }

func fill[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// seqChecker checks consumed records: each key's values carry the
// sequences 0, 1, 2... in order and exactly once, a key stays in one
// partition, a partition's offsets increase, and a record the Go producer
// had acknowledged sits at the acknowledged offset.
type seqChecker struct {
	next    []int     // by key: the next expected sequence
	part    []int32   // by key: its partition (-1 unknown)
	lastOff []int64   // by partition: last offset seen
	acked   [][]int64 // by key and sequence: acknowledged offset, -1 if none
	count   int
	errs    []string // the first 20 anomalies
	nerr    int      // how many in all
}

func newSeqChecker(acked [][]int64) *seqChecker {
	c := &seqChecker{next: make([]int, fullKeys), part: make([]int32, fullKeys),
		lastOff: make([]int64, fullPartitions), acked: acked}
	fill(c.part, -1)
	fill(c.lastOff, -1)
	return c
}

func (c *seqChecker) fail(format string, args ...any) {
	c.nerr++
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// add checks one record.
func (c *seqChecker) add(p int32, off int64, key, value string) {
	c.count++
	k, err := strconv.Atoi(strings.TrimPrefix(key, "k"))
	before, after, ok := strings.Cut(value, "/")
	seq, err2 := strconv.Atoi(after)
	if err != nil || k < 0 || k >= fullKeys || !ok || before != key || err2 != nil || p < 0 || int(p) >= fullPartitions {
		c.fail("record %d/%d: bad partition, key %q or value %q", p, off, key, value)
		return
	}
	if off <= c.lastOff[p] {
		c.fail("partition %d: offset %d after %d", p, off, c.lastOff[p])
	}
	c.lastOff[p] = off
	if c.part[k] >= 0 && c.part[k] != p {
		c.fail("key %s in partitions %d and %d (offset %d)", key, c.part[k], p, off)
	}
	c.part[k] = p
	switch {
	case seq < c.next[k]:
		c.fail("key %s: sequence %d again or out of order (expected %d) at %d/%d", key, seq, c.next[k], p, off)
	case seq > c.next[k]:
		c.fail("key %s: sequences %d..%d missing (next is %d at %d/%d)", key, c.next[k], seq-1, seq, p, off)
	}
	if seq >= c.next[k] {
		c.next[k] = seq + 1
	}
	if seq < len(c.acked[k]) && c.acked[k][seq] >= 0 && c.acked[k][seq] != off {
		c.fail("key %s seq %d: acknowledged at offset %d, found at %d/%d", key, seq, c.acked[k][seq], p, off)
	}
}

// done checks that every key ended at perKey sequences.
func (c *seqChecker) done(t *testing.T, total, perKey int) {
	t.Helper()
	for k, n := range c.next {
		if n != perKey {
			c.fail("key %s: read up to sequence %d, want %d", fullKey(k), n-1, perKey-1)
		}
	}
	if c.count != total {
		c.fail("read %d records, want %d", c.count, total)
	}
	if c.nerr > 0 {
		t.Fatalf("%d anomalies, the first:\n%s", c.nerr, strings.Join(c.errs, "\n"))
	}
}

// TestEndToEndFull drives a dev cluster at volume: 100,000 records through
// the CLI, 1,000,000 through the Go client, read back by the CLI; the node
// leading most partitions is killed, 100,000 more are produced and all is
// read back by the Go client; the node restarts and catches up.
func TestEndToEndFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a three-node cluster at volume")
	}
	phase := time.Now()
	lap := func(name string) {
		t.Logf("phase %s: %s", name, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}
	bin := buildSluice(t)
	d := startDev(t, bin)
	dir, out, clients := d.dir, d.out, d.clients
	nodes := map[string]devNodeLine{}
	for _, n := range d.nodes {
		nodes[n.id] = n
	}
	env := []string{"SLUICE_SERVER=" + strings.Join(clients, ",")}
	lap("build and start")

	mustRun(t, bin, env, "", "stream", "create", "e2e", "--partitions", strconv.Itoa(fullPartitions))
	lap("stream create")

	// 1. The CLI: sequences 0..99 of every key.
	var in strings.Builder
	for i := range fullCLIRecords {
		k := fullKey(i % fullKeys)
		fmt.Fprintf(&in, "%s:%s/%d\n", k, k, i/fullKeys)
	}
	got := mustRun(t, bin, env, in.String(), "produce", "e2e", "--key-separator", ":")
	if !strings.HasPrefix(got, fmt.Sprintf("produced %d records to e2e", fullCLIRecords)) {
		t.Fatalf("produce: %q", got)
	}
	lap(fmt.Sprintf("CLI produce %d", fullCLIRecords))

	// 2. The Go client: sequences 100..1099.
	perKey := (fullCLIRecords + fullGoRecords + fullAfterKill) / fullKeys
	acked := make([][]int64, fullKeys)
	for k := range acked {
		acked[k] = make([]int64, perKey)
		fill(acked[k], -1)
	}
	ctx := context.Background()
	cl, err := client.New(ctx, client.Config{Servers: clients})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	prod, err := cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(ctx)
	stats := produceFull(t, prod, acked, fullCLIRecords/fullKeys, fullGoRecords)
	lap(fmt.Sprintf("client produce %d (%s)", fullGoRecords, stats))

	// 3. Read everything back with the CLI.
	check := newSeqChecker(acked)
	n := fullCLIRecords + fullGoRecords
	consumeCLI(t, bin, env, check, "consume", "e2e", "--from", "earliest", "--max", strconv.Itoa(n), "-o", "json")
	check.done(t, n, n/fullKeys)
	lap(fmt.Sprintf("CLI consume %d", n))

	// 4. Kill the node that leads the most partitions.
	led := map[string]int{}
	for _, p := range describeFull(t, bin, env).PartitionInfo {
		led[p.Leader]++
	}
	victim := ""
	for id, c := range led {
		if _, ok := nodes[id]; ok && (victim == "" || c > led[victim]) {
			victim = id
		}
	}
	if victim == "" {
		t.Fatalf("no leader among the dev nodes: %v", led)
	}
	killed := nodes[victim]
	t.Logf("partition leaders %v (ties broken arbitrarily): killing %s (pid %d)", led, killed.id, killed.pid)
	if err := syscall.Kill(killed.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if out.wait(fmt.Sprintf("sluice dev: node %s (pid %d) exited", killed.id, killed.pid), 10*time.Second) == "" {
		t.Fatalf("dev did not report the killed node:\n%s", out)
	}
	var survivors []string
	for _, c := range clients {
		if c != killed.client {
			survivors = append(survivors, c)
		}
	}
	lap("kill " + killed.id)

	// 5. Sequences 1100..1199 through the survivors, then everything back
	// through a Go consumer of the survivors.
	stats = produceFull(t, prod, acked, n/fullKeys, fullAfterKill)
	lap(fmt.Sprintf("client produce %d after the kill (%s)", fullAfterKill, stats))
	n += fullAfterKill
	check = newSeqChecker(acked)
	consumeGo(t, survivors, check, n)
	check.done(t, n, perKey)
	survivorEnv := []string{"SLUICE_SERVER=" + strings.Join(survivors, ",")}
	var hw int64
	for _, p := range describeFull(t, bin, survivorEnv).PartitionInfo {
		hw += p.HighWatermark
	}
	if hw != int64(n) {
		t.Fatalf("high watermarks sum to %d, want %d (records written twice or lost)", hw, n)
	}
	lap(fmt.Sprintf("client consume %d from the survivors", n))

	// 6. Restart the killed node; wait until its replicas caught up.
	restart := exec.Command("sh", filepath.Join(dir, killed.id, "cmdline"))
	if err := restart.Start(); err != nil {
		t.Fatal(err)
	}
	restartDone := make(chan error, 1)
	go func() { restartDone <- restart.Wait() }()
	restartStopped := false
	defer func() {
		if !restartStopped {
			_ = restart.Process.Signal(syscall.SIGTERM)
			<-restartDone
		}
	}()
	var lag, caught string
	caughtUp := waitFor(60*time.Second, func() bool {
		lag, caught = catchUpLag(t, bin, env, killed)
		return lag == ""
	})
	if !caughtUp {
		t.Fatalf("node %s did not catch up within 60s: %s; log:\n%s", killed.id, lag,
			logTail(filepath.Join(dir, killed.id, "node.log"), 30))
	}
	t.Logf("%s caught up: %s", killed.id, caught)
	lap("restart and catch up " + killed.id)

	// 7. Stop: dev stops its nodes on SIGINT, the restarted one on SIGTERM.
	d.stop(t)
	restartStopped = true
	if err := restart.Process.Signal(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
	select {
	case <-restartDone:
	case <-time.After(30 * time.Second):
		_ = restart.Process.Kill()
		t.Errorf("restarted node %s did not stop on SIGTERM", killed.id)
	}
	for _, nd := range nodes {
		if err := syscall.Kill(nd.pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("node %s (pid %d) still exists after dev stopped: %v", nd.id, nd.pid, err)
		}
	}
	// cmdline execs the node, so the sh process is the node.
	if err := syscall.Kill(restart.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("restarted node %s (pid %d) still exists: %v", killed.id, restart.Process.Pid, err)
	}
	lap("stop")
}

// produceFull produces count records, round robin over the keys, whose
// per-key sequences start at first; every one must be acknowledged, and
// its offset goes to acked.
func produceFull(t *testing.T, p *client.Producer, acked [][]int64, first, count int) string {
	t.Helper()
	var failed, ok atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	keys := make([][]byte, fullKeys)
	for k := range keys {
		keys[k] = []byte(fullKey(k))
	}
	ctx := context.Background()
	for i := range count {
		k, seq := i%fullKeys, first+i/fullKeys
		v := append(append([]byte(nil), keys[k]...), '/')
		v = strconv.AppendInt(v, int64(seq), 10)
		p.Produce(ctx, client.NewRecord("e2e", keys[k], v), func(r client.RecordResult, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s/%d: %v", keys[k], seq, err))
				return
			}
			ok.Add(1)
			acked[k][seq] = r.Offset
		})
	}
	produced := time.Since(start)
	fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush: %v (%d acknowledged, %d failed)", err, ok.Load(), failed.Load())
	}
	if failed.Load() > 0 || ok.Load() != int64(count) {
		t.Fatalf("%d of %d records acknowledged, %d failed; first error: %v", ok.Load(), count, failed.Load(), firstErr.Load())
	}
	el := time.Since(start)
	return fmt.Sprintf("Produce calls %s, all acknowledged after %s, %.0f records/s",
		produced.Round(time.Millisecond), el.Round(time.Millisecond), float64(count)/el.Seconds())
}

// consumeCLI runs a consume command and checks its JSON lines as they come.
func consumeCLI(t *testing.T, bin string, env []string, check *seqChecker, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Partition *int32  `json:"partition"`
		Offset    *int64  `json:"offset"`
		Key       *string `json:"key"`
		Value     *string `json:"value"`
	}
	dec := json.NewDecoder(bufio.NewReaderSize(pipe, 1<<20))
	var decErr error
	for {
		r.Partition, r.Offset, r.Key, r.Value = nil, nil, nil, nil
		if decErr = dec.Decode(&r); decErr != nil {
			break
		}
		if r.Partition == nil || r.Offset == nil || r.Key == nil || r.Value == nil {
			check.fail("record without partition, offset, key or value (record %d)", check.count+1)
			continue
		}
		check.add(*r.Partition, *r.Offset, *r.Key, *r.Value)
	}
	_, _ = io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sluice %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	if !errors.Is(decErr, io.EOF) {
		t.Fatalf("consume output: %v", decErr)
	}
}

// consumeGo reads n records of e2e from earliest with a Go consumer of
// servers, then polls 1 s more for any extra record.
func consumeGo(t *testing.T, servers []string, check *seqChecker, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Servers: servers})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	k, err := cl.NewConsumer(client.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.Assign(ctx, "e2e", nil, client.Earliest()); err != nil {
		t.Fatal(err)
	}
	for check.count < n {
		recs, err := k.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d records: %v", check.count, err)
		}
		for i := range recs {
			check.add(recs[i].Partition, recs[i].Offset, string(recs[i].Key), string(recs[i].Value))
		}
	}
	extra, cancelExtra := context.WithTimeout(ctx, time.Second)
	defer cancelExtra()
	if recs, err := k.Poll(extra); err == nil {
		for i := range recs {
			check.add(recs[i].Partition, recs[i].Offset, string(recs[i].Key), string(recs[i].Value))
		}
	}
}

func describeFull(t *testing.T, bin string, env []string) streamJSON {
	t.Helper()
	var s streamJSON
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "stream", "describe", "e2e", "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.PartitionInfo) != fullPartitions {
		t.Fatalf("stream describe: %+v", s)
	}
	return s
}

// catchUpLag compares the high watermarks of node n's replicas of e2e (its
// /metrics) with the leaders' (stream describe); "" when all are equal,
// else what differs; and the watermarks compared.
func catchUpLag(t *testing.T, bin string, env []string, n devNodeLine) (string, string) {
	r := sluiceCmd(t, bin, env, "", "stream", "describe", "e2e", "-o", "json")
	var s streamJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil {
		return "stream describe failed: " + r.stderr, ""
	}
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		return err.Error(), ""
	}
	defer resp.Body.Close()
	hw := map[string]string{} // by partition index
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		labels, ok := strings.CutPrefix(line, "sluice_partition_high_watermark{")
		if !ok || !strings.Contains(labels, `stream="e2e"`) {
			continue
		}
		_, idx, _ := strings.Cut(labels, `index="`)
		idx, _, _ = strings.Cut(idx, `"`)
		f := strings.Fields(line)
		hw[idx] = f[len(f)-1]
	}
	var lag, same []string
	for _, p := range s.PartitionInfo {
		hosted := false
		for _, id := range p.Replicas {
			hosted = hosted || id == n.id
		}
		if !hosted {
			continue
		}
		idx := strconv.Itoa(int(p.Partition))
		got, err := strconv.ParseFloat(hw[idx], 64)
		if err != nil || p.Leader == "" || int64(got) != p.HighWatermark {
			lag = append(lag, fmt.Sprintf("partition %s: %s has %q, leader %q has %d", idx, n.id, hw[idx], p.Leader, p.HighWatermark))
		}
		same = append(same, fmt.Sprintf("p%s=%s (leader %s)", idx, hw[idx], p.Leader))
	}
	return strings.Join(lag, "; "), strings.Join(same, " ")
}
