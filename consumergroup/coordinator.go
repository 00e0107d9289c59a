package consumergroup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store replicates group states: the metadata group, on the node that
// leads it. The coordinator runs only there.
type Store interface {
	// PutGroup stores g. expectVersion 0 creates the group (the store sets
	// Incarnation); otherwise it replaces the state stored at that version
	// and fails if the group changed since. It returns the state as stored
	// (with its new Version).
	PutGroup(ctx context.Context, g *GroupState, expectVersion uint64) (*GroupState, error)
	// DeleteGroup deletes the group if its incarnation is the given one.
	DeleteGroup(ctx context.Context, name string, incarnation uint64) error
	// Groups returns every stored group. The coordinator does not modify
	// them.
	Groups() []*GroupState
	// PartitionCounts returns the partition count of each stream that
	// exists among streams.
	PartitionCounts(streams []string) map[string]int32
}

// Defaults of CoordinatorConfig and of join requests.
const (
	DefaultSessionTimeout   = 10 * time.Second
	DefaultRebalanceTimeout = 30 * time.Second
	// MaxHeartbeatInterval caps the interval the coordinator asks for.
	MaxHeartbeatInterval = 3 * time.Second
)

// CoordinatorConfig configures a Coordinator.
type CoordinatorConfig struct {
	Store  Store
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

// Coordinator keeps the consumer groups of a cluster: membership,
// heartbeats and session timeouts, generations, the target assignment
// (computed by the group's strategy) and what each member reports owning.
// It follows Kafka's KIP-848 protocol: a partition is given to a member
// only once no other member owns it, so members revoke exactly the
// partitions that move, whatever the strategy.
//
// The group states (generation, members, targets) are replicated through
// the Store at every change; the rest (heartbeat deadlines, owned
// partitions) is memory. Activate loads the states when the node becomes
// the metadata leader; Deactivate drops them when it stops leading.
//
// Methods are safe for concurrent use. Lock order: groupRT.mu ->
// Coordinator.mu (nothing holds Coordinator.mu while it takes a group's);
// groupRT.mu is held across Store calls, so changes of one group are
// serialized and other groups go on.
type Coordinator struct {
	cfg CoordinatorConfig

	mu     sync.Mutex
	active bool                // Protected by mu.
	groups map[string]*groupRT // Protected by mu.

	rebalances atomic.Uint64 // generations started, for metrics
}

// groupRT is a group as the active coordinator holds it.
type groupRT struct {
	mu      sync.Mutex
	gone    bool        // deleted, or the coordinator stopped; Protected by mu
	state   *GroupState // the stored state; Protected by mu
	members map[string]*memberRT
	// fenced maps member ids replaced by a static rejoin to their instance.
	fenced map[string]string
	// recovering is set after Activate until every member has reported
	// what it owns: meanwhile members keep only what they have.
	recovering bool
	changed    chan struct{} // closed and replaced at each change; Protected by mu
}

type memberRT struct {
	deadline      time.Time // session expiry
	lastHeartbeat time.Time // zero until it is heard from
	owned         map[TopicPartition]struct{}
	reported      bool // owned comes from the member itself
	// answered is what the last answer to the member said it may
	// consume: it may start those at any time, so until it reports
	// otherwise they count as held by it.
	answered      map[TopicPartition]struct{}
	revokingSince time.Time // when it began holding a partition not in its target
}

// NewCoordinator returns an inactive coordinator.
func NewCoordinator(cfg CoordinatorConfig) *Coordinator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Coordinator{cfg: cfg, groups: map[string]*groupRT{}}
}

// Activate loads the stored groups and starts answering. Every member gets
// a full session timeout from now to be heard from.
func (c *Coordinator) Activate() {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active {
		return
	}
	c.active = true
	for _, st := range c.cfg.Store.Groups() {
		g := &groupRT{state: st.Clone(), members: map[string]*memberRT{}, fenced: map[string]string{},
			changed: make(chan struct{})}
		for _, m := range st.Members {
			g.members[m.ID] = &memberRT{deadline: now.Add(msDuration(m.SessionTimeoutMs)), owned: map[TopicPartition]struct{}{}}
		}
		g.recovering = len(st.Members) > 0
		c.groups[st.Name] = g
	}
}

