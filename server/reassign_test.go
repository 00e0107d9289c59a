package server

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// TestAddNodeAndReassign: a fourth node joins a running cluster, takes
// over one replica of a partition with data (catching up through a raft
// snapshot of the partition), serves the same bytes, and the replica it
// replaced is deleted; then the partition moves back, and the node it
// left starts a fresh replica.
func TestAddNodeAndReassign(t *testing.T) {
	c := startCluster(t, 3, snapshotTiming)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 50*time.Second)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "orders", Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	prods := make([]*producer, len(s.Partitions))
	for i, p := range s.Partitions {
		prods[i] = &producer{c: c, id: p.ID, pid: int64(i + 1)}
		prods[i].produce(20)
	}

	i4 := c.add()
	n4, err := c.addNode(ctx, c.peers[i4])
	if err != nil {
		t.Fatal(err)
	}
	if n4.State != metadata.NodeActive || n4.ID != "n4" {
		t.Fatalf("AddNode = %+v", n4)
	}
	if got := c.metaMembers(); !slices.Equal(got, []string{"n1", "n2", "n3", "n4"}) {
		t.Fatalf("metadata group %v", got)
	}
	v := c.leader().Metadata().Version()
	if again, err := c.addNode(ctx, c.peers[i4]); err != nil || again.State != metadata.NodeActive {
		t.Fatalf("AddNode again = %+v, %v", again, err)
	}
	if c.leader().Metadata().Version() != v {
		t.Fatal("adding a node twice changed the metadata")
	}
	waitFor(t, 10*time.Second, "n4 to catch up with the metadata", func() bool {
		return c.nodes[i4].Metadata().Stream("orders") != nil
	})

	// Move partition 0 off its preferred leader onto n4, which becomes the
	// preferred leader. Its raft log is compacted first: n4 can only start
	// from a snapshot.
	p := s.Partitions[0]
	old := p.Replicas[0]
	moved := []string{"n4", p.Replicas[1], p.Replicas[2]}
	prods[0].produce(5)
	c.compact(p.ID)
	prods[0].produce(5) // after the snapshots: the log that follows them
	got, err := c.reassign(ctx, p.ID, moved)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 1 || !slices.Equal(got.Replicas, moved) {
		t.Fatalf("ReassignPartition = %+v", got)
	}
	start := time.Now()
	c.waitPlaced(p.ID, moved, 300, 30*time.Second)
	t.Logf("%s moved from %s to n4 in %s", p.ID, old, time.Since(start))
	gs, err := c.nodes[i4].store.Group(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := gs.FirstIndex()
	t.Logf("n4's raft log of %s starts at index %d (%s)", p.ID, first,
		map[bool]string{true: "seeded by a snapshot", false: "replayed from the start"}[first > 1])
	if first <= 1 {
		t.Fatal("n4 did not catch up through a snapshot")
	}
	// More data reaches the new set alike, and leadership settles on the
	// preferred leader, n4.
	prods[0].produce(10)
	c.waitPlaced(p.ID, moved, 400, 20*time.Second)
	waitFor(t, 20*time.Second, "n4 to lead "+p.ID, func() bool {
		n, _ := c.leaderOf(p.ID)
		return n != nil && n.cfg.ID == "n4"
	})
	// The other partitions did not move.
	for _, q := range s.Partitions[1:] {
		c.waitPlaced(q.ID, q.Replicas, 200, 10*time.Second)
	}

	// Back to the old node: its replica starts afresh (a new incarnation)
	// and catches up.
	back := []string{old, p.Replicas[1], p.Replicas[2]}
	if _, err := c.reassign(ctx, p.ID, back); err != nil {
		t.Fatal(err)
	}
	c.waitPlaced(p.ID, back, 400, 30*time.Second)
	prods[0].produce(3)
	c.waitPlaced(p.ID, back, 430, 20*time.Second)
}

