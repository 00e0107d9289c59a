package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// errKicked ends a heartbeat long poll that a kick cut short.
var errKicked = errors.New("sluice: heartbeat cut short")

// heartbeatLoop is the goroutine that keeps the membership until Close:
// it heartbeats (a long poll that the coordinator answers early when the
// member's assignment changes), hands answers to Poll, and joins again
// once Poll has dropped the partitions of a lost membership.
func (g *GroupConsumer) heartbeatLoop() {
	ctx := chanCtx(g.stop)
	lastOK := time.Now() // the last answer from the coordinator
	attempt := 0         // failures in a row
	for ctx.Err() == nil {
		g.mu.Lock()
		fatal, lost, joined := g.mu.fatal, g.mu.lost, g.mu.memberID != ""
		g.mu.Unlock()
		switch {
		case fatal != nil:
			return
		case lost:
			// Poll drops the partitions first (OnLost), then kicks: no
			// new assignment mixes with the lost one.
			g.waitKick(ctx, 0)
			continue
		case !joined:
			if err := g.join(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				g.setLoopErr(err)
				attempt++
				_ = sleepCtx(ctx, g.c.backoff(attempt))
				continue
			}
			lastOK, attempt = time.Now(), 0
			continue
		}
		err := g.beat(ctx)
		switch {
		case err == nil:
			lastOK, attempt = time.Now(), 0
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, errKicked):
			continue
		}
		switch codeOf(err) {
		case CodeFencedInstance:
			// Another member took the instance id. Joining again would
			// fence it in turn, and the two would take the partitions from
			// each other for ever: the membership ends here (as in Kafka).
			g.lose(fmt.Errorf("group %q: %w", g.cfg.Group, err), true)
			return
		case CodeUnknownMember, CodeUnknownGroup, CodeStaleGeneration:
			g.lose(err, false)
			continue
		}
		if !retriableGroup(err) {
			g.setLoopErr(fmt.Errorf("group %q: heartbeat: %w", g.cfg.Group, err))
		}
		if time.Since(lastOK) >= g.cfg.SessionTimeout {
			// The coordinator has removed the member by now; stop reading
			// partitions that another member may have, and join again.
			g.lose(err, false)
			continue
		}
		attempt++
		g.mu.Lock()
		wait := min(g.c.backoff(attempt), g.mu.interval)
		g.mu.Unlock()
		_ = sleepCtx(ctx, wait)
	}
}

// beat sends one heartbeat and hands the answer to Poll. While Poll
// holds partitions the coordinator took back (it has yet to release them)
// it first waits for Poll (which kicks), up to a heartbeat interval, and
// then asks for no wait (the coordinator would answer at once anyway);
// otherwise it long-polls for a heartbeat interval, and a kick cuts that
// short (errKicked) so that a changed owned set is reported at once.
func (g *GroupConsumer) beat(ctx context.Context) error {
	g.mu.Lock()
	releasing := g.releasingLocked() && !g.mu.urgent
	interval := g.mu.interval
	g.mu.Unlock()
	if releasing {
		g.waitKick(ctx, interval)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	g.mu.Lock()
	maxWait := min(g.mu.interval, g.cfg.SessionTimeout/3)
	if g.mu.urgent || g.releasingLocked() {
		maxWait = 0
	}
	g.mu.urgent = false
	g.mu.hbSent++
	seq := g.mu.hbSent
	req := &sluicev1.GroupHeartbeatRequest{Group: g.cfg.Group, MemberId: g.mu.memberID,
		Generation: g.mu.generation, Owned: toWireParts(g.heldLocked()),
		MaxWaitMs: int32(maxWait.Milliseconds())}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if maxWait > 0 {
		g.mu.hbCancel = cancel
	}
	g.mu.Unlock()

	// Each attempt is bounded well within the session timeout, so that a
	// node that does not answer leaves time to try another.
	timeout := maxWait + min(g.c.cfg.RequestTimeout, g.cfg.SessionTimeout/3)
	var resp *sluicev1.GroupHeartbeatResponse
	err := g.c.anyNodeWithin(hctx, timeout, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.GroupHeartbeat(ctx, req)
		return err
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.hbCancel = nil
	if err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			return errKicked
		}
		return err
	}
	g.mu.generation = resp.GetGeneration()
	if ms := resp.GetHeartbeatIntervalMs(); ms > 0 {
		g.mu.interval = time.Duration(ms) * time.Millisecond
	}
	g.mu.target = partSet(resp.GetAssigned())
	if g.changePendingLocked() {
		g.wakeLocked()
	}
	g.mu.hbAnswered = seq
	g.signalLocked()
	return nil
}

