package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/consumergroup"
)

// Consumer groups: the coordinator is the metadata leader's (package
// consumergroup, wired by server.Node). A node whose coordinator is not
// active forwards the call once to the metadata leader; the leader's
// coordinator checks commits and then has each offset written through its
// partition's raft group (groupoffsets.go).

// maxHeartbeatWait bounds a heartbeat's long poll, whatever the client
// asks (the coordinator caps it at a third of the session timeout too).
const maxHeartbeatWait = 30 * time.Second

// coordinate runs local on this node's coordinator or, when it is not
// active, forwards the call to the metadata leader.
func coordinate[T any](s *service, ctx context.Context, local func(*consumergroup.Coordinator) (T, error),
	remote func(context.Context, sluicev1.SluiceClient) (T, error)) (T, error) {
	resp, err := local(s.node.Groups())
	if !errors.Is(err, consumergroup.ErrNotCoordinator) {
		return resp, err
	}
	leader := s.node.MetadataLeaderID()
	if leader == s.node.ID() {
		var zero T
		return zero, fmt.Errorf("group coordinator: %w: this node was just elected and is loading the groups", ErrNoLeader)
	}
	return forward(s, ctx, "group coordinator", leader, func(ctx context.Context, cc *grpc.ClientConn) (T, error) {
		return remote(ctx, sluicev1.NewSluiceClient(cc))
	})
}

func toTPs(in []*sluicev1.StreamPartitions) []consumergroup.TopicPartition {
	var out []consumergroup.TopicPartition
	for _, sp := range in {
		for _, p := range sp.GetPartitions() {
			out = append(out, consumergroup.TopicPartition{Stream: sp.GetStream(), Partition: p})
		}
	}
	return out
}

