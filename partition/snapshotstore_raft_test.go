package partition

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sluicedb/sluice/replication"
)

// raftMember is one node's replica of a partition in a real raft group,
// with a SnapshotStore.
type raftMember struct {
	id    string
	e     *storeEnv
	r     *Replica
	store *SnapshotStore
	g     *replication.Group
}

func startRaftMember(t *testing.T, net *replication.FaultNet, id string) *raftMember {
	t.Helper()
	m := &raftMember{id: id, e: newStoreEnv(t, "mem")}
	m.r = m.e.open(t, "p0")
	m.store = m.e.store(t, 2)
	gs, err := replication.NewStore(m.e.db).Group("p0")
	if err != nil {
		t.Fatal(err)
	}
	m.g, err = replication.StartGroup(replication.GroupConfig{
		ID: "p0", NodeID: id, Store: gs, Snapshots: m.store, Transport: net.Transport("p0", id),
		StateMachine: m.r, Logger: discard(),
		Timing: replication.Timing{
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 2 * time.Millisecond,
			SnapshotInterval: time.Hour, SnapshotThreshold: 1 << 30, TrailingLogs: 2,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.r.Attach(m.g)
	// Cleanups run last-in first-out: the group stops before the replica
	// closes and before Pebble (registered by newStoreEnv) closes.
	t.Cleanup(func() {
		_ = m.g.Stop()
		_ = m.r.Close()
	})
	return m
}

func (m *raftMember) addr() string { return m.id + "/p0" }

// eventually polls cond until it holds or timeout passes; the condition is
// driven by raft's goroutines.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, timeout)
		case <-tick.C:
		}
	}
}

// TestSnapshotStoreThroughRaft runs the store under hashicorp/raft: the
// leader's snapshot is taken as links after retention deleted segments,
// its raft log is compacted, and a new member can catch up only through
// InstallSnapshot, which streams what the leader's store Open makes and
// stores it on the follower as received. The follower then holds the
// leader's bytes.
func TestSnapshotStoreThroughRaft(t *testing.T) {
	net := replication.NewFaultNet(1)
	n1 := startRaftMember(t, net, "n1")
	if err := n1.g.Bootstrap([]replication.Peer{{ID: "n1", Addr: n1.addr()}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n1 leads", n1.g.Ready)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seq := int32(0)
	produce := func(n int) {
		for range n {
			if _, err := n1.r.Produce(ctx, idempotent(t, 6, 0, seq, 3)); err != nil {
				t.Fatal(err)
			}
			seq += 3
		}
	}
	produce(100)
	segs := n1.r.log().Segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	if _, err := n1.g.Propose(ctx, encodeAdvanceLogStart(segs[2].BaseOffset)); err != nil {
		t.Fatal(err)
	}
	if err := n1.g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	list, err := n1.store.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("leader's snapshots: %v, %v", list, err)
	}
	if id, _ := parseSnapshotID(list[0].ID); !exists(t, n1.e.fs, n1.store.path(id, manifestName)) {
		t.Fatal("the leader's snapshot is not kept as links")
	}
	produce(10)

	n2 := startRaftMember(t, net, "n2")
	if err := n1.g.AddVoter(ctx, replication.Peer{ID: "n2", Addr: n2.addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n2 catches up", func() bool {
		return n2.r.HighWatermark() == n1.r.HighWatermark()
	})
	list, err = n2.store.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("follower's snapshots: %v, %v", list, err)
	}
	if id, _ := parseSnapshotID(list[0].ID); !exists(t, n2.e.fs, n2.store.path(id, streamName)) {
		t.Fatal("the follower's snapshot is not kept as received")
	}
	if n2.r.LogStartOffset() != n1.r.LogStartOffset() {
		t.Fatalf("follower's log starts at %d, leader's at %d", n2.r.LogStartOffset(), n1.r.LogStartOffset())
	}
	for off := n1.r.LogStartOffset(); off < n1.r.HighWatermark(); {
		want, err := n1.r.Fetch(ctx, nil, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n2.r.Fetch(ctx, nil, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("offset %d: follower's bytes differ", off)
		}
		off = lastOffsetOf(t, want) + 1
	}
}
