package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/freeport"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// TCPConfig describes a TCPCluster: in-process nodes that keep their data
// on the real disk (fsync and all) and speak raft over loopback TCP, one
// replication.Mux per node. It is the harness for benchmarks and for
// timing-sensitive tests (failover); the in-memory Cluster is the one for
// fault scenarios.
type TCPConfig struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Dir is the root directory on the OS file system; node i lives in
	// Dir/n<i>. Required (a test's TempDir).
	Dir string
	// Timing is every group's raft timing; zero fields take
	// replication.DefaultTiming's values.
	Timing replication.Timing
	// Discard replaces the partition replica with DiscardStateMachine, so
	// that a group costs raft alone: the same stores, transport and fsyncs,
	// and an Apply that does nothing.
	Discard bool
	// SegmentBytes and CheckpointEvery tune every partition replica (zero:
	// the log and partition defaults, 1 GiB and 1024).
	SegmentBytes    int64
	CheckpointEvery int
	// PebbleLogger is every node's Pebble logger. Required: its Fatalf must
	// not return (Pebble reports a failed WAL write or fsync there and
	// carries on if it returns; see replication.Store).
	PebbleLogger pebble.Logger
	// LogDir, if set, holds the nodes' partition logs and snapshots (node i
	// under LogDir/n<i>) instead of Dir: on a tmpfs, it takes the cost of
	// the segment writes off the disk that the raft log fsyncs to, to tell
	// that cost apart from the rest.
	LogDir string
	// PebbleOptions, if set, adjusts a node's Pebble options before Open.
	PebbleOptions func(*pebble.Options)
	// Logger receives the replicas' and muxes' logs; nil discards them.
	Logger *slog.Logger
}

// TCPCluster is a set of TCPNodes hosting raft groups. Produce-side use of
// members (TCPNode.Member, Leader) is safe from any goroutine; starting,
// killing and restarting nodes and creating groups belong to one.
type TCPCluster struct {
	tb     testing.TB
	cfg    TCPConfig
	Nodes  []*TCPNode
	groups []string
}

// TCPNode is one node: a Pebble DB with the raft store, a mux on a fixed
// loopback address (chosen at first start and kept across restarts, since
// raft configurations name it), and one member per group.
type TCPNode struct {
	ID   string
	c    *TCPCluster
	dir  string
	addr string

	// Set by start, cleared by stop; used by the goroutine that owns the
	// cluster only.
	db     *pebble.DB
	store  *replication.Store
	mux    *replication.Mux
	served chan error

	mu      sync.RWMutex
	alive   bool                  // Protected by mu.
	members map[string]*TCPMember // Protected by mu.
}

// TCPMember is a node's replica of one group, as in the in-memory
// cluster. Replica is nil with TCPConfig.Discard.
type TCPMember = Member

// NewTCP starts cfg.Nodes empty nodes and registers Close as a cleanup.
func NewTCP(tb testing.TB, cfg TCPConfig) *TCPCluster {
	tb.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Dir == "" || cfg.PebbleLogger == nil {
		tb.Fatalf("clustertest: TCPConfig needs Dir and PebbleLogger")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &TCPCluster{tb: tb, cfg: cfg}
	tb.Cleanup(c.Close)
	// Ports below the ephemeral range (package freeport), so that no
	// outgoing connection holds a node's port when it restarts.
	ports, err := freeport.Reserve(cfg.Nodes)
	if err != nil {
		tb.Fatalf("clustertest: %v", err)
	}
	tb.Cleanup(func() { freeport.Release(ports...) })
	for i := range cfg.Nodes {
		id := fmt.Sprintf("n%d", i+1)
		n := &TCPNode{ID: id, c: c, dir: filepath.Join(cfg.Dir, id), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))}
		c.Nodes = append(c.Nodes, n)
		if err := n.start(); err != nil {
			tb.Fatalf("clustertest: start %s: %v", id, err)
		}
	}
	return c
}

// Addr is the node's raft address.
func (n *TCPNode) Addr() string { return n.addr }

// Alive reports whether the node runs.
func (n *TCPNode) Alive() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.alive
}

// Member returns the node's member of group id, or nil when the node is
// down or does not host it.
func (n *TCPNode) Member(id string) *TCPMember {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.alive {
		return nil
	}
	return n.members[id]
}

