package client

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// GroupConsumer is a member of a consumer group: the group's coordinator
// assigns it partitions of the group's streams, and it reads them from the
// group's committed offsets. One goroutine keeps the membership (heartbeats,
// rejoins); Poll applies assignment changes on the caller's goroutine and
// reads through an internal Consumer.
//
// Methods are safe for concurrent use; Poll calls are serialized.
type GroupConsumer struct {
	c     *Client
	cfg   GroupConfig
	k     *Consumer
	leave bool // Close leaves the group

	stop      chan struct{} // closed by Close: ends the heartbeat loop
	kickCh    chan struct{} // cap 1: heartbeat now (the owned set changed, or a commit needs the generation)
	commitSem chan struct{} // cap 1: one commit at a time, so a partition's commits land in order
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// pollMu serializes Poll, and Close after Poll. pollErr, an error for
	// the next Poll to return, is protected by it.
	pollMu  sync.Mutex
	pollErr error

	mu struct {
		sync.Mutex
		closed     bool
		memberID   string // "" while not a member (lost, joining again)
		generation int32
		interval   time.Duration // between heartbeats; the long poll's wait
		// incarnation is bumped by every join and loss: what Poll planned
		// under an earlier one is void.
		incarnation uint64
		// target is what the coordinator last said the member may consume;
		// owned is what Poll started and has not released, each with the
		// epoch of its start. Poll moves owned to target. Heartbeats
		// report owned, adding and target as held (heldLocked).
		target    map[StreamPartition]struct{}
		owned     map[StreamPartition]uint64
		lastEpoch uint64
		// adding holds the partitions Poll is starting (not yet owned).
		adding map[StreamPartition]struct{}
		// delivered: owned partitions -> the offset after the last record
		// Poll returned. committed: owned partitions -> the offset last
		// committed (-1: none).
		delivered map[StreamPartition]int64
		committed map[StreamPartition]int64
		// lost: the membership was lost; Poll drops the owned partitions
		// without committing, then the loop joins again.
		lost bool
		// fatal (FENCED_INSTANCE) ends the membership for good; loopErr is
		// a heartbeat loop failure for Poll to report once.
		fatal, loopErr error
		// hbSent numbers the heartbeats sent; hbAnswered is the number of
		// the last one answered. hbCh is closed and replaced when one is
		// answered or the membership changes. urgent asks for a heartbeat
		// without a wait.
		hbSent, hbAnswered uint64
		hbCh               chan struct{}
		urgent             bool
		hbCancel           context.CancelFunc // ends the long poll in flight
		pollCancel         context.CancelFunc // ends the Poll in progress (Close)
		wake               context.CancelFunc // ends Poll's wait for records (a change)
		nextAutoCommit     time.Time
	}
}

// NewGroupConsumer joins a consumer group and returns the member. A
// GroupConfig that does not validate fails with ErrInvalidArgument before
// anything is sent. The join is retried through elections and unreachable
// nodes until ctx ends; the coordinator's refusals come back as they are
// (ErrUnknownStrategy, ErrInconsistentStrategy, ErrInvalidArgument, ...).
// Nothing is read until Poll. Close the GroupConsumer before the Client.
func (c *Client) NewGroupConsumer(ctx context.Context, cfg GroupConfig) (*GroupConsumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	k, err := c.NewConsumer(cfg.Consumer)
	if err != nil {
		return nil, err
	}
	g := &GroupConsumer{c: c, cfg: cfg, k: k, stop: make(chan struct{}),
		kickCh: make(chan struct{}, 1), commitSem: make(chan struct{}, 1)}
	g.leave = cfg.LeaveOnClose == LeaveAlways || cfg.LeaveOnClose == LeaveDefault && cfg.InstanceID == ""
	g.mu.target = map[StreamPartition]struct{}{}
	g.mu.owned = map[StreamPartition]uint64{}
	g.mu.adding = map[StreamPartition]struct{}{}
	g.mu.delivered = map[StreamPartition]int64{}
	g.mu.committed = map[StreamPartition]int64{}
	g.mu.hbCh = make(chan struct{})
	if err := g.join(ctx); err != nil {
		_ = k.Close()
		return nil, err
	}
	g.mu.nextAutoCommit = time.Now().Add(cfg.AutoCommitInterval)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.heartbeatLoop()
	}()
	return g, nil
}

