package client

import (
	"context"
	"slices"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// StreamConfig describes a stream to create.
type StreamConfig struct {
	Name       string
	Partitions int
	// ReplicationFactor 0 takes the server's default (3, or the number of
	// nodes when fewer).
	ReplicationFactor int
	// Retention bounds records by age, RetentionBytes a partition by size;
	// 0 is unlimited. Retention is kept to the millisecond.
	Retention      time.Duration
	RetentionBytes int64
	// MaxRecordBytes 0 takes the server's default (1 MiB).
	MaxRecordBytes int
}

// StreamInfo describes a stream. Retention and RetentionBytes are 0 when
// unlimited.
type StreamInfo struct {
	Name              string
	ReplicationFactor int
	Retention         time.Duration
	RetentionBytes    int64
	MaxRecordBytes    int
	CreatedAt         time.Time
	Partitions        []PartitionInfo
}

// PartitionInfo describes a partition of a stream.
type PartitionInfo struct {
	Partition int32
	// GroupID is the id of the partition's raft group.
	GroupID string
	// Replicas are the node ids of the replica set; the first is the
	// preferred leader.
	Replicas []string
	// LeaderID and LeaderAddr name the current leader; empty while unknown.
	LeaderID, LeaderAddr string
	// HashKeyStart and HashKeyEnd bound the partition's MD5 hash-key range,
	// inclusive, as 128-bit big-endian integers.
	HashKeyStart, HashKeyEnd [16]byte
	// LogStartOffset and HighWatermark are filled by DescribeStream from
	// the partition's leader; -1 when unknown.
	LogStartOffset, HighWatermark int64
}

// NodeInfo describes a node of the cluster.
type NodeInfo struct {
	ID         string
	ClientAddr string
	RaftAddr   string
	State      string // joining, active or removed
}

// ClusterInfo describes the cluster.
type ClusterInfo struct {
	Nodes []NodeInfo
	// MetadataLeaderID is the node that leads the metadata group; empty
	// during an election.
	MetadataLeaderID string
	// AnsweredBy is the id of the node that answered.
	AnsweredBy string
}

// StreamChange is one change of AlterStream.
type StreamChange struct {
	apply func(*sluicev1.AlterStreamRequest)
}

// SetRetention changes a stream's retention by age; 0 is unlimited.
func SetRetention(d time.Duration) StreamChange {
	return StreamChange{func(r *sluicev1.AlterStreamRequest) { ms := d.Milliseconds(); r.RetentionMs = &ms }}
}

// SetRetentionBytes changes a stream's retention by partition size; 0 is
// unlimited.
func SetRetentionBytes(n int64) StreamChange {
	return StreamChange{func(r *sluicev1.AlterStreamRequest) { r.RetentionBytes = &n }}
}

// Cluster returns the cluster's nodes and who leads the metadata group.
func (c *Client) Cluster(ctx context.Context) (ClusterInfo, error) {
	var resp *sluicev1.GetClusterResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.GetCluster(ctx, &sluicev1.GetClusterRequest{})
		return err
	})
	if err != nil {
		return ClusterInfo{}, err
	}
	c.setNodes(resp.GetNodes())
	info := ClusterInfo{MetadataLeaderID: resp.GetMetadataLeaderId(), AnsweredBy: resp.GetNodeId()}
	for _, n := range resp.GetNodes() {
		info.Nodes = append(info.Nodes, NodeInfo{ID: n.GetId(), ClientAddr: n.GetClientAddr(),
			RaftAddr: n.GetRaftAddr(), State: n.GetState()})
	}
	return info, nil
}

