package consumergroup

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Tick removes members whose session timed out or that held a revoked
// partition past their rebalance timeout, and reassigns groups whose
// streams changed (created, deleted). The server calls it periodically on
// the active coordinator. It returns the first store error.
func (c *Coordinator) Tick(ctx context.Context) error {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return nil
	}
	groups := make([]*groupRT, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	var first error
	for _, g := range groups {
		if err := c.tickGroup(ctx, g); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *Coordinator) tickGroup(ctx context.Context, g *groupRT) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || g.state == nil || len(g.state.Members) == 0 {
		return nil
	}
	now := c.cfg.Now()
	var expired []string
	for _, st := range g.state.Members {
		m := g.members[st.ID]
		switch {
		case m == nil || now.After(m.deadline):
			expired = append(expired, st.ID)
		case !m.revokingSince.IsZero() && now.Sub(m.revokingSince) > msDuration(st.RebalanceTimeoutMs):
			expired = append(expired, st.ID)
		}
	}
	if len(expired) > 0 {
		return c.removeLocked(ctx, g, expired, "session or rebalance timeout")
	}
	if c.streamsChanged(g.state) {
		next := g.state.Clone()
		if err := c.reassign(next); err != nil {
			return err
		}
		if err := c.store(ctx, g, next); err != nil {
			return err
		}
		g.notifyLocked()
	}
	return nil
}

// streamsChanged reports whether the targets of st no longer cover exactly
// the partitions of its subscribed streams.
func (c *Coordinator) streamsChanged(st *GroupState) bool {
	var streams []string
	for _, m := range st.Members {
		streams = append(streams, m.Streams...)
	}
	slices.Sort(streams)
	streams = slices.Compact(streams)
	counts := c.cfg.Store.PartitionCounts(streams)
	have := map[string]int32{}
	for _, m := range st.Members {
		for _, tp := range m.Assigned {
			if tp.Partition >= counts[tp.Stream] {
				return true // a partition or stream that is gone
			}
			have[tp.Stream]++
		}
	}
	for s, n := range counts {
		if have[s] != n {
			return true
		}
	}
	return false
}

// CommitCheck is the outcome of CheckCommit: the group's incarnation and
// generation to commit under, and per partition nil or why it is refused.
type CommitCheck struct {
	Incarnation uint64
	Generation  int32
	Errs        []error // one per partition asked, in order
}

// CheckCommit checks a member's offset commit: the member must be in the
// group at the group's current generation, and each partition assigned to
// it or still owned by it (a member commits what it releases). It also
// counts as a sign of life.
func (c *Coordinator) CheckCommit(group, memberID string, generation int32, parts []TopicPartition) (CommitCheck, error) {
	g, err := c.group(group, false)
	if err != nil {
		return CommitCheck{}, err
	}
	defer g.mu.Unlock()
	st, ok := g.state.Member(memberID)
	if !ok {
		return CommitCheck{}, c.unknownMember(g, group, memberID)
	}
	if generation != g.state.Generation {
		return CommitCheck{}, groupErr(ErrStaleGeneration, group, memberID,
			"commit from generation %d, the group is at %d", generation, g.state.Generation)
	}
	m := g.members[memberID]
	now := c.cfg.Now()
	m.lastHeartbeat, m.deadline = now, now.Add(msDuration(st.SessionTimeoutMs))
	target := setOf(st.Assigned)
	res := CommitCheck{Incarnation: g.state.Incarnation, Generation: g.state.Generation, Errs: make([]error, len(parts))}
	for i, tp := range parts {
		_, assigned := target[tp]
		_, owns := m.owned[tp]
		if !assigned && !owns {
			res.Errs[i] = groupErr(ErrNotAssigned, group, memberID, "%s/%d", tp.Stream, tp.Partition)
		}
	}
	return res, nil
}

// GroupInfo describes a group for listing and describing.
type GroupInfo struct {
	State   *GroupState // a copy
	Members []MemberInfo
	// Reconciling is true while some member's target differs from what it
	// owns (partitions are moving).
	Reconciling bool
}

