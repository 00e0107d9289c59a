package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/metadata"
)

// Metadata calls: any node answers them from its own metadata View, with
// the partition leaders of leaders.go.

const (
	// describeTimeout bounds DescribeStream's questions to partition
	// leaders about their offsets.
	describeTimeout = time.Second
	// describeParallel bounds those questions in flight at once.
	describeParallel = 16
)

func (a *api) GetCluster(context.Context, *sluicev1.GetClusterRequest) (*sluicev1.GetClusterResponse, error) {
	s := a.svc
	return &sluicev1.GetClusterResponse{
		Nodes: nodesOf(s.node.Metadata()), MetadataLeaderId: s.node.MetadataLeaderID(), NodeId: s.node.ID(),
	}, nil
}

func nodesOf(v *metadata.View) []*sluicev1.Node {
	nodes := v.Nodes()
	out := make([]*sluicev1.Node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, &sluicev1.Node{Id: n.ID, ClientAddr: n.ClientAddr, RaftAddr: n.RaftAddr, State: n.State.String()})
	}
	return out
}

// GetMetadata answers the named streams (every stream when none is named);
// names the node does not know are left out.
func (a *api) GetMetadata(ctx context.Context, req *sluicev1.GetMetadataRequest) (*sluicev1.GetMetadataResponse, error) {
	s := a.svc
	v := s.node.Metadata()
	var streams []*metadata.Stream
	if len(req.GetStreams()) == 0 {
		streams = v.Streams()
	} else {
		seen := map[string]bool{}
		for _, name := range req.GetStreams() {
			if st := v.Stream(name); st != nil && !seen[name] {
				seen[name] = true
				streams = append(streams, st)
			}
		}
	}
	return &sluicev1.GetMetadataResponse{Streams: s.streamsOf(ctx, v, streams), Nodes: nodesOf(v)}, nil
}

func (a *api) ListStreams(ctx context.Context, _ *sluicev1.ListStreamsRequest) (*sluicev1.ListStreamsResponse, error) {
	s := a.svc
	v := s.node.Metadata()
	return &sluicev1.ListStreamsResponse{Streams: s.streamsOf(ctx, v, v.Streams())}, nil
}

// DescribeStream answers one stream with its partitions' log start
// offsets and high watermarks, from each partition's leader (-1 where
// the leader is unknown or does not answer in time).
func (a *api) DescribeStream(ctx context.Context, req *sluicev1.DescribeStreamRequest) (*sluicev1.DescribeStreamResponse, error) {
	s := a.svc
	v := s.node.Metadata()
	st := v.Stream(req.GetName())
	if st == nil {
		err := metadata.ValidStreamName("name", req.GetName())
		if err == nil {
			err = lookupErr(v, req.GetName())
		}
		return nil, s.status("DescribeStream", err)
	}
	parts := partitionsOf(st)
	leaders := s.leadersOf(ctx, v, parts)
	offsets := s.offsetsOf(ctx, st, parts, leaders)
	return &sluicev1.DescribeStreamResponse{Stream: s.streamOf(st, leaders, offsets)}, nil
}

func lookupErr(v *metadata.View, name string) error {
	_, _, err := lookup(v, name, 0)
	return err
}

func partitionsOf(st *metadata.Stream) []*metadata.Partition {
	out := make([]*metadata.Partition, len(st.Partitions))
	for i := range st.Partitions {
		out[i] = &st.Partitions[i]
	}
	return out
}

// streamsOf converts streams, with their partition leaders.
func (s *service) streamsOf(ctx context.Context, v *metadata.View, streams []*metadata.Stream) []*sluicev1.Stream {
	var parts []*metadata.Partition
	for _, st := range streams {
		parts = append(parts, partitionsOf(st)...)
	}
	leaders := s.leadersOf(ctx, v, parts)
	out := make([]*sluicev1.Stream, 0, len(streams))
	for _, st := range streams {
		out = append(out, s.streamOf(st, leaders, nil))
	}
	return out
}

// logRange is a partition's log start offset and high watermark.
type logRange struct{ start, hw int64 }

// streamOf converts a stream; leaders and offsets are by partition id.
func (s *service) streamOf(st *metadata.Stream, leaders map[string]string, offsets map[string]logRange) *sluicev1.Stream {
	out := &sluicev1.Stream{
		Name: st.Name, ReplicationFactor: int32(st.ReplicationFactor), RetentionMs: st.RetentionMs,
		RetentionBytes: st.RetentionBytes, MaxRecordBytes: st.MaxRecordBytes, CreatedAtMs: st.CreatedAt,
		Partitions: make([]*sluicev1.PartitionInfo, 0, len(st.Partitions)),
	}
	for i := range st.Partitions {
		p := &st.Partitions[i]
		pi := &sluicev1.PartitionInfo{
			Partition: int32(p.Index), Id: p.ID, Replicas: p.Replicas,
			HashKeyStart: p.HashKeyStart[:], HashKeyEnd: p.HashKeyEnd[:],
			LogStartOffset: -1, HighWatermark: -1,
		}
		if id := leaders[p.ID]; id != "" {
			pi.LeaderId, pi.LeaderAddr = id, s.clientAddr(id)
		}
		if r, ok := offsets[p.ID]; ok {
			pi.LogStartOffset, pi.HighWatermark = r.start, r.hw
		}
		out.Partitions = append(out.Partitions, pi)
	}
	return out
}

// offsetsOf returns the log ranges of parts from their leaders: this
// node's replica where it leads and is ready, ListOffsets to the leader
// otherwise. A leader not ready yet (elected, still applying entries of
// earlier terms) would report a high watermark below what was already
// acknowledged; its partitions are left unknown.
func (s *service) offsetsOf(ctx context.Context, st *metadata.Stream, parts []*metadata.Partition, leaders map[string]string) map[string]logRange {
	out := map[string]logRange{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	sem := make(chan struct{}, describeParallel)
	for _, p := range parts {
		if r, g := s.node.Partition(p.ID); g != nil && g.Ready() {
			mu.Lock()
			out[p.ID] = logRange{start: r.LogStartOffset(), hw: r.HighWatermark()}
			mu.Unlock()
			continue
		}
		addr := s.clientAddr(leaders[p.ID])
		if addr == "" || leaders[p.ID] == s.node.ID() {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cc, err := s.peers.conn(ctx, addr)
			if err != nil {
				return
			}
			resp, err := sluicev1.NewSluiceClient(cc).ListOffsets(ctx, &sluicev1.ListOffsetsRequest{
				Stream: st.Name, Partition: int32(p.Index), Spec: sluicev1.OffsetSpec_OFFSET_SPEC_LATEST})
			if err != nil {
				return
			}
			mu.Lock()
			out[p.ID] = logRange{start: resp.GetLogStartOffset(), hw: resp.GetHighWatermark()}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
