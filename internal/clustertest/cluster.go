// Package clustertest runs in-process clusters of Sluice replicas for
// tests: N nodes, each with a crashable in-memory file system, its own
// Pebble and raft store, joined by replication.FaultNet, hosting
// replicated partitions. It can crash a node (keeping only what was
// synced, or a random share of the rest), restart it, partition the
// network, and check that replicas agree.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// Config describes a cluster.
type Config struct {
	Nodes  int
	Seed   uint64
	Timing replication.Timing
	// SegmentBytes and CheckpointEvery tune every partition replica.
	SegmentBytes    int64
	CheckpointEvery int
	Logger          *slog.Logger
}

// FastTiming is raft timing for tests: elections in tens of milliseconds.
func FastTiming() replication.Timing {
	return replication.Timing{
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      2 * time.Millisecond,
		SnapshotInterval:   time.Hour,
		SnapshotThreshold:  1 << 30,
		TrailingLogs:       64,
	}
}

// Cluster is a set of in-process nodes. Its methods are not safe for
// concurrent use except Produce and Fetch.
type Cluster struct {
	tb    testing.TB
	cfg   Config
	Net   *replication.FaultNet
	rng   *rand.Rand
	Nodes []*Node
	parts []string
}

// Node is one member of the cluster.
type Node struct {
	ID    string
	c     *Cluster
	fs    *vfs.MemFS
	db    *pebble.DB
	store *replication.Store
	// hosts names the partitions the node has a replica of (a real node
	// learns them from the metadata group); it outlives a crash.
	hosts map[string]bool

	mu       sync.RWMutex
	alive    bool
	replicas map[string]*Member // Protected by mu.
}

// Member is one replica of one partition on one node.
type Member struct {
	Replica *partition.Replica
	Group   *replication.Group
}