// start opens the node's Pebble, listens (on the node's address once it
// has one), and opens every group the cluster has.
func (n *TCPNode) start() (err error) {
	opts := &pebble.Options{Logger: n.c.cfg.PebbleLogger}
	if f := n.c.cfg.PebbleOptions; f != nil {
		f(opts)
	}
	db, err := pebble.Open(filepath.Join(n.dir, "db"), opts)
	if err != nil {
		return err
	}
	ln, err := listen(n.addr)
	if err != nil {
		return errors.Join(err, db.Close())
	}
	n.addr = ln.Addr().String()
	n.db, n.store = db, replication.NewStore(db)
	n.mux = replication.NewMux(ln, n.c.cfg.Logger)
	n.served = make(chan error, 1)
	go func(m *replication.Mux, served chan<- error) { served <- m.Serve() }(n.mux, n.served)

	n.mu.Lock()
	n.alive = true
	n.members = make(map[string]*TCPMember)
	n.mu.Unlock()
	for _, id := range n.c.groups {
		if _, err := n.openMember(id); err != nil {
			return errors.Join(err, n.stop())
		}
	}
	return nil
}

// listen listens on addr. A restarted node takes its old port back; the
// port may be briefly unavailable (where package freeport cannot keep
// ports out of the ephemeral range, another socket may hold it as an
// ephemeral port), so binding is retried for a few seconds.
func listen(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		waitTick()
	}
}

