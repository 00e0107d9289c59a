package client

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// The fake cluster's group coordinator: KIP-848 style, as the protocol
// of the real one. Members join, the coordinator assigns the partitions
// of the group's streams round robin over the members in join order (the
// target), and a member is told (assigned) only the part of its target
// that no other member still reports owning or was last told it may
// consume. A heartbeat long-polls until
// what the member may consume differs from what it owns, the generation
// moved, or max_wait_ms passed. Sessions do not expire on their own:
// tests remove members with expireMember.

type fakeGroup struct {
	name       string
	strategy   string
	generation int32
	members    []*fakeMember // in join order
	fenced     map[string]bool
	nextID     int
	offsets    map[StreamPartition]int64
	events     []string // commit, release and assign, in order
	// stalePerPartition answers a stale generation per partition (in the
	// results) rather than for the whole call.
	stalePerPartition bool
}

type fakeMember struct {
	id, instance string
	streams      []string
	sessionMs    int32
	target       map[StreamPartition]bool
	owned        map[StreamPartition]bool // as last reported
	told         map[StreamPartition]bool // as last answered
	lastHB       time.Time
}

// groupLocked returns the named group, creating it when create.
func (fc *fakeCluster) groupLocked(name string, create bool) *fakeGroup {
	g := fc.mu.groups[name]
	if g == nil && create {
		g = &fakeGroup{name: name, fenced: map[string]bool{}, offsets: map[StreamPartition]int64{}}
		fc.mu.groups[name] = g
	}
	return g
}

func (g *fakeGroup) member(id string) *fakeMember {
	for _, m := range g.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// rebalanceLocked computes the members' targets; the generation moves
// when one changed.
func (fc *fakeCluster) rebalanceLocked(g *fakeGroup) {
	var parts []StreamPartition
	streams := map[string]bool{}
	for _, m := range g.members {
		for _, s := range m.streams {
			streams[s] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(streams)) {
		if s := fc.mu.streams[name]; s != nil {
			for i := range s.parts {
				parts = append(parts, StreamPartition{name, int32(i)})
			}
		}
	}
	changed := false
	for i, m := range g.members {
		t := map[StreamPartition]bool{}
		for j, sp := range parts {
			if j%len(g.members) == i {
				t[sp] = true
			}
		}
		if !maps.Equal(t, m.target) {
			m.target, changed = t, true
		}
	}
	if changed {
		g.generation++
	}
	fc.changedLocked()
}

// assignedLocked is what m may consume now: its target minus what other
// members may still hold (what they last reported owning, and what they
// were last told they may consume), as the real coordinator does.
func (g *fakeGroup) assignedLocked(m *fakeMember) map[StreamPartition]bool {
	out := map[StreamPartition]bool{}
	for sp := range m.target {
		free := true
		for _, o := range g.members {
			if o != m && (o.owned[sp] || o.told[sp]) {
				free = false
			}
		}
		if free {
			out[sp] = true
		}
	}
	return out
}

func toWireSet(set map[StreamPartition]bool) []*sluicev1.StreamPartitions {
	return toWireParts(sortedKeys(set))
}

func fromWireSet(sps []*sluicev1.StreamPartitions) map[StreamPartition]bool {
	out := map[StreamPartition]bool{}
	for sp := range partSet(sps) {
		out[sp] = true
	}
	return out
}

// tellLocked records what m is told, logging the partitions it gets.
func (g *fakeGroup) tellLocked(m *fakeMember) map[StreamPartition]bool {
	a := g.assignedLocked(m)
	for _, sp := range sortedKeys(a) {
		if !m.told[sp] {
			g.events = append(g.events, fmt.Sprintf("assign %s %s", m.id, sp))
		}
	}
	m.told = a
	return a
}

func (n *fakeNode) JoinGroup(_ context.Context, req *sluicev1.JoinGroupRequest) (*sluicev1.JoinGroupResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "JoinGroup"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	strategy := req.Strategy
	if strategy == "" {
		strategy = "cooperative-sticky"
	}
	if !slices.Contains([]string{"range", "roundrobin", "cooperative-sticky"}, strategy) {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STRATEGY, fmt.Sprintf("no strategy %q", strategy), nil)
	}
	g := fc.groupLocked(req.Group, true)
	if len(g.members) > 0 && g.strategy != strategy {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INCONSISTENT_STRATEGY,
			fmt.Sprintf("group %q uses %s", g.name, g.strategy), nil)
	}
	g.strategy = strategy
	g.nextID++
	m := &fakeMember{id: fmt.Sprintf("%s-m%d", g.name, g.nextID), instance: req.InstanceId, streams: req.Streams,
		sessionMs: req.SessionTimeoutMs, owned: map[StreamPartition]bool{}, lastHB: time.Now()}
	replaced := false
	for i, old := range g.members {
		if req.InstanceId != "" && old.instance == req.InstanceId {
			// A static member back: it takes the old one's place and target.
			g.fenced[old.id] = true
			m.target = old.target
			g.members[i], replaced = m, true
		}
	}
	if !replaced {
		g.members = append(g.members, m)
		fc.rebalanceLocked(g)
	}
	fc.changedLocked()
	return &sluicev1.JoinGroupResponse{MemberId: m.id, Generation: g.generation, Assigned: toWireSet(g.tellLocked(m)),
		HeartbeatIntervalMs: max(m.sessionMs/3, 1), Strategy: strategy}, nil
}

