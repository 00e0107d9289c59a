package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/chaos/proccluster"
	"github.com/sluicedb/sluice/segment"
)

// Disk faults on real processes (issue 8): a corrupted sealed segment and
// sluice repair; a full disk.

// runSluice runs the sluice binary and returns its exit code and output.
func runSluice(t *testing.T, ctx context.Context, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("sluice %v: %v", args, err)
	return 0, ""
}

// replicaDir returns the one log directory of node i's replicas of the
// cluster's only stream (logs/<partition>/<incarnation>).
func replicaDir(t *testing.T, c *proccluster.Cluster, i int) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(c.Dir(i), "data", "logs", "*", "*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("node %d: replica directories %v, %v; want one", i, dirs, err)
	}
	return dirs[0]
}

// sealedSegments returns the sealed .log files of a replica directory.
func sealedSegments(t *testing.T, dir string) []string {
	t.Helper()
	var logs []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := segment.ParseLogName(e.Name()); ok {
			logs = append(logs, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(logs)
	if len(logs) < 2 {
		t.Fatalf("%s holds %d segments, want sealed ones", dir, len(logs))
	}
	return logs[:len(logs)-1]
}

// produceN writes n records of size bytes to partition 0 of stream, in
// batches of at most 16 KiB (segments roll between batches).
func produceN(t *testing.T, ctx context.Context, cl *client.Client, stream string, n, size int) {
	t.Helper()
	p, err := cl.NewProducer(client.ProducerConfig{BatchBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	value := bytes.Repeat([]byte("v"), size)
	for i := range n {
		p.Produce(ctx, client.Record{Stream: stream, Partition: 0, Key: []byte(fmt.Sprint(i)), Value: value},
			func(_ client.RecordResult, err error) {
				if err != nil {
					t.Errorf("record %d: %v", i, err)
				}
			})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptSegmentRepair flips a byte in a sealed segment of a
// follower's replica. The node must refuse to start, naming the file,
// position and offset; `sluice repair --dry-run` must report it and change
// nothing; `sluice repair` moves the replica aside, and the restarted node
// is refilled from its peers with the same segment bytes as the others.
func TestCorruptSegmentRepair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := proccluster.Start(ctx, proccluster.Config{Binary: binary, Dir: t.TempDir(),
		Args: []string{"--segment-bytes", "64KiB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const stream = "disk"
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: stream, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, ctx, cl, stream, 0, false)
	produceN(t, ctx, cl, stream, 1000, 500)
	victim := nodeIndex(t, leader.Replicas[1])
	if leader.LeaderID == leader.Replicas[1] {
		victim = nodeIndex(t, leader.Replicas[2])
	}
	info, err := cl.DescribeStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	waitReplicaHW(t, c, victim, stream, info.Partitions[0].HighWatermark)
	data := filepath.Join(c.Dir(victim), "data")
	if code, out := runSluice(t, ctx, "repair", "--data-dir", data); code != 7 || !strings.Contains(out, "in use") {
		t.Fatalf("repair of a running node's directory: exit %d: %s", code, out)
	}
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	file := sealedSegments(t, replicaDir(t, c, victim))[1]
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The node refuses to start, and says where and what to do.
	if err := c.Restart(ctx, victim); !errors.Is(err, proccluster.ErrNotReady) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("restart with a corrupt segment: %v, want the node to exit", err)
	}
	logText, err := os.ReadFile(filepath.Join(c.Dir(victim), "process.out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{file, "position", "offset", "sluice repair --data-dir " + data} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("the node's error output does not say %q:\n%s", want, logText)
		}
	}

	// A dry run reports the damage and changes nothing.
	before := treeSums(t, data)
	code, out := runSluice(t, ctx, "repair", "--data-dir", data, "--dry-run")
	if code != 0 || !strings.Contains(out, file) || !strings.Contains(out, "would reset") {
		t.Fatalf("repair --dry-run: exit %d:\n%s", code, out)
	}
	if after := treeSums(t, data); !maps.Equal(before, after) {
		t.Fatal("repair --dry-run changed files")
	}
	code, out = runSluice(t, ctx, "repair", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "reset: moved to") {
		t.Fatalf("repair: exit %d:\n%s", code, out)
	}
	t.Logf("sluice repair:\n%s", out)

	// The restarted node is refilled from its peers.
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, cl, stream, 100, 500)
	if info, err = cl.DescribeStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	for i := range c.Addrs() {
		waitReplicaHW(t, c, i, stream, info.Partitions[0].HighWatermark)
	}
	// Stopped cleanly, every replica holds the same segment bytes.
	c.Close()
	var want []byte
	for i := range c.Addrs() {
		var got []byte
		dir := replicaDir(t, c, i)
		for _, f := range append(sealedSegments(t, dir), lastSegment(t, dir)) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
		}
		if i == 0 {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Fatalf("node %d holds %d log bytes that differ from node 1's %d", i, len(got), len(want))
		}
	}
}

// waitReplicaHW waits until node i's replica of stream's partition 0 has
// reached hw.
func waitReplicaHW(t *testing.T, c *proccluster.Cluster, i int, stream string, hw int64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if got := replicaMetric(c.Addrs()[i].HTTP, "sluice_partition_high_watermark", stream); got >= float64(hw) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d's replica did not reach the high watermark %d", i, hw)
		}
		<-time.After(50 * time.Millisecond)
	}
}

// lastSegment returns the active segment of a replica directory.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*"+segment.LogSuffix))
	if err != nil || len(logs) == 0 {
		t.Fatalf("%s: %v, %v", dir, logs, err)
	}
	slices.Sort(logs)
	return logs[len(logs)-1]
}

// treeSums returns every file's bytes under dir but LOCK (it holds the pid
// of whoever took it).
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFullDisk runs a node on a small tmpfs and fills it with a ballast
// file: `sluice produce` must fail with the disk-full error (exit 6) while
// `sluice consume` still reads everything, and produce must work again
// once the ballast is gone. It needs root to mount the tmpfs.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (the in-process TestDiskFullRefusesProduce in package server covers the logic)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})
	c, err := proccluster.Start(ctx, proccluster.Config{Binary: binary, Dir: disk, Nodes: 1,
		Args: []string{"--min-free-space", "48MiB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := c.ClientAddrs()[0]
	if code, out := runSluice(t, ctx, "stream", "create", "full", "--partitions", "1", "--replicas", "1", "-s", srv); code != 0 {
		t.Fatalf("stream create: exit %d: %s", code, out)
	}
	produce := func() (int, string) {
		return runSluice(t, ctx, "produce", "full", "--value", "x", "-s", srv, "--timeout", "5s")
	}
	for i := range 20 {
		if code, out := produce(); code != 0 {
			t.Fatalf("produce %d: exit %d: %s", i, code, out)
		}
	}

	// Fill the disk to 24 MiB free: below the node's 48 MiB minimum.
	var st unix.Statfs_t
	if err := unix.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, free-24<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var code int
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, out = produce(); code != 0 || time.Now().After(deadline) {
			break
		}
		<-time.After(100 * time.Millisecond)
	}
	if code != 6 || !strings.Contains(out, "out of disk space") || !strings.Contains(out, "--min-free-space") {
		t.Fatalf("produce on a full disk: exit %d: %s", code, out)
	}
	t.Logf("produce on a full disk: exit %d: %s", code, strings.TrimSpace(out))
	if m := scrape(t, c.Addrs()[0].HTTP); !strings.Contains(m, "\nsluice_disk_full 1\n") {
		t.Errorf("/metrics does not show sluice_disk_full 1")
	}
	// Reads go on.
	code, out = runSluice(t, ctx, "consume", "full", "-s", srv)
	if n := strings.Count(out, "\n"); code != 0 || n < 20 {
		t.Fatalf("consume on a full disk: exit %d, %d lines: %s", code, n, out)
	}
	// Space returns: so do writes.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if code, out = produce(); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce after space returned: exit %d: %s", code, out)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// scrape returns a node's /metrics text.
func scrape(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
