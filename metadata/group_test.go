package metadata

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/replication"
)

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(string, ...any) {}

// waitUntil checks cond every few milliseconds until it holds, failing
// the test after timeout. It waits on raft's goroutines, not on time.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, timeout)
		case <-tick.C:
		}
	}
}

// TestGroupRestart runs the FSM in a real one-node metadata group and
// restarts it with a fresh FSM, before and after a raft snapshot: the
// group must restore the snapshot into the FSM (AppliedIndex) and replay
// the rest, giving back the same state.
func TestGroupRestart(t *testing.T) {
	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gs, err := replication.NewStore(db).Group("metadata")
	if err != nil {
		t.Fatal(err)
	}
	snaps := replication.NewMemSnapshots()
	net := replication.NewFaultNet(1)
	timing := replication.Timing{HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 2 * time.Millisecond,
		SnapshotInterval: time.Hour, SnapshotThreshold: 1 << 30, TrailingLogs: 2}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	start := func() (*FSM, *replication.Group) {
		t.Helper()
		f := NewFSM()
		tr := net.Transport("metadata", "n1")
		g, err := replication.StartGroup(replication.GroupConfig{ID: "metadata", NodeID: "n1", Store: gs,
			Snapshots: snaps, Transport: tr, StateMachine: f, Timing: timing, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Bootstrap([]replication.Peer{{ID: "n1", Addr: string(tr.LocalAddr())}}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "leader ready", g.Ready)
		return f, g
	}
	enc := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	propose := func(g *replication.Group, b []byte) any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := g.Propose(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	restart := func(g *replication.Group, want []byte) (*FSM, *replication.Group) {
		t.Helper()
		if err := g.Stop(); err != nil {
			t.Fatal(err)
		}
		f, g := start()
		waitUntil(t, 10*time.Second, "state replayed", func() bool { return bytes.Equal(encodeView(t, f.View(), 0), want) })
		return f, g
	}

	f, g := start()
	for _, id := range []string{"n1", "n2", "n3"} {
		propose(g, enc(EncodeRegisterNode(RegisterNode{ID: id, RaftAddr: id + ":1", ClientAddr: id + ":2", State: NodeActive})))
	}
	if s, ok := propose(g, enc(EncodeCreateStream(CreateStream{Name: "a", Partitions: 4}))).(*Stream); !ok || len(s.Partitions) != 4 {
		t.Fatalf("CreateStream answered %v", s)
	}
	if _, err := g.Propose(context.Background(), raw(stream("a", 1, 1))); err == nil {
		t.Fatal("a refused command must come back as Propose's error")
	}

	f, g = restart(g, encodeView(t, f.View(), 0)) // replays the whole log
	if b := propose(g, enc(EncodeAllocateProducerIDs(AllocateProducerIDs{Count: 10}))).(ProducerIDBlock); b.First != 0 {
		t.Fatalf("block %+v", b)
	}
	if err := g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	propose(g, enc(EncodeCreateStream(CreateStream{Name: "b", Partitions: 2, ReplicationFactor: 2})))
	if err := g.Snapshot(); err != nil { // compacts the log: TrailingLogs is 2
		t.Fatal(err)
	}
	if first, _ := gs.FirstIndex(); first <= 2 {
		t.Fatalf("log not compacted (first index %d): the restart would not need the snapshot", first)
	}
	propose(g, enc(EncodeAlterStream(AlterStream{Name: "a", RetentionMs: 1000})))

	f, g = restart(g, encodeView(t, f.View(), 0)) // restores the snapshot, replays the rest
	if b := propose(g, enc(EncodeAllocateProducerIDs(AllocateProducerIDs{Count: 1}))).(ProducerIDBlock); b.First != 10 {
		t.Fatalf("block after restart %+v, want first 10", b)
	}
	if f.View().Stream("a").RetentionMs != 1000 || f.View().Stream("b") == nil {
		t.Fatal("state lost across restart")
	}
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
}