// fromTPs groups partitions (sorted by stream, partition) by stream.
func fromTPs(tps []consumergroup.TopicPartition) []*sluicev1.StreamPartitions {
	var out []*sluicev1.StreamPartitions
	for _, tp := range tps {
		if n := len(out); n == 0 || out[n-1].Stream != tp.Stream {
			out = append(out, &sluicev1.StreamPartitions{Stream: tp.Stream})
		}
		last := out[len(out)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return out
}

func (a *api) JoinGroup(ctx context.Context, req *sluicev1.JoinGroupRequest) (*sluicev1.JoinGroupResponse, error) {
	s := a.svc
	if err := checkJoin(req); err != nil {
		return nil, s.status("JoinGroup", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.JoinGroupResponse, error) {
		v, err := c.Join(ctx, consumergroup.JoinRequest{
			Group: req.GetGroup(), MemberID: req.GetMemberId(), InstanceID: req.GetInstanceId(),
			Streams: req.GetStreams(), Strategy: req.GetStrategy(),
			SessionTimeout:   time.Duration(req.GetSessionTimeoutMs()) * time.Millisecond,
			RebalanceTimeout: time.Duration(req.GetRebalanceTimeoutMs()) * time.Millisecond,
		})
		if err != nil {
			return nil, err
		}
		s.metrics.groupJoins.Inc()
		return &sluicev1.JoinGroupResponse{MemberId: v.MemberID, Generation: v.Generation, Assigned: fromTPs(v.Assigned),
			Pending: v.Pending, HeartbeatIntervalMs: int32(v.HeartbeatInterval.Milliseconds()), Strategy: v.Strategy}, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.JoinGroupResponse, error) {
		return c.JoinGroup(ctx, req)
	})
	if err != nil {
		return nil, s.status("JoinGroup", err)
	}
	return resp, nil
}

func (a *api) GroupHeartbeat(ctx context.Context, req *sluicev1.GroupHeartbeatRequest) (*sluicev1.GroupHeartbeatResponse, error) {
	s := a.svc
	err := checkMembership(req.GetGroup(), req.GetMemberId(), req.GetGeneration())
	if err == nil {
		err = checkPartitions("owned", req.GetOwned(), consumergroup.MaxPartitions)
	}
	if err == nil && req.GetMaxWaitMs() < 0 {
		err = fmt.Errorf("%w: max_wait_ms %d (0 or more)", ErrInvalidArgument, req.GetMaxWaitMs())
	}
	if err != nil {
		return nil, s.status("GroupHeartbeat", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	// A long poll ends when the server stops.
	ctx, stop := s.untilStop(ctx)
	defer stop()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.GroupHeartbeatResponse, error) {
		wait := min(time.Duration(req.GetMaxWaitMs())*time.Millisecond, maxHeartbeatWait)
		v, err := c.Heartbeat(ctx, req.GetGroup(), req.GetMemberId(), req.GetGeneration(), toTPs(req.GetOwned()), wait)
		if err != nil {
			return nil, err
		}
		return &sluicev1.GroupHeartbeatResponse{Generation: v.Generation, Assigned: fromTPs(v.Assigned), Pending: v.Pending,
			HeartbeatIntervalMs: int32(v.HeartbeatInterval.Milliseconds())}, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.GroupHeartbeatResponse, error) {
		return c.GroupHeartbeat(ctx, req)
	})
	if err != nil {
		return nil, s.status("GroupHeartbeat", err)
	}
	return resp, nil
}

func (a *api) LeaveGroup(ctx context.Context, req *sluicev1.LeaveGroupRequest) (*sluicev1.LeaveGroupResponse, error) {
	s := a.svc
	err := checkGroup(req.GetGroup())
	if err == nil {
		err = checkMember(req.GetMemberId())
	}
	if err != nil {
		return nil, s.status("LeaveGroup", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.LeaveGroupResponse, error) {
		if err := c.Leave(ctx, req.GetGroup(), req.GetMemberId()); err != nil {
			return nil, err
		}
		return &sluicev1.LeaveGroupResponse{}, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.LeaveGroupResponse, error) {
		return c.LeaveGroup(ctx, req)
	})
	if err != nil {
		return nil, s.status("LeaveGroup", err)
	}
	return resp, nil
}

func (a *api) CommitOffsets(ctx context.Context, req *sluicev1.CommitOffsetsRequest) (*sluicev1.CommitOffsetsResponse, error) {
	s := a.svc
	if err := checkCommit(req); err != nil {
		return nil, s.status("CommitOffsets", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.CommitOffsetsResponse, error) {
		return s.commitOffsets(ctx, c, req)
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.CommitOffsetsResponse, error) {
		return c.CommitOffsets(ctx, req)
	})
	if err != nil {
		return nil, s.status("CommitOffsets", err)
	}
	return resp, nil
}

// maxCommitEntries bounds the partitions of one commit request.
const maxCommitEntries = 100000

func (s *service) commitOffsets(ctx context.Context, c *consumergroup.Coordinator, req *sluicev1.CommitOffsetsRequest) (*sluicev1.CommitOffsetsResponse, error) {
	entries := req.GetOffsets()
	tps := make([]consumergroup.TopicPartition, len(entries))
	for i, e := range entries {
		tps[i] = consumergroup.TopicPartition{Stream: e.GetStream(), Partition: e.GetPartition()}
	}
	chk, err := c.CheckCommit(req.GetGroup(), req.GetMemberId(), req.GetGeneration(), tps)
	if err != nil {
		return nil, err
	}
	results := make([]*sluicev1.CommitOffsetResult, len(entries))
	var ok []*sluicev1.OffsetCommit
	var okIdx []int
	for i, e := range entries {
		results[i] = &sluicev1.CommitOffsetResult{Stream: e.GetStream(), Partition: e.GetPartition()}
		if chk.Errs[i] != nil {
			results[i].Error, results[i].ErrorMessage = s.detail("CommitOffsets", chk.Errs[i])
			continue
		}
		ok = append(ok, e)
		okIdx = append(okIdx, i)
	}
	if len(ok) > 0 {
		out := s.partitionOffsets(ctx, &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT,
			Group: req.GetGroup(), Incarnation: chk.Incarnation, Generation: chk.Generation, Offsets: ok})
		for j, po := range out {
			r := results[okIdx[j]]
			r.Error, r.ErrorMessage = po.GetError(), po.GetErrorMessage()
			if r.Error == nil {
				s.metrics.offsetCommits.Inc()
			}
		}
	}
	return &sluicev1.CommitOffsetsResponse{Results: results}, nil
}

func (a *api) FetchOffsets(ctx context.Context, req *sluicev1.FetchOffsetsRequest) (*sluicev1.FetchOffsetsResponse, error) {
	s := a.svc
	err := checkGroup(req.GetGroup())
	if err == nil {
		err = checkPartitions("partitions", req.GetPartitions(), maxCommitEntries)
	}
	if err != nil {
		return nil, s.status("FetchOffsets", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.FetchOffsetsResponse, error) {
		st, err := c.State(req.GetGroup())
		if err != nil {
			return nil, err
		}
		tps := toTPs(req.GetPartitions())
		if len(tps) == 0 {
			tps = s.partitionsOfStreams(st.Streams)
		}
		return &sluicev1.FetchOffsetsResponse{Offsets: s.readOffsets(ctx, st, tps)}, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.FetchOffsetsResponse, error) {
		return c.FetchOffsets(ctx, req)
	})
	if err != nil {
		return nil, s.status("FetchOffsets", err)
	}
	return resp, nil
}

// partitionsOfStreams lists every partition of the streams that exist.
func (s *service) partitionsOfStreams(streams []string) []consumergroup.TopicPartition {
	v := s.node.Metadata()
	var out []consumergroup.TopicPartition
	for _, name := range streams {
		if st := v.Stream(name); st != nil {
			for i := range st.Partitions {
				out = append(out, consumergroup.TopicPartition{Stream: name, Partition: int32(i)})
			}
		}
	}
	return out
}

// readOffsets reads the committed offsets of a group on partitions.
func (s *service) readOffsets(ctx context.Context, st *consumergroup.GroupState, tps []consumergroup.TopicPartition) []*sluicev1.PartitionOffset {
	if len(tps) == 0 {
		return nil
	}
	entries := make([]*sluicev1.OffsetCommit, len(tps))
	for i, tp := range tps {
		entries[i] = &sluicev1.OffsetCommit{Stream: tp.Stream, Partition: tp.Partition}
	}
	return s.partitionOffsets(ctx, &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_READ,
		Group: st.Name, Incarnation: st.Incarnation, Generation: st.Generation, Offsets: entries})
}