// Deactivate stops answering (ErrNotCoordinator) and wakes every waiting
// heartbeat.
func (c *Coordinator) Deactivate() {
	c.mu.Lock()
	groups := c.groups
	c.active = false
	c.groups = map[string]*groupRT{}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.gone = true
		g.notifyLocked()
		g.mu.Unlock()
	}
}

// Active reports whether the coordinator answers.
func (c *Coordinator) Active() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// group returns the group, locked, or an error. create makes an empty
// one in memory (not stored until it changes).
func (c *Coordinator) group(name string, create bool) (*groupRT, error) {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return nil, ErrNotCoordinator
	}
	g := c.groups[name]
	if g == nil {
		if !create {
			c.mu.Unlock()
			return nil, &GroupError{Err: ErrUnknownGroup, Group: name}
		}
		g = &groupRT{members: map[string]*memberRT{}, fenced: map[string]string{}, changed: make(chan struct{})}
		c.groups[name] = g
	}
	c.mu.Unlock()
	g.mu.Lock()
	if g.gone {
		g.mu.Unlock()
		return nil, ErrNotCoordinator
	}
	if g.state == nil && !create {
		g.mu.Unlock() // a first join is storing it
		return nil, &GroupError{Err: ErrUnknownGroup, Group: name}
	}
	return g, nil
}

// forget drops an in-memory group that was never stored (a first join
// that failed), unless it is no longer the one in the map.
func (c *Coordinator) forget(name string, g *groupRT) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[name] == g {
		delete(c.groups, name)
	}
}

func (g *groupRT) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// JoinRequest is a member's join.
type JoinRequest struct {
	Group string
	// MemberID is empty on a first join; a known id re-joins (possibly
	// with new streams).
	MemberID         string
	InstanceID       string
	Streams          []string
	Strategy         string        // "": cooperative-sticky
	SessionTimeout   time.Duration // 0: DefaultSessionTimeout
	RebalanceTimeout time.Duration // 0: DefaultRebalanceTimeout
}

// MemberView is what a member is told by a join or a heartbeat.
type MemberView struct {
	MemberID   string
	Generation int32
	// Assigned is what the member may consume now: its target, minus
	// partitions another member still owns.
	Assigned []TopicPartition
	// Pending is true when part of its target is still owned by another.
	Pending           bool
	HeartbeatInterval time.Duration
	Strategy          string
}

