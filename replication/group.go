package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// FatalError is returned by a StateMachine's Apply for an entry it cannot
// apply and must not skip. The group stops and every later proposal fails
// with ErrFailed.
type FatalError struct{ Err error }

// Fatal wraps err as a *FatalError.
func Fatal(err error) *FatalError { return &FatalError{Err: err} }

func (e *FatalError) Error() string        { return "replication: fatal apply error: " + e.Err.Error() }
func (e *FatalError) Unwrap() error        { return e.Err }
func (e *FatalError) Is(target error) bool { return target == ErrFailed }

// Entry is one committed raft log entry handed to a StateMachine.
type Entry struct {
	Index uint64 // raft log index
	Term  uint64 // raft term: the epoch of the leader that proposed it
	Data  []byte // the proposed command; read-only: raft may still hold and send it
}

// StateMachine is what a group replicates. Apply is called from a single
// goroutine, in index order, once per committed command. It must be
// deterministic: the same entries give the same state on every replica.
// Apply returns the proposal's response (handed to Propose on the leader);
// a *FatalError stops the replica.
type StateMachine interface {
	Apply(e Entry) any
	// Snapshot captures the state for a snapshot quickly; Persist runs
	// later, concurrently with Apply.
	Snapshot() (Snapshot, error)
	// Restore replaces the state with a snapshot's.
	Restore(r io.Reader) error
}

// Snapshot is a captured state machine state.
type Snapshot interface {
	// Persist writes the snapshot to w.
	Persist(w io.Writer) error
	// Release frees what the snapshot holds.
	Release()
}

// Timing holds the raft timers. Zero fields take DefaultTiming's values.
type Timing struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	MaxAppendEntries   int
}

// DefaultTiming is tuned for a LAN and for hundreds of groups per node. A
// lost leader is replaced within about two heartbeat timeouts (measured: a
// median under 2 s). Idle groups cost RPCs: a leader heartbeats each
// follower every HeartbeatTimeout/10 to /5, and sends an empty append every
// CommitTimeout to 2x (that is how followers learn the commit index when
// nothing new arrives; new entries are sent at once). The longer timers
// bring 300 idle groups on 3 nodes from about 1.4 cores to under half a
// core (internal/clustertest TestIdleCPU).
func DefaultTiming() Timing {
	return Timing{
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      500 * time.Millisecond,
		SnapshotInterval:   2 * time.Minute,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		MaxAppendEntries:   256,
	}
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&t.HeartbeatTimeout, d.HeartbeatTimeout)
	set(&t.ElectionTimeout, d.ElectionTimeout)
	set(&t.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	set(&t.CommitTimeout, d.CommitTimeout)
	set(&t.SnapshotInterval, d.SnapshotInterval)
	if t.SnapshotThreshold == 0 {
		t.SnapshotThreshold = d.SnapshotThreshold
	}
	if t.TrailingLogs == 0 {
		t.TrailingLogs = d.TrailingLogs
	}
	if t.MaxAppendEntries == 0 {
		t.MaxAppendEntries = d.MaxAppendEntries
	}
	return t
}

// LogStableStore is a raft log and stable store, such as *GroupStore.
type LogStableStore interface {
	raft.LogStore
	raft.StableStore
}

// GroupConfig describes one raft group replica.
type GroupConfig struct {
	ID           string // the group, e.g. a partition
	NodeID       string // this replica's node
	Store        LogStableStore
	Snapshots    SnapshotStore
	Transport    Transport
	StateMachine StateMachine
	Timing       Timing
	Logger       *slog.Logger
}

// Peer is a member of a group.
type Peer struct {
	ID   string
	Addr string
}

// Group is one replica of one raft group.
//
// Goroutines: raft's own, plus one that follows leadership (to run the
// Barrier that makes a new leader ready) and one per in-flight Propose that
// waits on its future. Stop ends them all.
type Group struct {
	cfg    GroupConfig
	raft   *raft.Raft
	fsm    *fsmAdapter
	notify chan bool

	ready    atomic.Bool // leader, and a Barrier in this term has applied everything before it
	stopOnce sync.Once
	stopped  chan struct{}

	// goMu orders starting a goroutine (wg.Add) before Stop's wg.Wait: an
	// Add racing a Wait that has begun is a misuse of WaitGroup, and the
	// goroutine it counts could outlive Stop.
	goMu     sync.Mutex
	stopping bool // Protected by goMu.
	wg       sync.WaitGroup
}