// MemberInfo is the coordinator's memory of a member.
type MemberInfo struct {
	ID            string
	Owned         []TopicPartition // sorted; nil until it reported
	LastHeartbeat time.Time        // zero until heard from
}

// Describe returns the group.
func (c *Coordinator) Describe(group string) (GroupInfo, error) {
	g, err := c.group(group, false)
	if err != nil {
		return GroupInfo{}, err
	}
	defer g.mu.Unlock()
	return g.infoLocked(), nil
}

func (g *groupRT) infoLocked() GroupInfo {
	info := GroupInfo{State: g.state.Clone()}
	for _, st := range g.state.Members {
		m := g.members[st.ID]
		mi := MemberInfo{ID: st.ID}
		if m != nil && m.reported {
			for tp := range m.owned {
				mi.Owned = append(mi.Owned, tp)
			}
			slices.SortFunc(mi.Owned, compareTopicPartitions)
			mi.LastHeartbeat = m.lastHeartbeat
			if !equalAssigned(st.Assigned, m.owned) {
				info.Reconciling = true
			}
		} else {
			info.Reconciling = true
		}
		info.Members = append(info.Members, mi)
	}
	return info
}

// List returns every group, sorted by name.
func (c *Coordinator) List() ([]GroupInfo, error) {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return nil, ErrNotCoordinator
	}
	groups := make([]*groupRT, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	var out []GroupInfo
	for _, g := range groups {
		g.mu.Lock()
		if !g.gone && g.state != nil {
			out = append(out, g.infoLocked())
		}
		g.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b GroupInfo) int { return strings.Compare(a.State.Name, b.State.Name) })
	return out, nil
}

// PrepareReset returns the state of a group that has no members, for a
// reset of its offsets on stream, after noting stream among the group's
// streams: ErrUnknownGroup or ErrGroupNotEmpty otherwise. The state is a
// copy; the caller commits the new offsets under its incarnation and
// generation.
func (c *Coordinator) PrepareReset(ctx context.Context, group, stream string) (*GroupState, error) {
	g, err := c.group(group, false)
	if err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	if err := g.checkEmptyLocked(); err != nil {
		return nil, err
	}
	if _, ok := slices.BinarySearch(g.state.Streams, stream); !ok {
		next := g.state.Clone()
		next.Streams = mergeStreams(next.Streams, []string{stream})
		if err := c.store(ctx, g, next); err != nil {
			return nil, err
		}
	}
	return g.state.Clone(), nil
}

// State returns a copy of the group's stored state.
func (c *Coordinator) State(group string) (*GroupState, error) {
	g, err := c.group(group, false)
	if err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	return g.state.Clone(), nil
}

// Delete removes a group that has no members. It returns the deleted
// state, whose incarnation the caller deletes committed offsets of.
func (c *Coordinator) Delete(ctx context.Context, group string) (*GroupState, error) {
	g, err := c.group(group, false)
	if err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	if err := g.checkEmptyLocked(); err != nil {
		return nil, err
	}
	if err := c.cfg.Store.DeleteGroup(ctx, group, g.state.Incarnation); err != nil {
		return nil, err
	}
	st := g.state
	g.gone = true
	g.notifyLocked()
	c.forget(group, g)
	return st, nil
}

// Stats are counters for metrics.
type Stats struct {
	Rebalances uint64 // generations started by this coordinator
}

// Stats returns the coordinator's counters.
func (c *Coordinator) Stats() Stats {
	return Stats{Rebalances: c.rebalances.Load()}
}

// checkEmptyLocked refuses an administrative change of a group that has
// members.
func (g *groupRT) checkEmptyLocked() error {
	if n := len(g.state.Members); n > 0 {
		return groupErr(ErrGroupNotEmpty, g.state.Name, "", "%d member(s); stop them (or wait for their session timeout) first", n)
	}
	return nil
}