// Poll returns records of the partitions the member owns, waiting until
// there are some or ctx ends. With nothing assigned it waits for an
// assignment (it does not fail). Records of a partition come in offset
// order; the slice is the caller's.
//
// First, on the caller's goroutine, it applies what the coordinator
// changed: a lost membership (stop the partitions, OnLost, no commit),
// revocations (with AutoCommit, commit their positions; OnRevoked; stop
// them; the next heartbeat reports them released), and additions (start
// each at the group's committed offset, or StartAt when there is none;
// OnAssigned). Then, with AutoCommit, when AutoCommitInterval has passed
// it commits the positions of the records earlier Polls returned: a
// record is committed only once the caller has come back for more, so
// each record is processed at least once. A change that arrives while
// Poll waits wakes it; records of a partition released meanwhile are
// dropped (the next owner reads them from the committed offset).
//
// Errors do not end the membership: the next Poll carries on. A commit
// or an assignment step that failed is tried again (a revocation whose
// commit failed for good is applied anyway: the next owner starts at the
// last committed offset). An automatic commit refused because the
// membership or the partition moved on (ErrUnknownMember,
// ErrStaleGeneration, ErrNotAssigned) is not reported: the heartbeat loop
// learns of it, and the next owner reads the records again. A fetch error
// stops its partition, as in Consumer.Poll, until it is assigned again;
// it may come with records of other partitions, which are delivered all
// the same (their positions count as returned). Poll fails with ErrClosed
// after Close, with ErrFencedInstance for good once another member took
// the InstanceID, and with ctx's error when ctx ends (within a request's
// round trip).
func (g *GroupConsumer) Poll(ctx context.Context) ([]Record, error) {
	g.pollMu.Lock()
	defer g.pollMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.mu.Lock()
	if g.mu.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	g.mu.pollCancel = cancel
	g.mu.Unlock()
	recs, err := g.poll(ctx)
	g.mu.Lock()
	g.mu.pollCancel = nil
	closed := g.mu.closed
	g.mu.Unlock()
	if closed && len(recs) == 0 {
		err = ErrClosed
	}
	return recs, err
}

func (g *GroupConsumer) poll(ctx context.Context) ([]Record, error) {
	if err := g.pollErr; err != nil {
		g.pollErr = nil
		return nil, err
	}
	for {
		if err := g.reconcile(ctx); err != nil {
			return nil, err
		}
		if err := g.failure(); err != nil {
			return nil, err
		}
		if err := g.maybeAutoCommit(ctx); err != nil {
			return nil, err
		}
		wctx, done, snap, ok := g.beginWait(ctx)
		if !ok {
			continue // a change arrived: apply it first
		}
		recs, err := g.k.poll(wctx, true)
		werr := wctx.Err()
		done()
		if len(recs) == 0 {
			switch {
			case err != werr: // a partition stopped
				return nil, err
			case ctx.Err() != nil:
				return nil, ctx.Err()
			}
			continue // woken by a change
		}
		if g.changePending() {
			// Release what was revoked before handing out records, so that
			// records of a released partition are dropped, not delivered.
			if rerr := g.reconcile(ctx); rerr != nil {
				g.pollErr = rerr
			}
		}
		recs, cerr := g.deliver(recs, snap)
		if cerr != nil {
			return nil, cerr
		}
		if len(recs) > 0 || err != nil {
			return recs, err
		}
	}
}

// failure returns the error that ends the membership, or the heartbeat
// loop's last failure (once).
func (g *GroupConsumer) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.fatal != nil {
		return g.mu.fatal
	}
	err := g.mu.loopErr
	g.mu.loopErr = nil
	return err
}

// beginWait returns a context for Poll's wait for records that a change
// of the assignment cancels, the function that ends the wait, and the
// owned partitions with their epochs. It is false when a change is already
// pending.
func (g *GroupConsumer) beginWait(ctx context.Context) (context.Context, func(), map[StreamPartition]uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changePendingLocked() || g.mu.fatal != nil || g.mu.loopErr != nil {
		return nil, nil, nil, false
	}
	wctx, cancel := context.WithCancel(ctx)
	g.mu.wake = cancel
	done := func() {
		g.mu.Lock()
		g.mu.wake = nil
		g.mu.Unlock()
		cancel()
	}
	return wctx, done, maps.Clone(g.mu.owned), true
}

