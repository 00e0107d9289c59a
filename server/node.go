package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// MetadataGroup is the raft group id of the cluster metadata. Partition
// group ids ("s<n>-p<n>") can never take it.
const MetadataGroup = "meta"

// Node is one Sluice node: its Pebble, its raft port (one TCP port for
// every group), a replica of the metadata group, and the partition
// replicas the metadata assigns to it.
//
// Goroutines: the mux's accept loop, four loops of the node's own, and
// short-lived workers they start: membership (on the metadata leader:
// register the bootstrap peers, finish adding and removing nodes),
// reconcile (open the partitions assigned to this node, remove those that
// left it; on a partition leader, a converge worker per partition changes
// the group's members to the replica set), and maintain (hand leadership
// to preferred leaders, enforce retention), and groups (run the
// consumer-group coordinator while the node leads the metadata group).
// Close stops them all.
type Node struct {
	cfg   Config
	fs    vfs.FS
	lock  *os.File // the flock on <DataDir>/LOCK; nil where flock is not available
	db    *pebble.DB
	store *replication.Store
	mux   *replication.Mux
	meta  *metadata.FSM
	metaG *replication.Group

	// records are this node's replica records (records.go), by partition
	// id. Owned by the reconcile goroutine (Start loads them before it
	// starts).
	records map[string]replicaRecord
	// metaDemoted is when this node, leading the metadata group, first
	// saw each removed node as a non-voter. Owned by the membership loop.
	metaDemoted map[string]time.Time
	// balanceRetry holds back the leadership transfers to a partition's
	// preferred leader that failed (loops.go, balance). Owned by the
	// maintain loop.
	balanceRetry map[string]transferRetry
	// groups is the consumer-group coordinator, active on the metadata
	// leader (groups.go); groupsReload asks the groups loop to reload it.
	groups       *consumergroup.Coordinator
	groupsReload atomic.Bool

	// diskFull is set while the data directory is below
	// Config.MinFreeBytes (disk.go); diskFree is the last free space
	// seen, -1 before the first look.
	diskFull atomic.Pointer[DiskFullError]
	diskFree atomic.Int64

	// failed is closed by fail (damage.go) with failErr.
	failed   chan struct{}
	failOnce sync.Once
	failErr  error

	stop chan struct{}
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		parts  map[string]*member // Protected by mu.
		closed bool
	}
}

// member is an open partition replica.
type member struct {
	id      string // the partition's raft group id
	replica *partition.Replica
	group   *replication.Group
	// busy is set while a converge worker runs for this replica, so that
	// one runs at a time.
	busy atomic.Bool
	// demoted is when this node, leading the group, first saw each member
	// that is not in the replica set as a non-voter (reassign.go). Used
	// by the converge worker only (one at a time, under busy).
	demoted map[string]time.Time
}

// pebbleLogger sends Pebble's messages to slog. Pebble calls Fatalf for
// errors it cannot go on from (a failed WAL write among them) and must not
// see it return, or it may report a write that failed as done: the node
// exits, as Pebble's default logger does (fail-stop).
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "fatal", true)
	os.Exit(70)
}

// Start opens the node's data directory and starts it. A node with no
// state and a Bootstrap list starts a new cluster with those peers; a node
// with state rejoins its cluster.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Logger = cfg.Logger.With("node", cfg.ID)
	n := &Node{cfg: cfg, fs: vfs.Default, meta: metadata.NewFSM(), stop: make(chan struct{}), metaDemoted: map[string]time.Time{},
		balanceRetry: map[string]transferRetry{}, failed: make(chan struct{})}
	n.diskFree.Store(-1)
	n.mu.parts = map[string]*member{}
	n.groups = consumergroup.NewCoordinator(consumergroup.CoordinatorConfig{Store: groupStore{n}, Logger: cfg.Logger})
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.lock = lock
	db, err := pebble.Open(filepath.Join(cfg.DataDir, "pebble"), pebbleOptions(cfg))
	if err != nil {
		n.unlock()
		return nil, fmt.Errorf("server: open pebble: %w", err)
	}
	n.db, n.store = db, replication.NewStore(db)
	if n.records, err = loadRecords(db); err != nil {
		_ = db.Close()
		n.unlock()
		return nil, err
	}
	ln := cfg.RaftListener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			_ = db.Close()
			n.unlock()
			return nil, fmt.Errorf("server: listen on %s: %w", cfg.RaftAddr, err)
		}
	}
	n.mux = replication.NewMux(ln, cfg.Logger)
	n.mux.DialVia(cfg.DialVia)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.mux.Serve()
	}()
	if n.metaG, err = n.startGroup(MetadataGroup, n.meta); err != nil {
		n.closeBase()
		return nil, err
	}
	if len(cfg.Bootstrap) > 0 {
		var peers []replication.Peer
		for _, p := range cfg.Bootstrap {
			peers = append(peers, replication.Peer{ID: p.ID, Addr: p.RaftAddr})
		}
		if err := n.metaG.Bootstrap(peers); err != nil {
			_ = n.metaG.Stop()
			n.closeBase()
			return nil, err
		}
	}
	if cfg.MinFreeBytes > 0 {
		n.checkDisk() // a node started on a full disk refuses produce from the start
	}
	for _, loop := range []func(){n.membershipLoop, n.reconcileLoop, n.maintainLoop, n.groupsLoop} {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			loop()
		}()
	}
	return n, nil
}