func (r *JoinRequest) normalize() error {
	bad := func(format string, args ...any) error {
		return groupErr(ErrInvalidRequest, r.Group, r.MemberID, format, args...)
	}
	if err := ValidGroupName(r.Group); err != nil {
		return &GroupError{Err: ErrInvalidRequest, Group: r.Group, Detail: err.Error()}
	}
	if r.Strategy == "" {
		r.Strategy = CooperativeStickyName
	}
	if _, err := AssignorByName(r.Strategy); err != nil {
		return &GroupError{Err: err, Group: r.Group}
	}
	if r.SessionTimeout == 0 {
		r.SessionTimeout = DefaultSessionTimeout
	}
	if r.RebalanceTimeout == 0 {
		r.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if ms := r.SessionTimeout.Milliseconds(); ms < MinSessionTimeoutMs || ms > MaxSessionTimeoutMs {
		return bad("session timeout %v outside [%v, %v]", r.SessionTimeout,
			msDuration(MinSessionTimeoutMs), msDuration(MaxSessionTimeoutMs))
	}
	if ms := r.RebalanceTimeout.Milliseconds(); ms < 0 || ms > MaxRebalanceTimeoutMs {
		return bad("rebalance timeout %v outside [0, %v]", r.RebalanceTimeout, msDuration(MaxRebalanceTimeoutMs))
	}
	if len(r.InstanceID) > MaxMemberIDLen || len(r.MemberID) > MaxMemberIDLen {
		return bad("member or instance id over %d bytes", MaxMemberIDLen)
	}
	if len(r.Streams) == 0 || len(r.Streams) > MaxStreamsPerMember {
		return bad("%d streams: a member subscribes to 1..%d", len(r.Streams), MaxStreamsPerMember)
	}
	r.Streams = slices.Clone(r.Streams)
	slices.Sort(r.Streams)
	r.Streams = slices.Compact(r.Streams)
	if r.Streams[0] == "" {
		return bad("empty stream name")
	}
	return nil
}

// Join adds a member to a group (creating the group), re-joins a known
// member, or gives a static member that joins again under its instance id
// its place back under a new member id, with its assignment and no
// rebalance (the old member id is fenced).
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) (MemberView, error) {
	if err := req.normalize(); err != nil {
		return MemberView{}, err
	}
	g, err := c.group(req.Group, true)
	if err != nil {
		return MemberView{}, err
	}
	defer g.mu.Unlock()
	now := c.cfg.Now()
	next := g.state
	if next == nil {
		next = &GroupState{Name: req.Group, Strategy: req.Strategy, CreatedAt: now.UnixMilli()}
	} else {
		next = next.Clone()
	}
	if len(next.Members) > 0 && next.Strategy != req.Strategy {
		return MemberView{}, groupErr(ErrInconsistentStrategy, req.Group, req.MemberID,
			"the group's members use %q, the join asks for %q", next.Strategy, req.Strategy)
	}
	next.Strategy = req.Strategy
	me := MemberState{ID: req.MemberID, InstanceID: req.InstanceID, Streams: req.Streams,
		SessionTimeoutMs: int32(req.SessionTimeout.Milliseconds()), RebalanceTimeoutMs: int32(req.RebalanceTimeout.Milliseconds())}
	var replaced string // a static member's old id
	switch {
	case req.MemberID != "":
		old, ok := next.Member(req.MemberID)
		if !ok {
			return MemberView{}, c.unknownMember(g, req.Group, req.MemberID)
		}
		if old.InstanceID != req.InstanceID {
			return MemberView{}, groupErr(ErrInvalidRequest, req.Group, req.MemberID,
				"instance id %q, the member joined with %q", req.InstanceID, old.InstanceID)
		}
		me.Assigned = old.Assigned
		*old = me
	default:
		me.ID = newMemberID(req.InstanceID)
		if i := slices.IndexFunc(next.Members, func(m MemberState) bool {
			return req.InstanceID != "" && m.InstanceID == req.InstanceID
		}); i >= 0 {
			replaced = next.Members[i].ID
			me.Assigned = next.Members[i].Assigned
			next.Members = slices.Delete(next.Members, i, i+1)
		}
		next.Members = append(next.Members, me)
		slices.SortFunc(next.Members, func(a, b MemberState) int { return strings.Compare(a.ID, b.ID) })
	}
	next.Streams = mergeStreams(next.Streams, me.Streams)
	// A static rejoin with the same streams keeps the generation and the
	// assignment; anything else runs the assignor.
	sameStatic := false
	if replaced != "" {
		if prev, ok := g.state.Member(replaced); ok && slices.Equal(prev.Streams, me.Streams) {
			sameStatic = true
		}
	}
	if !sameStatic {
		if err := c.reassign(next); err != nil {
			return MemberView{}, err
		}
	}
	if err := c.store(ctx, g, next); err != nil {
		if g.state == nil {
			g.gone = true // a join waiting for g retries on a new one
			c.forget(req.Group, g)
		}
		return MemberView{}, err
	}
	if replaced != "" {
		delete(g.members, replaced)
		g.fenced[replaced] = req.InstanceID
	}
	m := g.members[me.ID]
	if m == nil {
		m = &memberRT{owned: map[TopicPartition]struct{}{}, reported: true}
		g.members[me.ID] = m
	}
	m.lastHeartbeat = now
	m.deadline = now.Add(req.SessionTimeout)
	g.settleLocked()
	g.notifyLocked()
	return g.answerLocked(me.ID), nil
}