// memberErrLocked is the error for a member id the group does not have.
func (g *fakeGroup) memberErrLocked(id string) error {
	if g != nil && g.fenced[id] {
		return fakeErr(sluicev1.ErrorCode_ERROR_CODE_FENCED_INSTANCE, "fenced by a newer member", nil)
	}
	return fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER, fmt.Sprintf("no member %q", id), nil)
}

func (n *fakeNode) GroupHeartbeat(ctx context.Context, req *sluicev1.GroupHeartbeatRequest) (*sluicev1.GroupHeartbeatResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "GroupHeartbeat"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, false)
	var m *fakeMember
	if g != nil {
		m = g.member(req.MemberId)
	}
	if m == nil {
		return nil, g.memberErrLocked(req.MemberId)
	}
	owned := fromWireSet(req.Owned)
	if !maps.Equal(owned, m.owned) {
		for _, sp := range sortedKeys(m.owned) {
			if !owned[sp] {
				g.events = append(g.events, fmt.Sprintf("release %s %s", m.id, sp))
			}
		}
		m.owned = owned
		fc.changedLocked()
	}
	m.lastHB = time.Now()
	deadline := time.Now().Add(time.Duration(min(req.MaxWaitMs, m.sessionMs/3)) * time.Millisecond)
	for {
		if g.member(m.id) == nil {
			return nil, g.memberErrLocked(m.id)
		}
		a := g.assignedLocked(m)
		left := time.Until(deadline)
		if !maps.Equal(a, m.owned) || req.Generation != g.generation || left <= 0 {
			return &sluicev1.GroupHeartbeatResponse{Generation: g.generation, Assigned: toWireSet(g.tellLocked(m)),
				Pending: len(a) < len(m.target), HeartbeatIntervalMs: max(m.sessionMs/3, 1)}, nil
		}
		changed := fc.mu.changed
		fc.mu.Unlock()
		wait(ctx, changed, left)
		fc.mu.Lock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func (n *fakeNode) LeaveGroup(_ context.Context, req *sluicev1.LeaveGroupRequest) (*sluicev1.LeaveGroupResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.faultLocked(fakeCall{Node: n.idx, Method: "LeaveGroup"})
	g := fc.groupLocked(req.Group, false)
	if g == nil || g.member(req.MemberId) == nil {
		return nil, g.memberErrLocked(req.MemberId)
	}
	fc.removeMemberLocked(g, req.MemberId)
	return &sluicev1.LeaveGroupResponse{}, nil
}

func (fc *fakeCluster) removeMemberLocked(g *fakeGroup, id string) {
	g.members = slices.DeleteFunc(g.members, func(m *fakeMember) bool { return m.id == id })
	fc.rebalanceLocked(g)
}

func (n *fakeNode) CommitOffsets(_ context.Context, req *sluicev1.CommitOffsetsRequest) (*sluicev1.CommitOffsetsResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "CommitOffsets"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, false)
	var m *fakeMember
	if g != nil {
		m = g.member(req.MemberId)
	}
	if m == nil {
		return nil, g.memberErrLocked(req.MemberId)
	}
	stale := req.Generation != g.generation
	if stale && !g.stalePerPartition {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION,
			fmt.Sprintf("generation %d, the group is at %d", req.Generation, g.generation), nil)
	}
	resp := &sluicev1.CommitOffsetsResponse{}
	for _, o := range req.Offsets {
		sp := StreamPartition{o.Stream, o.Partition}
		r := &sluicev1.CommitOffsetResult{Stream: o.Stream, Partition: o.Partition}
		switch {
		case stale:
			r.Error = &sluicev1.ErrorDetail{Code: sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION}
			r.ErrorMessage = "stale generation"
		case !m.owned[sp] && !m.target[sp]:
			r.Error = &sluicev1.ErrorDetail{Code: sluicev1.ErrorCode_ERROR_CODE_NOT_ASSIGNED}
			r.ErrorMessage = fmt.Sprintf("%s does not own %s", m.id, sp)
		default:
			g.offsets[sp] = o.Offset
			g.events = append(g.events, fmt.Sprintf("commit %s %s=%d", m.id, sp, o.Offset))
		}
		resp.Results = append(resp.Results, r)
	}
	fc.changedLocked()
	return resp, nil
}