// wakeLocked ends Poll's wait for records: a change is pending.
func (g *GroupConsumer) wakeLocked() {
	if g.mu.wake != nil {
		g.mu.wake()
		g.mu.wake = nil
	}
}

func (g *GroupConsumer) changePending() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changePendingLocked()
}

// changePendingLocked reports whether Poll has a change to apply.
func (g *GroupConsumer) changePendingLocked() bool {
	return g.mu.lost || !sameKeys(g.mu.target, g.mu.owned)
}

// deliver keeps the records of partitions owned since before the wait
// (same epoch: not released, and not released and started again) and
// moves their positions past them. After Close it drops them all: Close
// commits positions, so records no caller took must not count.
func (g *GroupConsumer) deliver(recs []Record, snap map[StreamPartition]uint64) ([]Record, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.closed {
		return nil, ErrClosed
	}
	out := recs[:0]
	for _, r := range recs {
		sp := StreamPartition{r.Stream, r.Partition}
		if e, ok := g.mu.owned[sp]; !ok || e != snap[sp] {
			continue
		}
		out = append(out, r)
		g.mu.delivered[sp] = r.Offset + 1
	}
	return out, nil
}

// Assignment returns the partitions the member owns (Poll started them
// and has not released them), in order.
func (g *GroupConsumer) Assignment() []StreamPartition {
	g.mu.Lock()
	defer g.mu.Unlock()
	return sortedKeys(g.mu.owned)
}

// MemberID returns the member id the coordinator gave; "" while the
// member is joining again after losing its membership.
func (g *GroupConsumer) MemberID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.memberID
}

// Generation returns the group generation the member last learned.
func (g *GroupConsumer) Generation() int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.generation
}

// Close ends the membership: it waits for a Poll in progress (which ends
// with ErrClosed), commits the positions of what Poll returned (with
// AutoCommit), calls OnRevoked (or OnLost) for the owned partitions,
// stops the heartbeat loop, leaves the group per LeaveOnClose, and stops
// the reads. Call it once the records of the last Poll are processed.
// Committing and leaving are bounded by the client's RequestTimeout; the
// error is the first of theirs. Idempotent.
func (g *GroupConsumer) Close() error {
	g.closeOnce.Do(func() { g.closeErr = g.close() })
	return g.closeErr
}

func (g *GroupConsumer) close() error {
	g.mu.Lock()
	g.mu.closed = true
	if g.mu.pollCancel != nil {
		g.mu.pollCancel()
	}
	g.mu.Unlock()
	g.pollMu.Lock() // the Poll in progress has returned, and none starts
	defer g.pollMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.c.cfg.RequestTimeout)
	defer cancel()

	var first error
	g.mu.Lock()
	lost, live := g.mu.lost, g.mu.memberID != "" && g.mu.fatal == nil
	parts := sortedKeys(g.mu.owned)
	g.mu.Unlock()
	if g.cfg.AutoCommit && live && !lost {
		if err := g.commitPositions(ctx, nil); err != nil {
			first = fmt.Errorf("group %q: commit on close: %w", g.cfg.Group, err)
		}
	}
	if len(parts) > 0 {
		g.callRevoked(ctx, parts, lost)
	}
	close(g.stop)
	g.wg.Wait() // the loop has exited: the membership no longer changes
	g.mu.Lock()
	memberID := g.mu.memberID
	live = memberID != "" && g.mu.fatal == nil
	g.mu.Unlock()
	if g.leave && live {
		if err := g.leaveGroup(ctx, memberID); err != nil && first == nil {
			first = err
		}
	}
	_ = g.k.Close()
	return first
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[StreamPartition]V) []StreamPartition {
	out := make([]StreamPartition, 0, len(m))
	for sp := range m {
		out = append(out, sp)
	}
	sortParts(out)
	return out
}

// sortParts orders partitions by stream, then number.
func sortParts(ps []StreamPartition) {
	slices.SortFunc(ps, func(a, b StreamPartition) int {
		if a.Stream != b.Stream {
			if a.Stream < b.Stream {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
}

// sameKeys reports whether a and b have the same keys.
func sameKeys[A, B any](a map[StreamPartition]A, b map[StreamPartition]B) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