// TestRemoveNode removes a node that holds replicas: they move to the
// other nodes with their data, the node leaves the metadata group and
// deletes its replicas, and a second RemoveNode changes nothing.
func TestRemoveNode(t *testing.T) {
	c := startCluster(t, 3)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 50*time.Second)
	i4 := c.add()
	if _, err := c.addNode(ctx, c.peers[i4]); err != nil {
		t.Fatal(err)
	}
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "events", Partitions: 4, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	prods := make([]*producer, len(s.Partitions))
	for i, p := range s.Partitions {
		prods[i] = &producer{c: c, id: p.ID, pid: int64(i + 1)}
		prods[i].produce(10)
	}
	// A node that holds replicas and does not lead the metadata group.
	victim := ""
	for _, n := range c.nodes {
		if !n.MetadataLeader() && len(c.leader().Metadata().PartitionsOnNode(n.cfg.ID)) > 0 {
			victim = n.cfg.ID
			break
		}
	}
	on := c.leader().Metadata().PartitionsOnNode(victim)
	t.Logf("removing %s, which holds %d replicas", victim, len(on))

	if err := c.removeNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	v := c.leader().Metadata()
	if n := v.Node(victim); n.State != metadata.NodeRemoved || len(v.PartitionsOnNode(victim)) != 0 {
		t.Fatalf("%s: %+v, %d partitions", victim, n, len(v.PartitionsOnNode(victim)))
	}
	waitFor(t, 20*time.Second, victim+" to leave the metadata group", func() bool {
		return !slices.Contains(c.metaMembers(), victim)
	})
	for _, p := range v.Stream("events").Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("%s: %v", p.ID, p.Replicas)
		}
		c.waitPlaced(p.ID, p.Replicas, 100, 30*time.Second)
	}
	if err := c.removeNode(ctx, victim); err != nil {
		t.Fatalf("RemoveNode again = %v", err)
	}
	if c.leader().Metadata().Version() != v.Version() {
		t.Fatal("removing a node twice changed the metadata")
	}
	for i, p := range s.Partitions {
		prods[i].produce(2)
		c.waitPlaced(p.ID, v.Partition(p.ID).Replicas, 120, 20*time.Second)
	}
	// A stream created now leaves the removed node out.
	s2, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "later", Partitions: 2, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s2.Partitions {
		if slices.Contains(p.Replicas, victim) {
			t.Fatalf("%s placed on the removed node: %v", p.ID, p.Replicas)
		}
	}
}

// TestRemoveMetadataLeader: the metadata leader removes itself. It moves
// its replicas, hands the metadata leadership over, and the new leader
// takes it out of the metadata group.
func TestRemoveMetadataLeader(t *testing.T) {
	c := startCluster(t, 3)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 50*time.Second)
	i4 := c.add()
	if _, err := c.addNode(ctx, c.peers[i4]); err != nil {
		t.Fatal(err)
	}
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "m", Partitions: 2, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range s.Partitions {
		(&producer{c: c, id: p.ID, pid: int64(i + 1)}).produce(5)
	}
	old := c.leader()
	if err := old.RemoveNode(ctx, old.cfg.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, old.cfg.ID+" to leave the metadata group", func() bool {
		l := c.metaLeader()
		return l != nil && l != old && !slices.Contains(c.metaMembers(), old.cfg.ID)
	})
	v := c.leader().Metadata()
	if n := v.Node(old.cfg.ID); n.State != metadata.NodeRemoved || len(v.PartitionsOnNode(old.cfg.ID)) != 0 {
		t.Fatalf("%+v still holds %d partitions", n, len(v.PartitionsOnNode(old.cfg.ID)))
	}
	for _, p := range v.Stream("m").Partitions {
		c.waitPlaced(p.ID, p.Replicas, 50, 30*time.Second)
	}
}

