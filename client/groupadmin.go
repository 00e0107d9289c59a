package client

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// GroupInfo summarizes a consumer group.
type GroupInfo struct {
	Group string
	// State is "empty" (no members), "stable", or "reconciling"
	// (partitions are moving between members).
	State      string
	Members    int
	Generation int32
	Strategy   string
	Streams    []string
}

// GroupMember describes a member of a group as its coordinator sees it.
type GroupMember struct {
	MemberID   string
	InstanceID string // "" for a dynamic member
	Streams    []string
	// Assigned is the coordinator's target for the member; Owned is what
	// the member last reported consuming. They differ while partitions
	// move.
	Assigned, Owned []StreamPartition
	SessionTimeout  time.Duration
	// LastHeartbeat is zero when the coordinator has not heard from the
	// member since it took over.
	LastHeartbeat time.Time
}

// GroupDescription describes a group: its summary, members and offsets.
type GroupDescription struct {
	GroupInfo
	Members []GroupMember
	Offsets []GroupOffset
}

// GroupOffset is a group's committed offset of one partition, with the
// partition's offsets and the group's lag.
type GroupOffset struct {
	StreamPartition
	// Committed is the next offset the group reads; -1 when the group has
	// committed none.
	Committed  int64
	Metadata   string
	CommitTime time.Time // zero when none
	// LogStartOffset and HighWatermark are -1 when unknown (the leader did
	// not answer); Lag is HighWatermark - Committed, -1 when either is
	// unknown.
	LogStartOffset, HighWatermark, Lag int64
	// Err is the *Error of a partition that could not be read; the other
	// fields are then unset.
	Err error
}

// ListGroups returns the consumer groups.
func (c *Client) ListGroups(ctx context.Context) ([]GroupInfo, error) {
	var resp *sluicev1.ListGroupsResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ListGroups(ctx, &sluicev1.ListGroupsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]GroupInfo, 0, len(resp.GetGroups()))
	for _, s := range resp.GetGroups() {
		out = append(out, toGroupInfo(s))
	}
	return out, nil
}

// DescribeGroup returns a group's members and offsets. It fails with
// ErrUnknownGroup when there is no such group.
func (c *Client) DescribeGroup(ctx context.Context, group string) (GroupDescription, error) {
	var resp *sluicev1.DescribeGroupResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.DescribeGroup(ctx, &sluicev1.DescribeGroupRequest{Group: group})
		return err
	})
	if err != nil {
		return GroupDescription{}, err
	}
	d := GroupDescription{GroupInfo: toGroupInfo(resp.GetGroup()), Offsets: toGroupOffsets(resp.GetOffsets())}
	for _, m := range resp.GetMembers() {
		gm := GroupMember{MemberID: m.GetMemberId(), InstanceID: m.GetInstanceId(), Streams: m.GetStreams(),
			Assigned: fromWireParts(m.GetAssigned()), Owned: fromWireParts(m.GetOwned()),
			SessionTimeout: time.Duration(m.GetSessionTimeoutMs()) * time.Millisecond}
		if ms := m.GetLastHeartbeatMs(); ms > 0 {
			gm.LastHeartbeat = time.UnixMilli(ms)
		}
		d.Members = append(d.Members, gm)
	}
	return d, nil
}

// FetchGroupOffsets returns a group's committed offsets of parts (nil:
// every partition of the streams the group consumes or has committed
// offsets for), with lag. A partition that could not be read has its Err
// set; the call fails only when the request does.
func (c *Client) FetchGroupOffsets(ctx context.Context, group string, parts []StreamPartition) ([]GroupOffset, error) {
	var resp *sluicev1.FetchOffsetsResponse
	req := &sluicev1.FetchOffsetsRequest{Group: group, Partitions: toWireParts(parts)}
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.FetchOffsets(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return toGroupOffsets(resp.GetOffsets()), nil
}

// ResetGroupOffsets moves a group's committed offsets of a stream's
// partitions (nil: all) to the log start (Earliest), the high watermark
// (Latest), an offset (Offset) or the first record at or after a time
// (Time), and returns the new offsets. The coordinator refuses it with
// ErrGroupNotEmpty while the group has members.
func (c *Client) ResetGroupOffsets(ctx context.Context, group, stream string, partitions []int32, to StartAt) ([]GroupOffset, error) {
	req := &sluicev1.ResetOffsetsRequest{Group: group, Stream: stream, Partitions: partitions}
	switch to.kind {
	case startLatest:
		req.Spec = sluicev1.ResetSpec_RESET_SPEC_LATEST
	case startOffset:
		if to.offset < 0 {
			return nil, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("negative offset %d", to.offset)}
		}
		req.Spec, req.Offset = sluicev1.ResetSpec_RESET_SPEC_OFFSET, to.offset
	case startTime:
		req.Spec, req.TimestampMs = sluicev1.ResetSpec_RESET_SPEC_TIMESTAMP, to.time.UnixMilli()
	default:
		req.Spec = sluicev1.ResetSpec_RESET_SPEC_EARLIEST
	}
	var resp *sluicev1.ResetOffsetsResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ResetOffsets(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return toGroupOffsets(resp.GetOffsets()), nil
}

// DeleteGroup removes a group and its committed offsets. The coordinator
// refuses it with ErrGroupNotEmpty while the group has members, and with
// ErrUnknownGroup when there is no such group.
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	return c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) error {
		_, err := api.DeleteGroup(ctx, &sluicev1.DeleteGroupRequest{Group: group})
		return err
	})
}

func toGroupInfo(s *sluicev1.GroupSummary) GroupInfo {
	return GroupInfo{Group: s.GetGroup(), State: s.GetState(), Members: int(s.GetMembers()),
		Generation: s.GetGeneration(), Strategy: s.GetStrategy(), Streams: s.GetStreams()}
}

func toGroupOffsets(pos []*sluicev1.PartitionOffset) []GroupOffset {
	out := make([]GroupOffset, 0, len(pos))
	for _, po := range pos {
		o := GroupOffset{StreamPartition: StreamPartition{po.GetStream(), po.GetPartition()},
			Committed: -1, LogStartOffset: -1, HighWatermark: -1, Lag: -1}
		if d := po.GetError(); d != nil {
			o.Err = detailError(d, po.GetErrorMessage())
			out = append(out, o)
			continue
		}
		o.Committed, o.Metadata = max(po.GetCommitted(), -1), po.GetMetadata()
		o.LogStartOffset, o.HighWatermark, o.Lag = po.GetLogStartOffset(), po.GetHighWatermark(), po.GetLag()
		if ms := po.GetCommitTimeMs(); ms > 0 {
			o.CommitTime = time.UnixMilli(ms)
		}
		out = append(out, o)
	}
	return out
}