// Heartbeat keeps a member alive and records what it owns, then answers
// what it may consume. With maxWait it waits (at most a third of the
// session timeout) for that to differ from owned, or for the generation
// to differ from the member's.
func (c *Coordinator) Heartbeat(ctx context.Context, group, memberID string, generation int32,
	owned []TopicPartition, maxWait time.Duration) (MemberView, error) {
	g, err := c.group(group, false)
	if err != nil {
		if errors.Is(err, ErrUnknownGroup) {
			return MemberView{}, &GroupError{Err: ErrUnknownMember, Group: group, Member: memberID, Detail: "the group does not exist"}
		}
		return MemberView{}, err
	}
	st, ok := g.state.Member(memberID)
	if !ok {
		err := c.unknownMember(g, group, memberID)
		g.mu.Unlock()
		return MemberView{}, err
	}
	now := c.cfg.Now()
	session := msDuration(st.SessionTimeoutMs)
	m := g.members[memberID]
	if m == nil {
		m = &memberRT{owned: map[TopicPartition]struct{}{}}
		g.members[memberID] = m
	}
	m.lastHeartbeat, m.deadline = now, now.Add(session)
	set := make(map[TopicPartition]struct{}, len(owned))
	for _, tp := range owned {
		set[tp] = struct{}{}
	}
	if !m.reported || !sameSet(m.owned, set) {
		m.owned, m.reported = set, true
		g.settleLocked()
		g.notifyLocked()
	}
	g.trackRevokingLocked(memberID, now)
	wait := min(maxWait, session/3)
	var timer *time.Timer
	for {
		v := g.viewLocked(memberID)
		if wait <= 0 || v.Generation != generation || !equalAssigned(v.Assigned, set) {
			v = g.answerLocked(memberID)
			if m := g.members[memberID]; m != nil {
				m.deadline = c.cfg.Now().Add(session)
			}
			g.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return v, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			wait = 0
		case <-ctx.Done():
			timer.Stop()
			return MemberView{}, ctx.Err()
		}
		g.mu.Lock()
		if g.gone {
			g.mu.Unlock()
			timer.Stop()
			return MemberView{}, ErrNotCoordinator
		}
		if _, ok := g.state.Member(memberID); !ok {
			err := c.unknownMember(g, group, memberID)
			g.mu.Unlock()
			timer.Stop()
			return MemberView{}, err
		}
	}
}

// Leave removes a member at once.
func (c *Coordinator) Leave(ctx context.Context, group, memberID string) error {
	g, err := c.group(group, false)
	if err != nil {
		return err
	}
	defer g.mu.Unlock()
	if _, ok := g.state.Member(memberID); !ok {
		return c.unknownMember(g, group, memberID)
	}
	return c.removeLocked(ctx, g, []string{memberID}, "left")
}

func (c *Coordinator) unknownMember(g *groupRT, group, memberID string) error {
	if inst, ok := g.fenced[memberID]; ok {
		return groupErr(ErrFencedInstance, group, memberID, "instance %q joined again under another member id", inst)
	}
	return &GroupError{Err: ErrUnknownMember, Group: group, Member: memberID}
}

// removeLocked removes members and reassigns their partitions.
func (c *Coordinator) removeLocked(ctx context.Context, g *groupRT, ids []string, why string) error {
	next := g.state.Clone()
	next.Members = slices.DeleteFunc(next.Members, func(m MemberState) bool { return slices.Contains(ids, m.ID) })
	if err := c.reassign(next); err != nil {
		return err
	}
	if err := c.store(ctx, g, next); err != nil {
		return err
	}
	for _, id := range ids {
		delete(g.members, id)
		c.cfg.Logger.Info("consumergroup: member removed", "group", next.Name, "member", id, "why", why,
			"generation", next.Generation)
	}
	g.settleLocked()
	g.notifyLocked()
	return nil
}

// reassign runs the group's assignor over next's members, with their
// current targets as what they own, and moves to the next generation if
// the membership or any target changed. (The caller stores next.)
func (c *Coordinator) reassign(next *GroupState) error {
	a, err := AssignorByName(next.Strategy)
	if err != nil {
		return err
	}
	var streams []string
	members := make([]Member, len(next.Members))
	for i, m := range next.Members {
		members[i] = Member{ID: m.ID, InstanceID: m.InstanceID, Streams: m.Streams, Owned: m.Assigned}
		streams = append(streams, m.Streams...)
	}
	slices.Sort(streams)
	streams = slices.Compact(streams)
	asg, err := a.Assign(members, c.cfg.Store.PartitionCounts(streams))
	if err != nil {
		return fmt.Errorf("consumergroup: group %q: assign: %w", next.Name, err)
	}
	for i := range next.Members {
		next.Members[i].Assigned = asg[next.Members[i].ID]
	}
	next.Generation++
	c.rebalances.Add(1)
	return nil
}