// StartGroup starts a replica. A group with no state on this node waits to
// be bootstrapped (Bootstrap) or added to an existing group by its leader.
func StartGroup(cfg GroupConfig) (*Group, error) {
	if cfg.ID == "" || cfg.NodeID == "" || cfg.Store == nil || cfg.Snapshots == nil || cfg.Transport == nil || cfg.StateMachine == nil {
		return nil, fmt.Errorf("replication: group config needs ID, NodeID, Store, Snapshots, Transport and StateMachine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("group", cfg.ID, "node", cfg.NodeID)
	t := cfg.Timing.withDefaults()
	g := &Group{cfg: cfg, notify: make(chan bool, 8), stopped: make(chan struct{})}
	g.fsm = &fsmAdapter{sm: cfg.StateMachine, onFatal: g.fail}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = t.HeartbeatTimeout
	rc.ElectionTimeout = t.ElectionTimeout
	rc.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	rc.CommitTimeout = t.CommitTimeout
	rc.SnapshotInterval = t.SnapshotInterval
	rc.SnapshotThreshold = t.SnapshotThreshold
	rc.TrailingLogs = t.TrailingLogs
	rc.MaxAppendEntries = t.MaxAppendEntries
	// BatchApplyCh stays off: with a buffered apply channel, proposals
	// still queued in it when raft shuts down are never answered (raft does
	// not drain it), and their callers would wait forever. Unbuffered, a
	// proposal is either refused at once or owned by the leader loop, which
	// answers it; the leader loop still groups every proposal waiting to be
	// handed over into one append (up to MaxAppendEntries).
	rc.BatchApplyCh = false
	// The state machine keeps its own applied index and replays from it;
	// raft need not restore a snapshot on start.
	rc.NoSnapshotRestoreOnStart = true
	rc.NotifyCh = g.notify
	rc.Logger = hclog.NewNullLogger()
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("replication: group %s: %w", cfg.ID, err)
	}
	if err := catchUpFromSnapshot(cfg.StateMachine, cfg.Snapshots); err != nil {
		return nil, fmt.Errorf("replication: group %s: %w", cfg.ID, err)
	}
	// Raft reads back nearly every entry it stores (to replicate it, to
	// apply it on a follower): serve the recent ones from memory.
	r, err := raft.NewRaft(rc, g.fsm, newLogCache(cfg.Store), cfg.Store, cfg.Snapshots, cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("replication: start group %s: %w", cfg.ID, err)
	}
	g.raft = r
	g.wg.Add(1)
	go g.followLeadership()
	return g, nil
}

// Bootstrap makes peers the first configuration of a new group. It is a
// no-op on a replica that already has state.
func (g *Group) Bootstrap(peers []Peer) error {
	has, err := raft.HasExistingState(g.cfg.Store, g.cfg.Store, g.cfg.Snapshots)
	if err != nil {
		return fmt.Errorf("replication: group %s: %w", g.cfg.ID, err)
	}
	if has {
		return nil
	}
	var c raft.Configuration
	for _, p := range peers {
		c.Servers = append(c.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
	}
	if err := g.raft.BootstrapCluster(c).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("replication: bootstrap group %s: %w", g.cfg.ID, err)
	}
	return nil
}

// followLeadership makes a new leader ready once a Barrier has applied
// every entry of earlier terms, so that state read on the leader is
// current.
func (g *Group) followLeadership() {
	defer g.wg.Done()
	for {
		select {
		case <-g.stopped:
			return
		case leader := <-g.notify:
			g.ready.Store(false)
			if !leader {
				continue
			}
			f := g.raft.Barrier(g.cfg.Timing.withDefaults().ElectionTimeout * 4)
			bindShutdown(f, g.stopped)
			if err := f.Error(); err != nil {
				g.cfg.Logger.Warn("replication: barrier after winning leadership failed", "err", err)
				continue
			}
			g.ready.Store(g.raft.State() == raft.Leader)
		}
	}
}

// Propose replicates cmd and returns the state machine's response once the
// entry is committed and applied on this replica (the leader). The
// context's deadline bounds queueing; its end while the entry is in flight
// returns ErrOutcomeUnknown.
//
// Errors: *NotLeaderError (nothing written), ErrTimeout (nothing written),
// ErrOutcomeUnknown, ErrFailed, ErrStopped, or the error the state machine
// returned as its response.
func (g *Group) Propose(ctx context.Context, cmd []byte) (any, error) {
	if err := g.fsm.failure(); err != nil {
		return nil, err
	}
	select {
	case <-g.stopped:
		return nil, ErrStopped
	default:
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
		}
	}
	f := g.raft.Apply(cmd, timeout)
	bindShutdown(f, g.stopped)
	done := make(chan error, 1)
	if !g.spawn(func() { done <- f.Error() }) {
		// Stop began after raft took the command: it may still commit.
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrStopped)
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, g.mapError(err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// mapError turns raft's errors into ours.
func (g *Group) mapError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		addr, id := g.raft.LeaderWithID()
		return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrAbortedByRestore):
		if ferr := g.fsm.failure(); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return err
}