// RaftAddr returns the address of the node's raft port.
func (n *Node) RaftAddr() string { return n.mux.Addr().String() }

// Metadata returns the node's view of the cluster metadata.
func (n *Node) Metadata() *metadata.View { return n.meta.View() }

// MetadataLeader reports whether this node leads the metadata group.
func (n *Node) MetadataLeader() bool { return n.metaG.Ready() }

func (n *Node) startGroup(id string, sm replication.StateMachine) (*replication.Group, error) {
	gs, err := n.store.Group(id)
	if err != nil {
		return nil, err
	}
	// The store hard-links a partition's segments into its snapshots, so it
	// must be on the logs' file system; other state machines' snapshots
	// (the metadata group's) are kept as streams.
	snaps, err := partition.NewSnapshotStore(n.fs, snapshotDirOf(n.cfg.DataDir, id), 2)
	if err != nil {
		return nil, err
	}
	tr, err := n.mux.Transport(id, replication.TransportConfig{Logger: n.cfg.Logger, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	g, err := replication.StartGroup(replication.GroupConfig{
		ID: id, NodeID: n.cfg.ID, Store: gs, Snapshots: snaps, Transport: tr,
		StateMachine: sm, Timing: n.cfg.Timing, Logger: n.cfg.Logger,
	})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return g, nil
}

// propose sends a metadata command through this node, which must lead the
// metadata group (forwarding to the leader comes with the client API).
func (n *Node) propose(ctx context.Context, cmd []byte, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if !n.metaG.IsLeader() {
		l := n.metaG.Leader()
		return nil, &replication.NotLeaderError{LeaderID: l.ID, LeaderAddr: l.Addr}
	}
	return n.metaG.Propose(ctx, cmd)
}

// CreateStream creates a stream; its partitions' replicas open on their
// nodes as the metadata reaches them. It must run on the metadata leader.
func (n *Node) CreateStream(ctx context.Context, c metadata.CreateStream) (*metadata.Stream, error) {
	c.Timestamp = time.Now().UnixMilli()
	cmd, err := metadata.EncodeCreateStream(c)
	resp, err := n.propose(ctx, cmd, err)
	if err != nil {
		return nil, err
	}
	return streamResponse(resp)
}

// DeleteStream deletes a stream; every node removes its replicas and their
// files as the metadata reaches it. It must run on the metadata leader.
func (n *Node) DeleteStream(ctx context.Context, name string) error {
	cmd, err := metadata.EncodeDeleteStream(metadata.DeleteStream{Name: name})
	_, err = n.propose(ctx, cmd, err)
	return err
}

// streamResponse is the *metadata.Stream a stream command answers with.
func streamResponse(resp any) (*metadata.Stream, error) {
	s, ok := resp.(*metadata.Stream)
	if !ok || s == nil {
		return nil, fmt.Errorf("server: metadata answered %T, want a stream", resp)
	}
	return s, nil
}

// AlterStream changes a stream's retention or record size limit; open
// replicas take the new retention as the metadata reaches their nodes. It
// must run on the metadata leader.
func (n *Node) AlterStream(ctx context.Context, c metadata.AlterStream) (*metadata.Stream, error) {
	cmd, err := metadata.EncodeAlterStream(c)
	resp, err := n.propose(ctx, cmd, err)
	if err != nil {
		return nil, err
	}
	return streamResponse(resp)
}

// Partition returns this node's replica of partition id and its group, or
// nil when the node hosts none.
func (n *Node) Partition(id string) (*partition.Replica, *replication.Group) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.mu.parts[id]
	if m == nil {
		return nil, nil
	}
	return m.replica, m.group
}

// Close stops the node: its loops, every group, the raft port and Pebble.
// It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.metaG.Stop()
	n.mu.Lock()
	parts := n.mu.parts
	n.mu.parts = map[string]*member{}
	n.mu.Unlock()
	errs := make([]error, 0, 2*len(parts)+2)
	var emu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range parts {
		wg.Add(1)
		go func() { // in parallel: see reconcile
			defer wg.Done()
			err := errors.Join(m.group.Stop(), m.replica.Close())
			emu.Lock()
			errs = append(errs, err)
			emu.Unlock()
		}()
	}
	wg.Wait()
	errs = append(errs, n.mux.Close())
	n.wg.Wait()
	errs = append(errs, n.db.Close())
	n.unlock()
	return errors.Join(errs...)
}