// TestReassignBadRequests: refused requests return typed errors and
// change nothing.
func TestReassignBadRequests(t *testing.T) {
	c := startCluster(t, 3)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 30*time.Second)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "s", Partitions: 2, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	l := c.leader()
	// A registered node that is no longer active. (A joining node would
	// not stay so: the leader's membership loop finishes joins within
	// 200 ms, which changes the metadata under the test. The metadata
	// package's tests refuse a joining node too.)
	if _, err := l.register(ctx, Peer{ID: "j", RaftAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:2"}, metadata.NodeJoining); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveNode(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	c.waitStable()
	before := l.Metadata()
	p := s.Partitions[0]
	for _, tt := range []struct {
		name     string
		id       string
		replicas []string
		err      error
	}{
		{"unknown partition", "s1-p7", []string{"n1"}, metadata.ErrPartitionNotFound},
		{"unknown stream", "s9-p0", []string{"n1"}, metadata.ErrPartitionNotFound},
		{"not a partition id", "orders-0", []string{"n1"}, metadata.ErrInvalidArgument},
		{"unknown node", p.ID, []string{"n1", "n9"}, metadata.ErrNodeNotFound},
		{"removed node", p.ID, []string{"n1", "j"}, metadata.ErrNodeNotActive},
		{"duplicate node", p.ID, []string{"n1", "n2", "n1"}, metadata.ErrInvalidArgument},
		{"empty set", p.ID, nil, metadata.ErrInvalidArgument},
		{"too many", p.ID, []string{"a", "b", "c", "d", "e", "f", "g", "h"}, metadata.ErrInvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.ReassignPartition(ctx, tt.id, tt.replicas)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ReassignPartition = %v, want %v", err, tt.err)
			}
		})
	}
	var nl *replication.NotLeaderError
	f := c.follower()
	if _, err := f.ReassignPartition(ctx, p.ID, []string{"n1"}); !errors.As(err, &nl) || nl.LeaderID != l.cfg.ID || nl.LeaderAddr != l.RaftAddr() {
		t.Fatalf("ReassignPartition on a follower = %v, want a NotLeaderError naming %s", err, l.cfg.ID)
	}
	if _, err := f.AddNode(ctx, Peer{ID: "x", RaftAddr: "127.0.0.1:3", ClientAddr: "127.0.0.1:4"}); !errors.As(err, &nl) {
		t.Fatalf("AddNode on a follower = %v", err)
	}
	if err := f.RemoveNode(ctx, "n1"); !errors.As(err, &nl) {
		t.Fatalf("RemoveNode on a follower = %v", err)
	}
	if err := l.RemoveNode(ctx, "n9"); !errors.Is(err, metadata.ErrNodeNotFound) {
		t.Fatalf("RemoveNode(unknown) = %v", err)
	}
	if _, err := l.AddNode(ctx, Peer{ID: "bad id", RaftAddr: "127.0.0.1:3", ClientAddr: "127.0.0.1:4"}); !errors.Is(err, metadata.ErrInvalidArgument) {
		t.Fatalf("AddNode(bad id) = %v", err)
	}
	if _, err := l.AddNode(ctx, Peer{ID: "x", RaftAddr: c.peers[1].RaftAddr, ClientAddr: "127.0.0.1:4"}); !errors.Is(err, metadata.ErrInvalidArgument) {
		t.Fatalf("AddNode(address in use) = %v", err)
	}
	after := l.Metadata()
	if after.Version() != before.Version() || !slices.Equal(after.Partition(p.ID).Replicas, p.Replicas) || after.Partition(p.ID).Epoch != 0 {
		t.Fatalf("refused requests changed the metadata: version %d -> %d", before.Version(), after.Version())
	}
	if slices.Contains(c.metaMembers(), "x") {
		t.Fatal("a refused AddNode changed the metadata group")
	}
	// A request for the current set is a no-op that succeeds.
	if got, err := l.ReassignPartition(ctx, p.ID, p.Replicas); err != nil || got.Epoch != 0 {
		t.Fatalf("ReassignPartition(current set) = %+v, %v", got, err)
	}
}

// TestReassignRestart restarts, in the middle of a reassignment, the
// joining node, a node that stays in the set, and the node that leaves it:
// the move converges.
func TestReassignRestart(t *testing.T) {
	c := startCluster(t, 3, snapshotTiming)
	c.waitActive("n1", "n2", "n3")
	ctx := ctxFor(t, 50*time.Second)
	s, err := c.leader().CreateStream(ctx, metadata.CreateStream{Name: "r", Partitions: 1, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Partitions[0]
	prod := &producer{c: c, id: p.ID, pid: 1}
	prod.produce(30)
	i4 := c.add()
	if _, err := c.addNode(ctx, c.peers[i4]); err != nil {
		t.Fatal(err)
	}
	c.compact(p.ID)
	prod.produce(2)
	moved := []string{"n4", p.Replicas[1], p.Replicas[2]}
	if _, err := c.reassign(ctx, p.ID, moved); err != nil {
		t.Fatal(err)
	}
	c.restart(i4)
	c.restart(slices.Index(c.peers, c.peerOf(p.Replicas[1])))
	c.restart(slices.Index(c.peers, c.peerOf(p.Replicas[0])))
	prod.produce(5)
	c.waitPlaced(p.ID, moved, 370, 40*time.Second)
}

func (c *cluster) peerOf(id string) Peer {
	for _, p := range c.peers {
		if p.ID == id {
			return p
		}
	}
	c.t.Fatalf("no peer %s", id)
	return Peer{}
}

// compact takes a raft snapshot of every replica of partition id, which
// (TrailingLogs being small) drops the raft log before it: whichever
// replica leads, a new replica can only start from a snapshot.
func (c *cluster) compact(id string) {
	c.t.Helper()
	for _, n := range c.nodes {
		if _, g := n.Partition(id); g != nil {
			// A leader refuses while it hands leadership over (the balance
			// loop may be moving it): retry then.
			waitFor(c.t, 10*time.Second, "a snapshot of "+id+" on "+n.cfg.ID, func() bool {
				err := g.Snapshot()
				if err != nil && !errors.Is(err, replication.ErrNotLeader) {
					c.t.Fatalf("%s: snapshot of %s: %v", n.cfg.ID, id, err)
				}
				return err == nil
			})
		}
	}
}