// New starts cfg.Nodes empty nodes.
func New(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Timing == (replication.Timing{}) {
		cfg.Timing = FastTiming()
	}
	c := &Cluster{tb: tb, cfg: cfg, Net: replication.NewFaultNet(cfg.Seed), rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
	for i := 0; i < cfg.Nodes; i++ {
		c.AddNode()
	}
	tb.Cleanup(c.Close)
	return c
}

// AddNode starts a new empty node and returns it.
func (c *Cluster) AddNode() *Node {
	n := &Node{ID: fmt.Sprintf("n%d", len(c.Nodes)+1), c: c, fs: vfs.NewCrashableMem(),
		hosts: map[string]bool{}, replicas: map[string]*Member{}}
	c.Nodes = append(c.Nodes, n)
	if err := n.start(); err != nil {
		c.tb.Fatalf("start %s: %v", n.ID, err)
	}
	return n
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(string, ...any) {}

// start opens the node's Pebble and every partition replica it has on
// disk.
func (n *Node) start() error {
	if err := n.fs.MkdirAll("db", 0o755); err != nil {
		return err
	}
	db, err := pebble.Open("db", &pebble.Options{FS: n.fs, Logger: quietPebble{}})
	if err != nil {
		return err
	}
	n.db, n.store = db, replication.NewStore(db)
	n.mu.Lock()
	n.alive = true
	n.mu.Unlock()
	for id := range n.hosts {
		// Open it whatever the crash left on disk.
		if _, err := n.openReplica(id); err != nil {
			return err
		}
	}
	return nil
}

func logDir(id string) string { return "logs/" + id }

// openReplica opens the replica of partition id and starts its group.
func (n *Node) openReplica(id string) (*Member, error) {
	r, err := partition.Open(partition.Config{
		ID:              id,
		DB:              n.db,
		Log:             log.Config{FS: n.fs, Dir: logDir(id), SegmentBytes: n.c.cfg.SegmentBytes, IndexInterval: 512},
		CheckpointEvery: n.c.cfg.CheckpointEvery,
		Logger:          n.c.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	gs, err := n.store.Group(id)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	// The snapshot store lives on the node's crashable file system, beside
	// the log, so that its snapshots hard-link the segments.
	snaps, err := partition.NewSnapshotStore(n.fs, "snapshots/"+id, 2)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	n.hosts[id] = true
	g, err := replication.StartGroup(replication.GroupConfig{
		ID: id, NodeID: n.ID, Store: gs, Snapshots: snaps,
		Transport:    n.c.Net.Transport(id, n.ID),
		StateMachine: r, Timing: n.c.cfg.Timing, Logger: n.c.cfg.Logger,
	})
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	r.Attach(g)
	m := &Member{Replica: r, Group: g}
	n.mu.Lock()
	n.replicas[id] = m
	n.mu.Unlock()
	return m, nil
}

// Addr is the raft address of node n for partition id.
func (n *Node) Addr(id string) string { return n.ID + "/" + id }

// Alive reports whether the node runs.
func (n *Node) Alive() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.alive
}

// Member returns the node's replica of id, or nil.
func (n *Node) Member(id string) *Member {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.alive {
		return nil
	}
	return n.replicas[id]
}

// CreatePartition creates partition id replicated on every node and
// bootstraps its group.
func (c *Cluster) CreatePartition(id string) {
	c.tb.Helper()
	c.parts = append(c.parts, id)
	var peers []replication.Peer
	for _, n := range c.Nodes {
		peers = append(peers, replication.Peer{ID: n.ID, Addr: n.Addr(id)})
	}
	for _, n := range c.Nodes {
		m, err := n.openReplica(id)
		if err != nil {
			c.tb.Fatalf("%s: open %s: %v", n.ID, id, err)
		}
		if err := m.Group.Bootstrap(peers); err != nil {
			c.tb.Fatalf("%s: bootstrap %s: %v", n.ID, id, err)
		}
	}
}

// Crash stops node n abruptly: its file system keeps only what was synced
// plus, with unsyncedPct > 0, a random share of what was not (a torn tail).
// Nothing it had in memory survives.
func (c *Cluster) Crash(n *Node, unsyncedPct int) {
	c.tb.Helper()
	if !n.Alive() {
		return
	}
	cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsyncedPct}
	if unsyncedPct > 0 {
		cfg.RNG = rand.New(rand.NewPCG(c.rng.Uint64(), 1))
	}
	// Cut the node off first: after the crash image is taken it must not
	// acknowledge anything to its peers (an acknowledged append that the
	// image lacks would be a lie a real crash never tells).
	for _, id := range c.parts {
		c.Net.Remove(id, n.ID)
	}
	clone := n.fs.CrashClone(cfg)
	n.stop()
	n.fs = clone
}

// Stop shuts node n down cleanly.
func (c *Cluster) Stop(n *Node) {
	if n.Alive() {
		n.stop()
	}
}

func (n *Node) stop() {
	n.mu.Lock()
	n.alive = false
	reps := n.replicas
	n.replicas = map[string]*Member{}
	n.mu.Unlock()
	for id, m := range reps {
		_ = m.Group.Stop()
		_ = m.Replica.Close()
		n.c.Net.Remove(id, n.ID)
	}
	_ = n.db.Close()
}

// Restart starts a stopped or crashed node from its file system.
func (c *Cluster) Restart(n *Node) {
	c.tb.Helper()
	if n.Alive() {
		return
	}
	if err := n.start(); err != nil {
		c.tb.Fatalf("restart %s: %v", n.ID, err)
	}
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		c.Stop(n)
	}
}

// Leader returns the ready leader of id, waiting up to timeout.
func (c *Cluster) Leader(id string, timeout time.Duration) (*Node, *Member, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range c.Nodes {
			if m := n.Member(id); m != nil && m.Group.Ready() {
				return n, m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("clustertest: no leader for %s after %s", id, timeout)
		}
		waitTick()
	}
}

// waitTick paces polling loops that wait for a condition with a deadline.
func waitTick() { <-time.After(5 * time.Millisecond) }

// Produce sends b to the leader of id, following leader changes until ctx
// ends. It returns the first result or a non-retriable error; transient
// errors (no leader, not leader) are retried, and ErrOutcomeUnknown is
// returned to the caller, who retries with the same batch.
func (c *Cluster) Produce(ctx context.Context, id string, b []byte) (partition.ProduceResult, error) {
	for {
		var m *Member
		for _, n := range c.Nodes {
			if mm := n.Member(id); mm != nil && mm.Group.IsLeader() {
				m = mm
				break
			}
		}
		if m != nil {
			res, err := m.Replica.Produce(ctx, b)
			if err == nil || !isRetriable(err) {
				return res, err
			}
		}
		select {
		case <-ctx.Done():
			return partition.ProduceResult{}, fmt.Errorf("%w: %w", replication.ErrOutcomeUnknown, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func isRetriable(err error) bool {
	return errors.Is(err, replication.ErrNotLeader) || errors.Is(err, replication.ErrTimeout) ||
		errors.Is(err, replication.ErrStopped) || errors.Is(err, partition.ErrClosed)
}

// Converge waits until every live replica of id has applied the same
// index as the leader after a final barrier, and returns the live members.
func (c *Cluster) Converge(id string, timeout time.Duration) ([]*Member, error) {
	deadline := time.Now().Add(timeout)
	for {
		if _, m, err := c.Leader(id, time.Until(deadline)); err == nil {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			err = m.Group.Barrier(ctx)
			cancel()
			if err == nil {
				want := m.Replica.HighWatermark()
				var members []*Member
				ok := true
				for _, n := range c.Nodes {
					if mm := n.Member(id); mm != nil {
						members = append(members, mm)
						ok = ok && mm.Replica.HighWatermark() == want
					}
				}
				if ok {
					return members, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("clustertest: %s did not converge in %s", id, timeout)
		}
		waitTick()
	}
}

// ReadAll returns every committed batch of a replica, from its log start.
func ReadAll(r *partition.Replica) ([]byte, error) {
	var out []byte
	off := r.LogStartOffset()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	for off < r.HighWatermark() {
		n := len(out)
		var err error
		out, err = r.Fetch(ctx, out, off, 1<<20)
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("clustertest: no data at %d below %d", off, r.HighWatermark())
		}
		off = lastOffset(out[n:]) + 1
	}
	return out, nil
}

// Sorted returns the ids of the live nodes, for stable messages.
func (c *Cluster) Sorted() []string {
	var ids []string
	for _, n := range c.Nodes {
		if n.Alive() {
			ids = append(ids, n.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// AddReplica opens a replica of id on node n (which must not have one) and
// has the leader add it to the group as a voter; raft then catches it up,
// with a snapshot if its log was compacted.
func (c *Cluster) AddReplica(n *Node, id string, timeout time.Duration) error {
	if _, err := n.openReplica(id); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		_, m, err := c.Leader(id, time.Until(deadline))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err = m.Group.AddVoter(ctx, replication.Peer{ID: n.ID, Addr: n.Addr(id)})
		cancel()
		if err == nil || !isRetriable(err) || time.Now().After(deadline) {
			return err
		}
	}
}

// FirstRaftIndex returns the first index in node n's raft log of id: above
// 1 once the log was compacted or the replica was seeded by a snapshot.
func (n *Node) FirstRaftIndex(id string) (uint64, error) {
	gs, err := n.store.Group(id)
	if err != nil {
		return 0, err
	}
	return gs.FirstIndex()
}

// TransferTo moves the leadership of id to node n.
func (c *Cluster) TransferTo(id string, n *Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if m := n.Member(id); m != nil && m.Group.Ready() {
			return nil
		}
		if _, m, err := c.Leader(id, time.Until(deadline)); err == nil {
			_ = m.Group.TransferLeadership(replication.Peer{ID: n.ID, Addr: n.Addr(id)})
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clustertest: %s did not take the lead of %s", n.ID, id)
		}
		waitTick()
	}
}