// closeBase undoes Start's first steps.
func (n *Node) closeBase() {
	_ = n.mux.Close()
	n.wg.Wait()
	_ = n.db.Close()
	n.unlock()
}

// logDir is the directory of this node's replicas of partition id, one
// subdirectory per incarnation (see records.go).
func (n *Node) logDir(id string) string { return logDirOf(n.cfg.DataDir, id) }

// logDirOf is the directory of a node's replicas of partition id under
// dataDir, one subdirectory per incarnation.
func logDirOf(dataDir, id string) string { return filepath.Join(dataDir, "logs", id) }

// incarnationDirOf is the log directory of one incarnation of a replica.
func incarnationDirOf(dataDir, id string, incarnation uint64) string {
	return filepath.Join(logDirOf(dataDir, id), strconv.FormatUint(incarnation, 10))
}

// snapshotDirOf is the directory of the raft snapshots of group id.
func snapshotDirOf(dataDir, id string) string { return filepath.Join(dataDir, "snapshots", id) }

// retention is the stream's retention policy as the log takes it (zero:
// unlimited).
func retention(s *metadata.Stream) (bytes int64, age time.Duration) {
	if s.RetentionBytes > 0 {
		bytes = s.RetentionBytes
	}
	if s.RetentionMs > 0 {
		age = time.Duration(s.RetentionMs) * time.Millisecond
	}
	return bytes, age
}

// openPartition opens this node's replica of p and starts its group. The
// replica set CreateStream assigned (epoch 0) bootstraps the group; any
// other replica opens empty, or as it was, and waits for the group's
// leader to add it.
func (n *Node) openPartition(v *metadata.View, p *metadata.Partition) (*member, error) {
	s := v.Stream(p.Stream)
	if s == nil {
		return nil, fmt.Errorf("server: partition %s of unknown stream %s", p.ID, p.Stream)
	}
	rec, err := n.liveRecord(p.ID, v.Version())
	if err != nil {
		return nil, err
	}
	lc := log.Config{FS: n.fs, Dir: incarnationDirOf(n.cfg.DataDir, p.ID, rec.incarnation), SegmentBytes: n.cfg.SegmentBytes}
	lc.RetentionBytes, lc.RetentionAge = retention(s)
	r, err := partition.Open(partition.Config{
		ID: rec.stateID(p.ID), DB: n.db, Log: lc, CheckpointEvery: n.cfg.CheckpointEvery,
		MaxBatchBytes: int(s.MaxRecordBytes) + partition.DefaultMaxBatchBytes, Logger: n.cfg.Logger, Admit: n.Admit,
	})
	if err != nil {
		if isDamage(err) {
			err = &DamagedError{Partition: p.ID, DataDir: n.cfg.DataDir, Err: err}
		}
		return nil, err
	}
	g, err := n.startGroup(p.ID, r)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	r.Attach(g)
	if p.Epoch == 0 && slices.Contains(p.Replicas, n.cfg.ID) {
		var peers []replication.Peer
		for _, id := range p.Replicas {
			if node := v.Node(id); node != nil {
				peers = append(peers, replication.Peer{ID: id, Addr: node.RaftAddr})
			}
		}
		if err := g.Bootstrap(peers); err != nil {
			_ = g.Stop()
			_ = r.Close()
			return nil, err
		}
	}
	return &member{id: p.ID, replica: r, group: g}, nil
}

// liveRecord returns the record to open partition id under, writing it
// first when it changes: the same incarnation for a replica in use, the
// next one for a replica that was removed (finishing the removal first if
// a crash interrupted it), the first for a replica never seen.
func (n *Node) liveRecord(id string, version uint64) (replicaRecord, error) {
	rec, ok := n.records[id]
	switch {
	case ok && rec.state == replicaLive:
		return rec, nil
	case ok && rec.state == replicaRemoving:
		if err := n.deleteReplicaFiles(id); err != nil {
			return replicaRecord{}, err
		}
		fallthrough
	case ok:
		rec = replicaRecord{incarnation: rec.incarnation + 1}
	}
	rec.state, rec.version = replicaLive, version
	if err := storeRecord(n.db, id, rec, false); err != nil {
		return replicaRecord{}, err
	}
	n.records[id] = rec
	return rec, nil
}

// deleteReplicaFiles deletes everything this node keeps of its replica of
// partition id, every incarnation: raft log and stable state, log
// directories, snapshots. The replica must not be open.
func (n *Node) deleteReplicaFiles(id string) error {
	return errors.Join(n.store.DeleteGroup(id), os.RemoveAll(n.logDir(id)),
		os.RemoveAll(snapshotDirOf(n.cfg.DataDir, id)))
}