// offsetLocked describes a group's offset of a partition.
func (fc *fakeCluster) offsetLocked(g *fakeGroup, sp StreamPartition) *sluicev1.PartitionOffset {
	po := &sluicev1.PartitionOffset{Stream: sp.Stream, Partition: sp.Partition, Committed: -1,
		LogStartOffset: -1, HighWatermark: -1, Lag: -1}
	if g != nil {
		if off, ok := g.offsets[sp]; ok {
			po.Committed, po.CommitTimeMs = off, 1000
		}
	}
	p, err := fc.partLocked(sp.Stream, sp.Partition)
	if err != nil {
		po.Error = &sluicev1.ErrorDetail{Code: sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION}
		po.ErrorMessage = "no such partition"
		return po
	}
	po.LogStartOffset, po.HighWatermark = p.start, p.end
	if po.Committed >= 0 {
		po.Lag = p.end - po.Committed
	}
	return po
}

func (n *fakeNode) FetchOffsets(_ context.Context, req *sluicev1.FetchOffsetsRequest) (*sluicev1.FetchOffsetsResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "FetchOffsets"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, false)
	parts := sortedKeys(partSet(req.Partitions))
	if len(parts) == 0 && g != nil {
		set := map[StreamPartition]bool{}
		for sp := range g.offsets {
			set[sp] = true
		}
		for _, m := range g.members {
			for sp := range m.target {
				set[sp] = true
			}
		}
		parts = sortedKeys(set)
	}
	resp := &sluicev1.FetchOffsetsResponse{}
	for _, sp := range parts {
		resp.Offsets = append(resp.Offsets, fc.offsetLocked(g, sp))
	}
	return resp, nil
}

func (fc *fakeCluster) summaryLocked(g *fakeGroup) *sluicev1.GroupSummary {
	s := &sluicev1.GroupSummary{Group: g.name, State: "stable", Members: int32(len(g.members)),
		Generation: g.generation, Strategy: g.strategy}
	streams := map[string]bool{}
	for _, m := range g.members {
		for _, st := range m.streams {
			streams[st] = true
		}
		if !maps.Equal(m.owned, m.target) {
			s.State = "reconciling"
		}
	}
	if len(g.members) == 0 {
		s.State = "empty"
	}
	s.Streams = slices.Sorted(maps.Keys(streams))
	return s
}

func (n *fakeNode) ListGroups(context.Context, *sluicev1.ListGroupsRequest) (*sluicev1.ListGroupsResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "ListGroups"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	resp := &sluicev1.ListGroupsResponse{}
	for _, name := range slices.Sorted(maps.Keys(fc.mu.groups)) {
		resp.Groups = append(resp.Groups, fc.summaryLocked(fc.mu.groups[name]))
	}
	return resp, nil
}

func (n *fakeNode) DescribeGroup(_ context.Context, req *sluicev1.DescribeGroupRequest) (*sluicev1.DescribeGroupResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "DescribeGroup"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, false)
	if g == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP, fmt.Sprintf("no group %q", req.Group), nil)
	}
	resp := &sluicev1.DescribeGroupResponse{Group: fc.summaryLocked(g)}
	for _, m := range g.members {
		resp.Members = append(resp.Members, &sluicev1.GroupMember{MemberId: m.id, InstanceId: m.instance,
			Streams: m.streams, Assigned: toWireSet(m.target), Owned: toWireSet(m.owned),
			SessionTimeoutMs: m.sessionMs, LastHeartbeatMs: m.lastHB.UnixMilli()})
	}
	for _, sp := range sortedKeys(g.offsets) {
		resp.Offsets = append(resp.Offsets, fc.offsetLocked(g, sp))
	}
	return resp, nil
}