// Barrier waits until every entry committed before it has been applied on
// this replica, which must be the leader.
func (g *Group) Barrier(ctx context.Context) error {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := g.raft.Barrier(timeout)
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return g.mapError(err)
	}
	return nil
}

// IsLeader reports whether this replica leads the group.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// Ready reports whether this replica is the leader and has applied every
// entry of earlier terms.
func (g *Group) Ready() bool { return g.ready.Load() && g.IsLeader() }

// Leader returns the current leader, or an empty Peer when none is known.
func (g *Group) Leader() Peer {
	addr, id := g.raft.LeaderWithID()
	return Peer{ID: string(id), Addr: string(addr)}
}

// Term returns the current raft term (the leader epoch).
func (g *Group) Term() uint64 {
	t, _ := strconv.ParseUint(g.raft.Stats()["term"], 10, 64)
	return t
}

// AppliedIndex returns the index of the last entry applied on this replica.
func (g *Group) AppliedIndex() uint64 { return g.raft.AppliedIndex() }

// Members returns the group's configuration.
func (g *Group) Members() ([]Peer, error) {
	f := g.raft.GetConfiguration()
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return nil, g.mapError(err)
	}
	var out []Peer
	for _, s := range f.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), Addr: string(s.Address)})
	}
	return out, nil
}

// AddVoter adds a voting member; the leader sends it a snapshot and the log.
func (g *Group) AddVoter(ctx context.Context, p Peer) error {
	return g.indexFuture(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.Addr), 0, timeout)
	})
}

// RemoveMember removes a member from the group.
func (g *Group) RemoveMember(ctx context.Context, id string) error {
	return g.indexFuture(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}

func (g *Group) indexFuture(ctx context.Context, start func(time.Duration) raft.IndexFuture) error {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := start(timeout)
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return g.mapError(err)
	}
	return nil
}

// TransferLeadership asks raft to hand leadership to to, or to any
// up-to-date follower when to is empty.
func (g *Group) TransferLeadership(to Peer) error {
	var f raft.Future
	if to.ID == "" {
		f = g.raft.LeadershipTransfer()
	} else {
		f = g.raft.LeadershipTransferToServer(raft.ServerID(to.ID), raft.ServerAddress(to.Addr))
	}
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return g.mapError(err)
	}
	return nil
}

// Snapshot asks raft to take a snapshot now (tests and operators).
func (g *Group) Snapshot() error {
	f := g.raft.Snapshot()
	bindShutdown(f, g.stopped)
	if err := f.Error(); err != nil {
		return g.mapError(err)
	}
	return nil
}

// Err returns the error that failed the replica, or nil.
func (g *Group) Err() error { return g.fsm.failure() }

// fail is called by the FSM adapter, on raft's apply goroutine, when the
// state machine reports a fatal error. raft cannot be shut down from its
// own apply goroutine, so it is done from another.
func (g *Group) fail(err error) {
	g.cfg.Logger.Error("replication: replica failed; stopping it", "err", err)
	// Refused once Stop has begun: Stop shuts raft down itself.
	g.spawn(func() { _ = g.raft.Shutdown().Error() })
}

// spawn runs fn on a goroutine that Stop waits for, unless Stop has begun;
// it reports whether fn was started.
func (g *Group) spawn(fn func()) bool {
	g.goMu.Lock()
	defer g.goMu.Unlock()
	if g.stopping {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// Stop shuts the replica down and waits for its goroutines. It is
// idempotent.
func (g *Group) Stop() error {
	var err error
	g.stopOnce.Do(func() {
		err = g.raft.Shutdown().Error()
		g.goMu.Lock()
		g.stopping = true
		g.goMu.Unlock()
		close(g.stopped)
		g.wg.Wait()
	})
	return err
}