// store replicates next and makes it the group's state.
func (c *Coordinator) store(ctx context.Context, g *groupRT, next *GroupState) error {
	next.UpdatedAt = c.cfg.Now().UnixMilli()
	var expect uint64
	if g.state != nil {
		expect = g.state.Version
	}
	stored, err := c.cfg.Store.PutGroup(ctx, next, expect)
	if err != nil {
		return err
	}
	g.state = stored.Clone()
	return nil
}

// settleLocked ends the recovery after an Activate once every member has
// reported.
func (g *groupRT) settleLocked() {
	if !g.recovering {
		return
	}
	for _, m := range g.members {
		if !m.reported {
			return
		}
	}
	g.recovering = false
}

// trackRevokingLocked notes when a member began holding a partition that
// is no longer in its target.
func (g *groupRT) trackRevokingLocked(id string, now time.Time) {
	m := g.members[id]
	st, _ := g.state.Member(id)
	target := setOf(st.Assigned)
	holding := false
	for tp := range m.owned {
		if _, ok := target[tp]; !ok {
			holding = true
			break
		}
	}
	switch {
	case !holding:
		m.revokingSince = time.Time{}
	case m.revokingSince.IsZero():
		m.revokingSince = now
	}
}

// ownedByOthers returns the partitions some member other than id may
// hold: what it reported owning and what it was last told it may consume,
// or for a member not heard from since Activate, its target.
func (g *groupRT) ownedByOthers(id string) map[TopicPartition]struct{} {
	out := map[TopicPartition]struct{}{}
	for _, st := range g.state.Members {
		if st.ID == id {
			continue
		}
		m := g.members[st.ID]
		if m != nil && m.reported {
			for tp := range m.owned {
				out[tp] = struct{}{}
			}
			for tp := range m.answered {
				out[tp] = struct{}{}
			}
			continue
		}
		for _, tp := range st.Assigned {
			out[tp] = struct{}{}
		}
	}
	return out
}

// answerLocked computes the view of member id and records it as answered.
func (g *groupRT) answerLocked(id string) MemberView {
	v := g.viewLocked(id)
	if m := g.members[id]; m != nil {
		m.answered = setOf(v.Assigned)
	}
	return v
}

// viewLocked computes what member id may consume.
func (g *groupRT) viewLocked(id string) MemberView {
	st, _ := g.state.Member(id)
	m := g.members[id]
	v := MemberView{MemberID: id, Generation: g.state.Generation, Strategy: g.state.Strategy,
		HeartbeatInterval: min(msDuration(st.SessionTimeoutMs)/3, MaxHeartbeatInterval), Assigned: []TopicPartition{}}
	others := g.ownedByOthers(id)
	for _, tp := range st.Assigned {
		_, taken := others[tp]
		_, mine := m.owned[tp]
		_, told := m.answered[tp]
		if taken || (g.recovering && !mine && !told) {
			v.Pending = true
			continue
		}
		v.Assigned = append(v.Assigned, tp)
	}
	return v
}

func equalAssigned(assigned []TopicPartition, owned map[TopicPartition]struct{}) bool {
	if len(assigned) != len(owned) {
		return false
	}
	for _, tp := range assigned {
		if _, ok := owned[tp]; !ok {
			return false
		}
	}
	return true
}

func sameSet(a, b map[TopicPartition]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for tp := range a {
		if _, ok := b[tp]; !ok {
			return false
		}
	}
	return true
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// newMemberID makes a member id: the instance id (if any) and 16 random
// hex digits.
func newMemberID(instance string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := hex.EncodeToString(b[:])
	if instance != "" && len(instance) <= MaxMemberIDLen-17 {
		return instance + "-" + id
	}
	return "member-" + id
}

// mergeStreams returns the sorted union of a and b (both sorted).
func mergeStreams(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
