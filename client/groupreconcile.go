package client

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// reconcile moves the owned partitions to the coordinator's target, on
// Poll's goroutine: first a lost membership, then revocations, then
// additions. Only this goroutine (and Close, after Poll) changes owned,
// so the sets it computes stay valid while it works without the lock;
// what the heartbeat loop changes meanwhile (the target, a loss) is taken
// up by the next round. It returns nil once owned matches the target, or
// the first error; what was applied stays applied and the rest is tried
// by the next Poll.
func (g *GroupConsumer) reconcile(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.mu.lost {
			parts := sortedKeys(g.mu.owned)
			g.mu.Unlock()
			g.applyLoss(ctx, parts)
			continue
		}
		var revoke, add []StreamPartition
		for sp := range g.mu.owned {
			if _, ok := g.mu.target[sp]; !ok {
				revoke = append(revoke, sp)
			}
		}
		for sp := range g.mu.target {
			if _, ok := g.mu.owned[sp]; !ok {
				add = append(add, sp)
			}
		}
		if len(revoke) == 0 {
			// Reported held from now until add is done, so that a partition
			// the coordinator takes back meanwhile is not released before
			// Poll has stopped it.
			for _, sp := range add {
				g.mu.adding[sp] = struct{}{}
			}
		}
		inc := g.mu.incarnation
		g.mu.Unlock()
		sortParts(revoke)
		sortParts(add)
		switch {
		case len(revoke) > 0:
			if err := g.revoke(ctx, revoke); err != nil {
				return err
			}
		case len(add) > 0:
			if err := g.add(ctx, add, inc); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// applyLoss drops the owned partitions of a lost membership: their reads
// stop and nothing is committed (another member may own them already);
// then the heartbeat loop joins again.
func (g *GroupConsumer) applyLoss(ctx context.Context, parts []StreamPartition) {
	g.unassign(parts)
	if len(parts) > 0 {
		g.callRevoked(ctx, parts, true)
	}
	g.mu.Lock()
	g.forgetLocked(parts)
	g.mu.lost = false
	g.mu.Unlock()
	g.kick()
}

// revoke releases partitions the coordinator took away: commit their
// positions (AutoCommit), OnRevoked, stop reading, and only then report
// them released. When ctx ends during the commit nothing is released (the
// next Poll tries again); a commit that failed otherwise does not hold the
// release up (the next owner starts at the last committed offset, so
// records are read again, not skipped), and its error is returned.
func (g *GroupConsumer) revoke(ctx context.Context, parts []StreamPartition) error {
	var cerr error
	if g.cfg.AutoCommit {
		if err := g.commitPositions(ctx, parts); err != nil {
			if ctx.Err() != nil {
				return err
			}
			if !membershipMoved(err) {
				cerr = fmt.Errorf("group %q: commit before release: %w", g.cfg.Group, err)
			}
		}
	}
	g.callRevoked(ctx, parts, false)
	g.unassign(parts)
	g.mu.Lock()
	g.forgetLocked(parts)
	g.mu.Unlock()
	g.kick() // report the release now: the next owner waits for it
	return cerr
}

// add starts newly assigned partitions at the group's committed offsets
// (StartAt where there is none). If the membership changed meanwhile
// (incarnation inc is over) the plan is void and nothing is started. The
// caller marked parts as adding; add clears that once they are owned or
// given up.
func (g *GroupConsumer) add(ctx context.Context, parts []StreamPartition, inc uint64) error {
	defer func() {
		g.mu.Lock()
		dropped := false // a partition reported held that is neither owned nor assigned now
		for _, sp := range parts {
			delete(g.mu.adding, sp)
			_, owned := g.mu.owned[sp]
			_, assigned := g.mu.target[sp]
			dropped = dropped || !owned && !assigned
		}
		g.mu.Unlock()
		if dropped {
			g.kick() // report it free
		}
	}()
	offsets, err := g.fetchCommitted(ctx, parts)
	if err != nil {
		return err
	}
	var started []StreamPartition
	var first error
	for _, sp := range parts {
		at := g.cfg.StartAt
		if off := offsets[sp]; off >= 0 {
			at = Offset(off)
		}
		if err := g.k.Assign(ctx, sp.Stream, []int32{sp.Partition}, at); err != nil {
			if first == nil {
				first = fmt.Errorf("group %q: start stream %q partition %d: %w", g.cfg.Group, sp.Stream, sp.Partition, err)
			}
			continue
		}
		started = append(started, sp)
	}
	g.mu.Lock()
	if g.mu.incarnation != inc || g.mu.lost {
		g.mu.Unlock()
		g.unassign(started)
		return nil
	}
	for _, sp := range started {
		g.mu.lastEpoch++
		g.mu.owned[sp] = g.mu.lastEpoch
		g.mu.committed[sp] = offsets[sp]
		delete(g.mu.delivered, sp)
	}
	g.mu.Unlock()
	// No heartbeat is due: the partitions were reported held already.
	if len(started) > 0 && g.cfg.OnAssigned != nil {
		g.cfg.OnAssigned(ctx, started)
	}
	return first
}

// forgetLocked removes released partitions from the member's state.
func (g *GroupConsumer) forgetLocked(parts []StreamPartition) {
	for _, sp := range parts {
		delete(g.mu.owned, sp)
		delete(g.mu.delivered, sp)
		delete(g.mu.committed, sp)
	}
}

// callRevoked calls OnLost (lost) or OnRevoked.
func (g *GroupConsumer) callRevoked(ctx context.Context, parts []StreamPartition, lost bool) {
	switch {
	case lost && g.cfg.OnLost != nil:
		g.cfg.OnLost(ctx, parts)
	case g.cfg.OnRevoked != nil:
		g.cfg.OnRevoked(ctx, parts)
	}
}

// unassign stops reading parts.
func (g *GroupConsumer) unassign(parts []StreamPartition) {
	for _, sp := range parts {
		g.k.Unassign(sp.Stream, []int32{sp.Partition})
	}
}

// fetchCommitted returns the group's committed offset of each partition
// (-1: none), retrying what the cluster cannot answer yet until ctx ends.
func (g *GroupConsumer) fetchCommitted(ctx context.Context, parts []StreamPartition) (map[StreamPartition]int64, error) {
	out := make(map[StreamPartition]int64, len(parts))
	left := parts
	for attempt := 1; ; attempt++ {
		req := &sluicev1.FetchOffsetsRequest{Group: g.cfg.Group, Partitions: toWireParts(left)}
		var resp *sluicev1.FetchOffsetsResponse
		err := g.c.groupCall(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
			resp, err = api.FetchOffsets(ctx, req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("group %q: fetch committed offsets: %w", g.cfg.Group, err)
		}
		got := make(map[StreamPartition]*sluicev1.PartitionOffset, len(resp.GetOffsets()))
		for _, po := range resp.GetOffsets() {
			got[StreamPartition{po.GetStream(), po.GetPartition()}] = po
		}
		var retry []StreamPartition
		var last error
		for _, sp := range left {
			po := got[sp]
			if po == nil {
				return nil, &Error{Code: CodeInternal,
					Msg: fmt.Sprintf("group %q: FetchOffsets answered nothing for stream %q partition %d", g.cfg.Group, sp.Stream, sp.Partition)}
			}
			if d := po.GetError(); d != nil {
				e := detailError(d, po.GetErrorMessage())
				if !retriableGroup(e) {
					return nil, fmt.Errorf("group %q: committed offset of stream %q partition %d: %w", g.cfg.Group, sp.Stream, sp.Partition, e)
				}
				retry, last = append(retry, sp), e
				continue
			}
			out[sp] = max(po.GetCommitted(), -1)
		}
		if len(retry) == 0 {
			return out, nil
		}
		left = retry
		if err := sleepCtx(ctx, g.c.backoff(attempt)); err != nil {
			return nil, fmt.Errorf("group %q: fetch committed offsets: %w (last error: %w)", g.cfg.Group, err, last)
		}
	}
}

// maybeAutoCommit commits the positions of the records earlier Polls
// returned when AutoCommitInterval has passed. When ctx ends first it is
// tried again by the next Poll.
func (g *GroupConsumer) maybeAutoCommit(ctx context.Context) error {
	if !g.cfg.AutoCommit {
		return nil
	}
	g.mu.Lock()
	due := !time.Now().Before(g.mu.nextAutoCommit)
	g.mu.Unlock()
	if !due {
		return nil
	}
	err := g.commitPositions(ctx, nil)
	if err != nil && ctx.Err() != nil {
		return err
	}
	g.mu.Lock()
	g.mu.nextAutoCommit = time.Now().Add(g.cfg.AutoCommitInterval)
	g.mu.Unlock()
	if err != nil && !membershipMoved(err) {
		return fmt.Errorf("group %q: auto-commit: %w", g.cfg.Group, err)
	}
	return nil
}

// membershipMoved reports whether an automatic commit failed because the
// member lost its membership or the partition meanwhile. The heartbeat
// loop learns that on its own (and Poll applies it), and the records go
// to the next owner from the last commit, so Poll does not report it.
func membershipMoved(err error) bool {
	switch codeOf(err) {
	case CodeUnknownMember, CodeUnknownGroup, CodeStaleGeneration, CodeNotAssigned:
		return true
	}
	return false
}
