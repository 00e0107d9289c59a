package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/segment"
)

// dirSums returns the SHA-256 of every file under dir but the LOCK file
// (which holds the pid of whoever took it last).
func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == lockFile {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// flipSealedSegment flips one byte in the middle of the first sealed
// segment of the replica's log directory and returns the file's path.
func flipSealedSegment(t *testing.T, dir string) string {
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
		t.Fatalf("%s holds %d segments, want a sealed one", dir, len(logs))
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(logs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	return logs[0]
}

// waitFailed waits until n fails and returns its error.
func waitFailed(t *testing.T, n *Node) error {
	t.Helper()
	select {
	case <-n.Failed():
		return n.Err()
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not fail")
		return nil
	}
}

// TestRepairRefillsDamagedReplica damages a sealed segment of one replica:
// the node refuses to run, naming the file, position and offset; a dry
// run reports the damage and changes nothing; repair moves the replica
// aside, and after a restart the leader refills it with exactly the bytes
// the other replicas hold.
func TestRepairRefillsDamagedReplica(t *testing.T) {
	c := startCluster(t, 3, snapshotTiming)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, time.Minute)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "r", Partitions: 1, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Partitions[0]
	prod := &producer{c: c, id: p.ID, pid: 1}
	prod.produce(60)
	c.compact(p.ID) // the refill must come from a snapshot: the raft log before it is gone
	c.waitPlaced(p.ID, p.Replicas, 600, 30*time.Second)

	lead, _ := c.waitLeaderOf(p.ID)
	i := slices.IndexFunc(c.nodes, func(n *Node) bool { return n != lead })
	cfg := c.cfgs[i]
	cfg.RaftListener = nil

	// Repair refuses a data directory a node is running on.
	if _, err := Repair(RepairConfig{DataDir: cfg.DataDir}); !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("Repair of a running node's directory = %v, want ErrDataDirInUse", err)
	}
	if err := c.nodes[i].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[i] = nil
	file := flipSealedSegment(t, filepath.Join(cfg.DataDir, "logs", p.ID, "0"))

	// The node refuses to run with the damaged replica.
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ferr := waitFailed(t, n)
	var ce *segment.CorruptError
	if !errors.Is(ferr, ErrDamaged) || !errors.As(ferr, &ce) || ce.Path != file || ce.Offset <= 0 {
		t.Fatalf("node failed with %v, want a DamagedError naming %s", ferr, file)
	}
	for _, want := range []string{file, "position", "offset", "sluice repair --data-dir " + cfg.DataDir} {
		if !strings.Contains(ferr.Error(), want) {
			t.Errorf("failure %q does not say %q", ferr, want)
		}
	}
	if err := n.CheckReady(); !errors.Is(err, ErrNotReady) {
		t.Errorf("a failed node is ready: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	prod.produce(5) // the other two go on

	// A dry run reports and changes nothing.
	before := dirSums(t, cfg.DataDir)
	rep, err := Repair(RepairConfig{DataDir: cfg.DataDir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].Partition != p.ID || rep.Damaged[0].Refused != nil ||
		len(rep.Damaged[0].Voters) != 3 || rep.Damaged[0].MovedTo != "" || rep.Quarantine != "" {
		t.Fatalf("dry run report %+v", rep)
	}
	if !errors.As(rep.Damaged[0].Damage, &ce) || ce.Path != file {
		t.Fatalf("dry run damage %v, want %s", rep.Damaged[0].Damage, file)
	}
	if after := dirSums(t, cfg.DataDir); !maps.Equal(before, after) {
		t.Fatal("a dry run changed files")
	}

	// The repair moves the replica aside, with a note.
	rep, err = Repair(RepairConfig{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].MovedTo == "" {
		t.Fatalf("report %+v", rep)
	}
	moved := rep.Damaged[0].MovedTo
	if _, err := os.Stat(filepath.Join(moved, "log", filepath.Base(file))); err != nil {
		t.Fatalf("the damaged segment was not kept: %v", err)
	}
	if note, err := os.ReadFile(filepath.Join(moved, "REPAIR.txt")); err != nil || !strings.Contains(string(note), file) {
		t.Fatalf("REPAIR.txt: %q, %v", note, err)
	}
	if rep, err := Repair(RepairConfig{DataDir: cfg.DataDir, DryRun: true}); err != nil || len(rep.Damaged) != 0 {
		t.Fatalf("after the repair: %+v, %v; want nothing damaged", rep, err)
	}

	// Started again, the node is refilled from the others: every replica
	// holds the same bytes, the records produced meanwhile included.
	if n, err = Start(cfg); err != nil {
		t.Fatal(err)
	}
	c.nodes[i] = n
	prod.produce(5)
	c.waitPlaced(p.ID, p.Replicas, 700, 60*time.Second)
	if err := n.Err(); err != nil {
		t.Fatalf("the repaired node failed: %v", err)
	}
}

// TestRepairRefusesLastReplica: the only replica of a partition is left as
// it is, with ErrNoOtherReplica.
func TestRepairRefusesLastReplica(t *testing.T) {
	c := startCluster(t, 1)
	c.waitActive("n1")
	ctx := ctxFor(t, 30*time.Second)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "one", Partitions: 1, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Partitions[0]
	prod := &producer{c: c, id: p.ID, pid: 1}
	prod.produce(40)
	cfg := c.cfgs[0]
	if err := c.nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = nil
	flipSealedSegment(t, filepath.Join(cfg.DataDir, "logs", p.ID, "0"))
	before := dirSums(t, cfg.DataDir)
	rep, err := Repair(RepairConfig{DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || !errors.Is(rep.Damaged[0].Refused, ErrNoOtherReplica) || rep.Damaged[0].MovedTo != "" {
		t.Fatalf("report %+v, want the replica refused", rep)
	}
	if after := dirSums(t, cfg.DataDir); !maps.Equal(before, after) {
		t.Fatal("a refused repair changed files")
	}
}

// TestDiskFullRefusesProduce: below MinFreeBytes the leader refuses
// produce with a DiskFullError while reads go on; produce resumes once
// space returns.
func TestDiskFullRefusesProduce(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.MinFreeBytes = 64 << 20
		cfg.DiskFree = func(string) (uint64, error) { return free.Load(), nil }
	})
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, time.Minute)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "d", Partitions: 1, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Partitions[0]
	prod := &producer{c: c, id: p.ID, pid: 1}
	prod.produce(3)

	free.Store(10 << 20)
	// Leadership may move while the machine is loaded: look the leader up
	// on every try, and keep the replica that refused.
	var (
		dfe *DiskFullError
		r   *partition.Replica
	)
	waitFor(t, 10*time.Second, "produce refused", func() bool {
		if _, r = c.leaderOf(p.ID); r == nil {
			return false
		}
		_, err := r.Produce(context.Background(), plainBatch(t))
		return errors.As(err, &dfe)
	})
	if !errors.Is(dfe, ErrDiskFull) || dfe.Free != 10<<20 || dfe.Min != 64<<20 ||
		!strings.Contains(dfe.Error(), "--min-free-space") {
		t.Fatalf("refusal %v", dfe)
	}
	// Every node sees the same full disk, so no replica's high watermark
	// moves while reads go on.
	hw := r.HighWatermark()
	if got, err := readAll(r); err != nil || len(got) == 0 || r.HighWatermark() != hw {
		t.Fatalf("reads while the disk is full: %d bytes, %v", len(got), err)
	}
	waitFor(t, 10*time.Second, "every node to report its free space", func() bool {
		for _, n := range c.nodes {
			if got, ok := n.DiskFree(); !ok || got != 10<<20 || n.Admit() == nil {
				return false
			}
		}
		return true
	})
	free.Store(1 << 30)
	prod.produce(2) // retries until the node looks again
	waitFor(t, 10*time.Second, "the two batches committed", func() bool {
		_, r := c.leaderOf(p.ID)
		return r != nil && r.HighWatermark() == hw+20
	})
}

// plainBatch is a batch of one record without a producer id.
func plainBatch(t *testing.T) []byte {
	t.Helper()
	b, err := batch.Append(nil, []batch.Record{{Timestamp: 1, Value: []byte("v")}}, batch.EncodeOptions{ProducerID: -1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