func (n *fakeNode) ResetOffsets(_ context.Context, req *sluicev1.ResetOffsetsRequest) (*sluicev1.ResetOffsetsResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "ResetOffsets"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, true)
	if len(g.members) > 0 {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY, fmt.Sprintf("group %q has members", g.name), nil)
	}
	s := fc.mu.streams[req.Stream]
	if s == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", req.Stream), nil)
	}
	parts := req.Partitions
	if len(parts) == 0 {
		for i := range s.parts {
			parts = append(parts, int32(i))
		}
	}
	resp := &sluicev1.ResetOffsetsResponse{}
	for _, p := range parts {
		fp, err := fc.partLocked(req.Stream, p)
		if err != nil {
			return nil, err
		}
		sp := StreamPartition{req.Stream, p}
		switch req.Spec {
		case sluicev1.ResetSpec_RESET_SPEC_EARLIEST:
			g.offsets[sp] = fp.start
		case sluicev1.ResetSpec_RESET_SPEC_LATEST, sluicev1.ResetSpec_RESET_SPEC_TIMESTAMP:
			g.offsets[sp] = fp.end
		case sluicev1.ResetSpec_RESET_SPEC_OFFSET:
			g.offsets[sp] = req.Offset
		}
		resp.Offsets = append(resp.Offsets, fc.offsetLocked(g, sp))
	}
	return resp, nil
}

func (n *fakeNode) DeleteGroup(_ context.Context, req *sluicev1.DeleteGroupRequest) (*sluicev1.DeleteGroupResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.faultLocked(fakeCall{Node: n.idx, Method: "DeleteGroup"}); f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	g := fc.groupLocked(req.Group, false)
	switch {
	case g == nil:
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP, fmt.Sprintf("no group %q", req.Group), nil)
	case len(g.members) > 0:
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY, fmt.Sprintf("group %q has members", g.name), nil)
	}
	delete(fc.mu.groups, req.Group)
	return &sluicev1.DeleteGroupResponse{}, nil
}

// Test controls of the fake coordinator.

// expireMember removes a member as a session timeout would.
func (fc *fakeCluster) expireMember(group, id string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.removeMemberLocked(fc.groupLocked(group, false), id)
}

// bumpGeneration moves a group's generation without waking anyone: its
// members learn it from their next heartbeat.
func (fc *fakeCluster) bumpGeneration(group string) int32 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	g := fc.groupLocked(group, false)
	g.generation++
	return g.generation
}

func (fc *fakeCluster) setStalePerPartition(group string, on bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.groupLocked(group, true).stalePerPartition = on
}

// setCommitted stores a group's committed offset.
func (fc *fakeCluster) setCommitted(group string, sp StreamPartition, off int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.groupLocked(group, true).offsets[sp] = off
}

// committed returns a group's committed offset, -1 when none.
func (fc *fakeCluster) committed(group string, sp StreamPartition) int64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if g := fc.groupLocked(group, false); g != nil {
		if off, ok := g.offsets[sp]; ok {
			return off
		}
	}
	return -1
}

// groupEvents returns the group's commit, release and assign events.
func (fc *fakeCluster) groupEvents(group string) []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if g := fc.groupLocked(group, false); g != nil {
		return slices.Clone(g.events)
	}
	return nil
}

// memberIDs returns the ids of a group's members.
func (fc *fakeCluster) memberIDs(group string) []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []string
	if g := fc.groupLocked(group, false); g != nil {
		for _, m := range g.members {
			out = append(out, m.id)
		}
	}
	return out
}

// waitGroup waits until cond holds for the group (nil while there is
// none), checking it on every change of the fake cluster.
func (fc *fakeCluster) waitGroup(ctx context.Context, group, what string, cond func(g *fakeGroup) bool) {
	fc.t.Helper()
	for {
		fc.mu.Lock()
		ok, changed := cond(fc.groupLocked(group, false)), fc.mu.changed
		fc.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			fc.t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}