// CreateStream creates a stream. It fails with ErrStreamExists when the
// name is taken. When the metadata leader answers ErrOutcomeUnknown (it
// lost its leadership while committing the create) the request is sent
// again; if the stream then exists with the settings asked for, the
// create counts as done (as SQS's CreateQueue does for equal attributes).
// If a node stops answering mid-request the stream may have been created.
func (c *Client) CreateStream(ctx context.Context, cfg StreamConfig) (StreamInfo, error) {
	req := &sluicev1.CreateStreamRequest{
		Name: cfg.Name, Partitions: int32(cfg.Partitions), ReplicationFactor: int32(cfg.ReplicationFactor),
		RetentionMs: cfg.Retention.Milliseconds(), RetentionBytes: cfg.RetentionBytes,
		MaxRecordBytes: int32(cfg.MaxRecordBytes),
	}
	var resp *sluicev1.CreateStreamResponse
	var found StreamInfo
	err := c.create(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.CreateStream(ctx, req)
		return err
	}, CodeStreamExists, func(ctx context.Context) bool {
		info, err := c.DescribeStream(ctx, cfg.Name)
		found = info
		return err == nil && sameStream(info, cfg)
	})
	if err != nil {
		return StreamInfo{}, err
	}
	if resp == nil {
		return found, nil
	}
	return c.remember(resp.GetStream()), nil
}

// sameStream reports whether s has the settings cfg asks for (a zero
// replication factor or record size asks for the server's default).
func sameStream(s StreamInfo, cfg StreamConfig) bool {
	return len(s.Partitions) == cfg.Partitions &&
		(cfg.ReplicationFactor == 0 || s.ReplicationFactor == cfg.ReplicationFactor) &&
		s.Retention == time.Duration(cfg.Retention.Milliseconds())*time.Millisecond &&
		s.RetentionBytes == cfg.RetentionBytes &&
		(cfg.MaxRecordBytes == 0 || s.MaxRecordBytes == cfg.MaxRecordBytes)
}

// DescribeStream returns a stream with its partitions' offsets.
func (c *Client) DescribeStream(ctx context.Context, name string) (StreamInfo, error) {
	var resp *sluicev1.DescribeStreamResponse
	err := c.adminJudged(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: name})
		return err
	}, func() bool { return leaderless(resp.GetStream()) })
	if err != nil {
		return StreamInfo{}, err
	}
	return c.remember(resp.GetStream()), nil
}

// ListStreams returns every stream, by name.
func (c *Client) ListStreams(ctx context.Context) ([]StreamInfo, error) {
	var resp *sluicev1.ListStreamsResponse
	err := c.adminJudged(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ListStreams(ctx, &sluicev1.ListStreamsRequest{})
		return err
	}, func() bool { return slices.ContainsFunc(resp.GetStreams(), leaderless) })
	if err != nil {
		return nil, err
	}
	out := make([]StreamInfo, 0, len(resp.GetStreams()))
	for _, s := range resp.GetStreams() {
		out = append(out, toStreamInfo(s))
	}
	return out, nil
}

// DeleteStream deletes a stream and its records.
func (c *Client) DeleteStream(ctx context.Context, name string) error {
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) error {
		_, err := api.DeleteStream(ctx, &sluicev1.DeleteStreamRequest{Name: name})
		return err
	})
	c.meta.Lock()
	delete(c.meta.streams, name)
	c.meta.Unlock()
	return err
}

// AlterStream applies changes to a stream and returns it as changed.
func (c *Client) AlterStream(ctx context.Context, name string, changes ...StreamChange) (StreamInfo, error) {
	req := &sluicev1.AlterStreamRequest{Name: name}
	for _, ch := range changes {
		if ch.apply != nil {
			ch.apply(req)
		}
	}
	var resp *sluicev1.AlterStreamResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.AlterStream(ctx, req)
		return err
	})
	if err != nil {
		return StreamInfo{}, err
	}
	return c.remember(resp.GetStream()), nil
}

// maxAdminAttempts bounds the retries of an admin request that meets an
// election or a node that is starting.
const maxAdminAttempts = 8