func summaryOf(info consumergroup.GroupInfo) *sluicev1.GroupSummary {
	st := info.State
	state := "stable"
	switch {
	case len(st.Members) == 0:
		state = "empty"
	case info.Reconciling:
		state = "reconciling"
	}
	return &sluicev1.GroupSummary{Group: st.Name, State: state, Members: int32(len(st.Members)), Generation: st.Generation,
		Strategy: st.Strategy, Streams: st.Streams}
}

func (a *api) ListGroups(ctx context.Context, req *sluicev1.ListGroupsRequest) (*sluicev1.ListGroupsResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.ListGroupsResponse, error) {
		infos, err := c.List()
		if err != nil {
			return nil, err
		}
		out := &sluicev1.ListGroupsResponse{}
		for _, info := range infos {
			out.Groups = append(out.Groups, summaryOf(info))
		}
		return out, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.ListGroupsResponse, error) {
		return c.ListGroups(ctx, req)
	})
	if err != nil {
		return nil, s.status("ListGroups", err)
	}
	return resp, nil
}

func (a *api) DescribeGroup(ctx context.Context, req *sluicev1.DescribeGroupRequest) (*sluicev1.DescribeGroupResponse, error) {
	s := a.svc
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, s.status("DescribeGroup", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.DescribeGroupResponse, error) {
		info, err := c.Describe(req.GetGroup())
		if err != nil {
			return nil, err
		}
		out := &sluicev1.DescribeGroupResponse{Group: summaryOf(info)}
		for i, m := range info.State.Members {
			mi := info.Members[i]
			gm := &sluicev1.GroupMember{MemberId: m.ID, InstanceId: m.InstanceID, Streams: m.Streams,
				Assigned: fromTPs(m.Assigned), Owned: fromTPs(mi.Owned), SessionTimeoutMs: m.SessionTimeoutMs}
			if !mi.LastHeartbeat.IsZero() {
				gm.LastHeartbeatMs = mi.LastHeartbeat.UnixMilli()
			}
			out.Members = append(out.Members, gm)
		}
		out.Offsets = s.readOffsets(ctx, info.State, s.partitionsOfStreams(info.State.Streams))
		return out, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.DescribeGroupResponse, error) {
		return c.DescribeGroup(ctx, req)
	})
	if err != nil {
		return nil, s.status("DescribeGroup", err)
	}
	return resp, nil
}