// openMember opens the node's replica of group id and starts its raft
// group.
func (n *TCPNode) openMember(id string) (*TCPMember, error) {
	dirName := url.PathEscape(id)
	logRoot := n.dir
	if n.c.cfg.LogDir != "" {
		logRoot = filepath.Join(n.c.cfg.LogDir, n.ID)
	}
	snaps, err := partition.NewSnapshotStore(vfs.Default, filepath.Join(logRoot, "snapshots", dirName), 2)
	if err != nil {
		return nil, err
	}
	gs, err := n.store.Group(id)
	if err != nil {
		return nil, err
	}
	m := &TCPMember{}
	var sm replication.StateMachine = DiscardStateMachine{}
	if !n.c.cfg.Discard {
		m.Replica, err = partition.Open(partition.Config{
			ID: id,
			DB: n.db,
			Log: log.Config{
				FS:           vfs.Default,
				Dir:          filepath.Join(logRoot, "logs", dirName),
				SegmentBytes: n.c.cfg.SegmentBytes,
			},
			CheckpointEvery: n.c.cfg.CheckpointEvery,
			Logger:          n.c.cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		sm = m.Replica
	}
	closeReplica := func() error {
		if m.Replica == nil {
			return nil
		}
		return m.Replica.Close()
	}
	trans, err := n.mux.Transport(id, replication.TransportConfig{Logger: n.c.cfg.Logger})
	if err != nil {
		return nil, errors.Join(err, closeReplica())
	}
	m.Group, err = replication.StartGroup(replication.GroupConfig{
		ID: id, NodeID: n.ID, Store: gs, Snapshots: snaps, Transport: trans,
		StateMachine: sm, Timing: n.c.cfg.Timing, Logger: n.c.cfg.Logger,
	})
	if err != nil {
		return nil, errors.Join(err, trans.Close(), closeReplica())
	}
	if m.Replica != nil {
		m.Replica.Attach(m.Group)
	}
	n.mu.Lock()
	n.members[id] = m
	n.mu.Unlock()
	return m, nil
}

// stop shuts the node down: first its mux, so that from this instant it
// neither sends nor answers anything (an abrupt death as its peers see
// it), then its groups, replicas and Pebble. It returns what failed to
// close; errors of raft's shutdown are expected after the mux closed and
// are not reported.
func (n *TCPNode) stop() error {
	n.mu.Lock()
	n.alive = false
	members := n.members
	n.members = nil
	n.mu.Unlock()

	errs := []error{n.mux.Close()}
	if err := <-n.served; !errors.Is(err, replication.ErrMuxClosed) {
		errs = append(errs, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.Group.Stop()
			if m.Replica != nil {
				if err := m.Replica.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("close replica %s: %w", id, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	errs = append(errs, n.db.Close())
	n.db, n.store, n.mux = nil, nil, nil
	return errors.Join(errs...)
}

// CreateGroups creates the groups ids, one member on every node, and
// bootstraps each with every node as a voter. It does not wait for
// leaders (see WaitLeaders).
func (c *TCPCluster) CreateGroups(ids ...string) {
	c.tb.Helper()
	var peers []replication.Peer
	for _, n := range c.Nodes {
		peers = append(peers, replication.Peer{ID: n.ID, Addr: n.addr})
	}
	for _, id := range ids {
		c.groups = append(c.groups, id)
		for _, n := range c.Nodes {
			if !n.Alive() {
				continue
			}
			m, err := n.openMember(id)
			if err != nil {
				c.tb.Fatalf("clustertest: %s: open group %s: %v", n.ID, id, err)
			}
			if err := m.Group.Bootstrap(peers); err != nil {
				c.tb.Fatalf("clustertest: %s: bootstrap %s: %v", n.ID, id, err)
			}
		}
	}
}

// Leader returns the ready leader of group id (replication.Group.Ready:
// it has applied every entry of earlier terms), waiting up to timeout.
func (c *TCPCluster) Leader(id string, timeout time.Duration) (*TCPNode, *TCPMember, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range c.Nodes {
			if m := n.Member(id); m != nil && m.Group.Ready() {
				return n, m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("clustertest: no ready leader for %s after %s", id, timeout)
		}
		waitTick()
	}
}

// WaitLeaders waits until every group in ids has a ready leader.
func (c *TCPCluster) WaitLeaders(ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, id := range ids {
		if _, _, err := c.Leader(id, time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// Kill stops node n abruptly: its mux closes first, so it stops talking at
// once, then its groups and Pebble shut down. Its disk stays as it is
// (everything raft acknowledged was fsynced).
func (c *TCPCluster) Kill(n *TCPNode) {
	c.tb.Helper()
	if !n.Alive() {
		return
	}
	if err := n.stop(); err != nil {
		c.tb.Errorf("clustertest: kill %s: %v", n.ID, err)
	}
}

// Restart starts a killed node again from its disk, on its old address.
func (c *TCPCluster) Restart(n *TCPNode) {
	c.tb.Helper()
	if n.Alive() {
		return
	}
	if err := n.start(); err != nil {
		c.tb.Fatalf("clustertest: restart %s: %v", n.ID, err)
	}
}

// Close stops every node. It is idempotent.
func (c *TCPCluster) Close() {
	for _, n := range c.Nodes {
		if n.Alive() {
			if err := n.stop(); err != nil {
				c.tb.Errorf("clustertest: stop %s: %v", n.ID, err)
			}
		}
	}
}

// DiscardStateMachine is a replication.StateMachine that keeps nothing:
// Apply answers a small result (a partition.ProduceResult, as a replica
// does) and does no other work. A group driving it costs raft alone.
type DiscardStateMachine struct{}

var _ replication.StateMachine = DiscardStateMachine{}

// Apply implements replication.StateMachine.
func (DiscardStateMachine) Apply(e replication.Entry) any {
	return partition.ProduceResult{BaseOffset: int64(e.Index), LastOffset: int64(e.Index)}
}

// Snapshot implements replication.StateMachine; the snapshot is empty.
func (DiscardStateMachine) Snapshot() (replication.Snapshot, error) { return discardSnapshot{}, nil }

// Restore implements replication.StateMachine.
func (DiscardStateMachine) Restore(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

type discardSnapshot struct{}

func (discardSnapshot) Persist(io.Writer) error { return nil }
func (discardSnapshot) Release()                {}

// ProduceSized returns a command as long as the one partition.Replica's
// Produce proposes for batch b (its header, the leader clock and b), for
// proposing straight to a group that drives a DiscardStateMachine.
func ProduceSized(b []byte) []byte {
	const produceHeader = 2 + 8 // see partition/command.go
	cmd := make([]byte, produceHeader+len(b))
	copy(cmd[produceHeader:], b)
	return cmd
}

// retriable reports a produce error after which the client should try
// another node (or the same one later).
func retriable(err error) bool {
	return errors.Is(err, replication.ErrNotLeader) || errors.Is(err, replication.ErrOutcomeUnknown) ||
		errors.Is(err, replication.ErrStopped) || errors.Is(err, replication.ErrTimeout) ||
		errors.Is(err, partition.ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}