// admin runs an admin or metadata request on any node, retrying with
// backoff while the cluster says it cannot answer yet (no leader, not the
// leader, unavailable, timed out: nothing was done).
func (c *Client) admin(ctx context.Context, call func(context.Context, sluicev1.SluiceClient) error) error {
	return c.adminJudged(ctx, call, nil)
}

// adminJudged is admin with anyNodeJudged's stale check.
func (c *Client) adminJudged(ctx context.Context, call func(context.Context, sluicev1.SluiceClient) error, stale func() bool) error {
	for attempt := 1; ; attempt++ {
		err := c.anyNodeJudged(ctx, c.cfg.RequestTimeout, call, stale)
		e := asError(err)
		if e == nil || attempt == maxAdminAttempts || e.conn {
			return err
		}
		switch e.Code {
		case CodeNoLeader, CodeNotLeader, CodeUnavailable, CodeTimeout:
		default:
			return err
		}
		if err := sleepCtx(ctx, c.backoff(attempt)); err != nil {
			return err
		}
	}
}

// create runs a create request through admin. An ErrOutcomeUnknown
// answer leaves the create maybe done: same then says whether the name
// now exists with the settings asked for, and if it does not, the request
// is sent again (up to maxAdminAttempts in all). A later attempt that
// finds the name taken (exists) asks same once more. When same finds what
// was asked for, create returns nil without an answer from call: the
// caller takes what same found.
func (c *Client) create(ctx context.Context, call func(context.Context, sluicev1.SluiceClient) error,
	exists Code, same func(context.Context) bool) error {
	unknown := false
	for attempt := 1; ; attempt++ {
		err := c.admin(ctx, call)
		code := codeOf(err)
		if code != CodeOutcomeUnknown && (code != exists || !unknown) {
			return err
		}
		unknown = true
		if same(ctx) {
			return nil
		}
		if code == exists || attempt == maxAdminAttempts {
			return err
		}
		if serr := sleepCtx(ctx, c.backoff(attempt)); serr != nil {
			return err
		}
	}
}

// leaderless reports whether s has a partition without a known leader.
func leaderless(s *sluicev1.Stream) bool {
	return slices.ContainsFunc(s.GetPartitions(), func(p *sluicev1.PartitionInfo) bool { return p.GetLeaderId() == "" })
}

// remember caches the routing of s and returns it converted.
func (c *Client) remember(s *sluicev1.Stream) StreamInfo {
	if s.GetName() != "" && len(s.GetPartitions()) > 0 {
		sm := toStreamMeta(s)
		c.meta.Lock()
		c.meta.streams[sm.name] = sm
		c.meta.Unlock()
	}
	return toStreamInfo(s)
}

// toStreamInfo converts a stream of the wire.
func toStreamInfo(s *sluicev1.Stream) StreamInfo {
	info := StreamInfo{
		Name: s.GetName(), ReplicationFactor: int(s.GetReplicationFactor()),
		RetentionBytes: max(s.GetRetentionBytes(), 0), MaxRecordBytes: int(s.GetMaxRecordBytes()),
	}
	if ms := s.GetRetentionMs(); ms > 0 {
		info.Retention = time.Duration(ms) * time.Millisecond
	}
	if ms := s.GetCreatedAtMs(); ms > 0 {
		info.CreatedAt = time.UnixMilli(ms)
	}
	for _, p := range s.GetPartitions() {
		pi := PartitionInfo{
			Partition: p.GetPartition(), GroupID: p.GetId(), Replicas: p.GetReplicas(),
			LeaderID: p.GetLeaderId(), LeaderAddr: p.GetLeaderAddr(),
			LogStartOffset: p.GetLogStartOffset(), HighWatermark: p.GetHighWatermark(),
		}
		copy(pi.HashKeyStart[:], p.GetHashKeyStart())
		copy(pi.HashKeyEnd[:], p.GetHashKeyEnd())
		info.Partitions = append(info.Partitions, pi)
	}
	return info
}