func (a *api) ResetOffsets(ctx context.Context, req *sluicev1.ResetOffsetsRequest) (*sluicev1.ResetOffsetsResponse, error) {
	s := a.svc
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, s.status("ResetOffsets", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.ResetOffsetsResponse, error) {
		return s.resetOffsets(ctx, c, req)
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.ResetOffsetsResponse, error) {
		return c.ResetOffsets(ctx, req)
	})
	if err != nil {
		return nil, s.status("ResetOffsets", err)
	}
	return resp, nil
}

func (s *service) resetOffsets(ctx context.Context, c *consumergroup.Coordinator, req *sluicev1.ResetOffsetsRequest) (*sluicev1.ResetOffsetsResponse, error) {
	if _, ok := sluicev1.ResetSpec_name[int32(req.GetSpec())]; !ok {
		return nil, fmt.Errorf("%w: reset spec %d", ErrInvalidArgument, req.GetSpec())
	}
	if req.GetSpec() == sluicev1.ResetSpec_RESET_SPEC_OFFSET && req.GetOffset() < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrInvalidArgument, req.GetOffset())
	}
	v := s.node.Metadata()
	if err := lookupErr(v, req.GetStream()); err != nil {
		return nil, err
	}
	parts := req.GetPartitions()
	if len(parts) == 0 {
		for i := range v.Stream(req.GetStream()).Partitions {
			parts = append(parts, int32(i))
		}
	}
	seen := make(map[int32]bool, len(parts))
	for _, p := range parts {
		if _, _, err := lookup(v, req.GetStream(), p); err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, fmt.Errorf("%w: partitions: %d twice", ErrInvalidArgument, p)
		}
		seen[p] = true
	}
	st, err := c.PrepareReset(ctx, req.GetGroup(), req.GetStream())
	if err != nil {
		return nil, err
	}
	entries := make([]*sluicev1.OffsetCommit, len(parts))
	for i, p := range parts {
		entries[i] = &sluicev1.OffsetCommit{Stream: req.GetStream(), Partition: p, Offset: req.GetOffset()}
	}
	out := s.partitionOffsets(ctx, &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_RESET,
		Group: st.Name, Incarnation: st.Incarnation, Generation: st.Generation, Offsets: entries,
		ResetSpec: req.GetSpec(), TimestampMs: req.GetTimestampMs()})
	s.log.Info("rpc: group offsets reset", "group", st.Name, "stream", req.GetStream(), "spec", req.GetSpec().String())
	return &sluicev1.ResetOffsetsResponse{Offsets: out}, nil
}

func (a *api) DeleteGroup(ctx context.Context, req *sluicev1.DeleteGroupRequest) (*sluicev1.DeleteGroupResponse, error) {
	s := a.svc
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, s.status("DeleteGroup", err)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	resp, err := coordinate(s, ctx, func(c *consumergroup.Coordinator) (*sluicev1.DeleteGroupResponse, error) {
		st, err := c.Delete(ctx, req.GetGroup())
		if err != nil {
			return nil, err
		}
		// The group is gone; its offsets are unreachable (a group created
		// again under the name has a higher incarnation, and reads ignore
		// older ones), so deleting them is tidying up, best effort.
		tps := s.partitionsOfStreams(st.Streams)
		if len(tps) > 0 {
			entries := make([]*sluicev1.OffsetCommit, len(tps))
			for i, tp := range tps {
				entries[i] = &sluicev1.OffsetCommit{Stream: tp.Stream, Partition: tp.Partition}
			}
			for _, po := range s.partitionOffsets(ctx, &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_DELETE,
				Group: st.Name, Incarnation: st.Incarnation, Offsets: entries}) {
				if po.GetError() != nil {
					s.log.Warn("rpc: deleting a deleted group's offsets", "group", st.Name, "stream", po.GetStream(),
						"partition", po.GetPartition(), "err", po.GetErrorMessage())
				}
			}
		}
		s.log.Info("rpc: group deleted", "group", st.Name)
		return &sluicev1.DeleteGroupResponse{}, nil
	}, func(ctx context.Context, c sluicev1.SluiceClient) (*sluicev1.DeleteGroupResponse, error) {
		return c.DeleteGroup(ctx, req)
	})
	if err != nil {
		return nil, s.status("DeleteGroup", err)
	}
	return resp, nil
}