// heldLocked is what heartbeats report owning: what Poll started and has
// not released, what it is starting, and what the coordinator last said
// the member may consume (Poll may start it any time). Reporting the last
// closes a race: a heartbeat sent before Poll started a partition, and
// answered after the coordinator took the partition back, would
// otherwise tell the coordinator that the partition is free while Poll
// starts it; as it is, a partition is reported free only by a heartbeat
// sent after the member learned it lost it and Poll stopped it.
func (g *GroupConsumer) heldLocked() []StreamPartition {
	held := make(map[StreamPartition]struct{}, len(g.mu.owned)+len(g.mu.target))
	for sp := range g.mu.owned {
		held[sp] = struct{}{}
	}
	for sp := range g.mu.adding {
		held[sp] = struct{}{}
	}
	for sp := range g.mu.target {
		held[sp] = struct{}{}
	}
	return sortedKeys(held)
}

// releasingLocked reports whether Poll holds (or is starting) partitions
// the coordinator took back.
func (g *GroupConsumer) releasingLocked() bool {
	for sp := range g.mu.owned {
		if _, ok := g.mu.target[sp]; !ok {
			return true
		}
	}
	for sp := range g.mu.adding {
		if _, ok := g.mu.target[sp]; !ok {
			return true
		}
	}
	return false
}

// join joins the group (again, after a loss: with no member id, and the
// same instance id), retrying until ctx ends, and hands the assignment to
// Poll.
func (g *GroupConsumer) join(ctx context.Context) error {
	req := &sluicev1.JoinGroupRequest{Group: g.cfg.Group, InstanceId: g.cfg.InstanceID,
		Streams: g.cfg.Streams, Strategy: g.cfg.Strategy,
		SessionTimeoutMs:   int32(g.cfg.SessionTimeout.Milliseconds()),
		RebalanceTimeoutMs: int32(g.cfg.RebalanceTimeout.Milliseconds())}
	var resp *sluicev1.JoinGroupResponse
	err := g.c.groupCall(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.JoinGroup(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("group %q: join: %w", g.cfg.Group, err)
	}
	if resp.GetMemberId() == "" {
		return &Error{Code: CodeInternal, Msg: fmt.Sprintf("group %q: JoinGroup answered no member id", g.cfg.Group)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.memberID = resp.GetMemberId()
	g.mu.generation = resp.GetGeneration()
	g.mu.interval = g.cfg.SessionTimeout / 3
	if ms := resp.GetHeartbeatIntervalMs(); ms > 0 {
		g.mu.interval = time.Duration(ms) * time.Millisecond
	}
	g.mu.target = partSet(resp.GetAssigned())
	g.mu.incarnation++
	g.mu.loopErr = nil
	g.wakeLocked()
	g.signalLocked()
	return nil
}

// lose ends the membership: the owned partitions are lost (Poll drops
// them without committing) and, unless fatal, the loop joins again once
// Poll has. fatal is the error Poll and commits then fail with.
func (g *GroupConsumer) lose(cause error, fatal bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.memberID = ""
	g.mu.target = map[StreamPartition]struct{}{}
	g.mu.incarnation++
	if fatal {
		g.mu.fatal = cause
	}
	g.mu.lost = len(g.mu.owned) > 0
	g.wakeLocked()
	g.signalLocked()
}

// leaveGroup removes the member from the group. A member the
// coordinator no longer knows has left already.
func (g *GroupConsumer) leaveGroup(ctx context.Context, memberID string) error {
	err := g.c.groupCall(ctx, func(ctx context.Context, api sluicev1.SluiceClient) error {
		_, err := api.LeaveGroup(ctx, &sluicev1.LeaveGroupRequest{Group: g.cfg.Group, MemberId: memberID})
		return err
	})
	if c := codeOf(err); c == CodeUnknownMember || c == CodeUnknownGroup {
		return nil
	}
	if err != nil {
		return fmt.Errorf("group %q: leave: %w", g.cfg.Group, err)
	}
	return nil
}

// kick has the loop heartbeat now, cutting its long poll short.
func (g *GroupConsumer) kick() {
	select {
	case g.kickCh <- struct{}{}:
	default:
	}
	g.mu.Lock()
	if g.mu.hbCancel != nil {
		g.mu.hbCancel()
	}
	g.mu.Unlock()
}

// waitKick waits for a kick, d (0: no limit), or ctx.
func (g *GroupConsumer) waitKick(ctx context.Context, d time.Duration) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-g.kickCh:
	case <-timeout:
	case <-ctx.Done():
	}
}

// setLoopErr records a failure of the loop for Poll to report.
func (g *GroupConsumer) setLoopErr(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mu.loopErr = err
	g.wakeLocked()
}

// signalLocked wakes the waiters for a heartbeat answer or a membership
// change.
func (g *GroupConsumer) signalLocked() {
	close(g.mu.hbCh)
	g.mu.hbCh = make(chan struct{})
}
