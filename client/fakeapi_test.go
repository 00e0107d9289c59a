package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// The gRPC handlers of a fake node.

func (n *fakeNode) GetCluster(context.Context, *sluicev1.GetClusterRequest) (*sluicev1.GetClusterResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.faultLocked(fakeCall{Node: n.idx, Method: "GetCluster"})
	return &sluicev1.GetClusterResponse{Nodes: fc.nodesLocked(), MetadataLeaderId: fc.nodes[0].id, NodeId: n.id}, nil
}

func (fc *fakeCluster) nodesLocked() []*sluicev1.Node {
	var out []*sluicev1.Node
	for _, n := range fc.nodes {
		out = append(out, &sluicev1.Node{Id: n.id, ClientAddr: n.addr, RaftAddr: n.addr, State: "active"})
	}
	return out
}

func (fc *fakeCluster) streamLocked(s *fakeStream, offsets bool) *sluicev1.Stream {
	out := &sluicev1.Stream{Name: s.name, ReplicationFactor: int32(s.rf), RetentionMs: s.retentionMs,
		RetentionBytes: s.retentionBytes, MaxRecordBytes: s.maxRecordBytes, CreatedAtMs: 1}
	starts, ends := evenRanges(len(s.parts))
	for i, p := range s.parts {
		l := fc.nodes[p.leader]
		pi := &sluicev1.PartitionInfo{Partition: int32(i), Id: fmt.Sprintf("s1-p%d", i), Replicas: []string{l.id},
			LeaderId: l.id, LeaderAddr: l.addr, HashKeyStart: starts[i][:], HashKeyEnd: ends[i][:],
			LogStartOffset: -1, HighWatermark: -1}
		if offsets {
			pi.LogStartOffset, pi.HighWatermark = p.start, p.end
		}
		out.Partitions = append(out.Partitions, pi)
	}
	return out
}

func (n *fakeNode) GetMetadata(_ context.Context, req *sluicev1.GetMetadataRequest) (*sluicev1.GetMetadataResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f := fc.faultLocked(fakeCall{Node: n.idx, Method: "GetMetadata"})
	if f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	resp := &sluicev1.GetMetadataResponse{Nodes: fc.nodesLocked()}
	for name, s := range fc.mu.streams {
		if len(req.Streams) == 0 || containsString(req.Streams, name) {
			resp.Streams = append(resp.Streams, n.seen(fc.streamLocked(s, false)))
		}
	}
	return resp, nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (n *fakeNode) CreateStream(_ context.Context, req *sluicev1.CreateStreamRequest) (*sluicev1.CreateStreamResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f := fc.faultLocked(fakeCall{Node: n.idx, Method: "CreateStream", Stream: req.Name})
	if f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	if _, ok := fc.mu.streams[req.Name]; ok {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS, fmt.Sprintf("stream %q exists", req.Name), nil)
	}
	if req.Name == "" || req.Partitions <= 0 {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, "partitions must be positive", nil)
	}
	s := fc.createLocked(req)
	if f.After != 0 {
		return nil, fakeErr(f.After, "injected after the create", nil)
	}
	return &sluicev1.CreateStreamResponse{Stream: fc.streamLocked(s, false)}, nil
}

func (n *fakeNode) DescribeStream(_ context.Context, req *sluicev1.DescribeStreamRequest) (*sluicev1.DescribeStreamResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	s := fc.mu.streams[req.Name]
	if s == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", req.Name), nil)
	}
	return &sluicev1.DescribeStreamResponse{Stream: n.seen(fc.streamLocked(s, true))}, nil
}

func (n *fakeNode) ListStreams(context.Context, *sluicev1.ListStreamsRequest) (*sluicev1.ListStreamsResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	resp := &sluicev1.ListStreamsResponse{}
	for _, s := range fc.mu.streams {
		resp.Streams = append(resp.Streams, n.seen(fc.streamLocked(s, false)))
	}
	return resp, nil
}

func (n *fakeNode) DeleteStream(_ context.Context, req *sluicev1.DeleteStreamRequest) (*sluicev1.DeleteStreamResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.mu.streams[req.Name] == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", req.Name), nil)
	}
	delete(fc.mu.streams, req.Name)
	fc.changedLocked()
	return &sluicev1.DeleteStreamResponse{}, nil
}

func (n *fakeNode) AlterStream(_ context.Context, req *sluicev1.AlterStreamRequest) (*sluicev1.AlterStreamResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	s := fc.mu.streams[req.Name]
	if s == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", req.Name), nil)
	}
	if req.RetentionMs != nil {
		s.retentionMs = *req.RetentionMs
	}
	if req.RetentionBytes != nil {
		s.retentionBytes = *req.RetentionBytes
	}
	return &sluicev1.AlterStreamResponse{Stream: fc.streamLocked(s, false)}, nil
}

func (n *fakeNode) InitProducer(context.Context, *sluicev1.InitProducerRequest) (*sluicev1.InitProducerResponse, error) {
	fc := n.fc
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f := fc.faultLocked(fakeCall{Node: n.idx, Method: "InitProducer"})
	if f.Before != 0 {
		return nil, fakeErr(f.Before, "injected", nil)
	}
	fc.mu.nextPID++
	return &sluicev1.InitProducerResponse{ProducerId: fc.mu.nextPID}, nil
}

// partLocked finds a partition or returns the server's error.
func (fc *fakeCluster) partLocked(stream string, part int32) (*fakePart, error) {
	s := fc.mu.streams[stream]
	if s == nil {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, fmt.Sprintf("stream %q not found", stream), nil)
	}
	if part < 0 || int(part) >= len(s.parts) {
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION, fmt.Sprintf("no partition %d", part), nil)
	}
	return s.parts[part], nil
}

// begin runs the common prologue of a partition request: the hook (its
// delay outside the lock), leader moves, injected errors, and the leader
// check. It returns with the lock held on success.
func (n *fakeNode) begin(ctx context.Context, method, stream string, part int32, leaderOnly bool) (*fakePart, fault, error) {
	fc := n.fc
	fc.mu.Lock()
	f := fc.faultLocked(fakeCall{Node: n.idx, Method: method, Stream: stream, Partition: part})
	if f.Delay > 0 {
		fc.mu.Unlock()
		wait(ctx, nil, f.Delay)
		fc.mu.Lock()
	}
	p, err := fc.partLocked(stream, part)
	if err == nil && f.MoveLeader {
		p.leader = (p.leader + 1) % len(fc.nodes)
		fc.changedLocked()
	}
	switch {
	case err != nil:
	case f.Before == sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || leaderOnly && p.leader != n.idx:
		hint := fc.nodes[p.leader]
		if f.NoHint {
			hint = nil
		}
		err = fakeErr(sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, n.id+" does not lead", hint)
	case f.Before != 0:
		err = fakeErr(f.Before, "injected", nil)
	}
	if err != nil {
		fc.mu.Unlock()
		return nil, f, err
	}
	return p, f, nil
}

func (n *fakeNode) Produce(ctx context.Context, req *sluicev1.ProduceRequest) (*sluicev1.ProduceResponse, error) {
	fc := n.fc
	p, f, err := n.begin(ctx, "Produce", req.Stream, req.Partition, !fc.forwarding())
	if err != nil {
		return nil, err
	}
	h, err := batch.Validate(req.Batch)
	if err != nil {
		fc.mu.Unlock()
		return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INVALID_BATCH, err.Error(), nil)
	}
	fc.mu.attempts = append(fc.mu.attempts, fakeAttempt{Partition: req.Partition, PID: h.ProducerID,
		Seq: h.BaseSequence, N: h.NumRecords, Bytes: string(req.Batch)})
	resp, err := p.appendLocked(req.Batch, h)
	leader := fc.nodes[p.leader]
	fc.changedLocked()
	fc.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case f.HangAfter:
		<-ctx.Done()
		return nil, ctx.Err()
	case f.After != 0:
		return nil, fakeErr(f.After, "injected after the write", nil)
	case f.Latency > 0:
		wait(ctx, nil, f.Latency)
	}
	resp.LeaderId, resp.LeaderAddr = leader.id, leader.addr
	return resp, nil
}

func (fc *fakeCluster) forwarding() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.mu.forward
}

func (n *fakeNode) Fetch(ctx context.Context, req *sluicev1.FetchRequest) (*sluicev1.FetchResponse, error) {
	fc := n.fc
	deadline := time.Now().Add(time.Duration(req.MaxWaitMs) * time.Millisecond)
	for {
		p, _, err := n.begin(ctx, "Fetch", req.Stream, req.Partition, true)
		if err != nil {
			return nil, err
		}
		if req.Offset < p.start || req.Offset > p.end {
			fc.mu.Unlock()
			return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
				fmt.Sprintf("offset %d outside [%d, %d]", req.Offset, p.start, p.end), nil)
		}
		resp := &sluicev1.FetchResponse{HighWatermark: p.end, LogStartOffset: p.start, NextOffset: req.Offset}
		maxBytes := int(req.MaxBytes)
		if maxBytes <= 0 {
			maxBytes = 1 << 20
		}
		if req.Offset < p.end {
			resp.Batches = p.readLocked(req.Offset, maxBytes)
		}
		changed := fc.mu.changed
		fc.mu.Unlock()
		left := time.Until(deadline)
		if len(resp.Batches) > 0 || left <= 0 {
			return resp, nil
		}
		wait(ctx, changed, left)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func (n *fakeNode) Follow(req *sluicev1.FollowRequest, stream grpc.ServerStreamingServer[sluicev1.FetchResponse]) error {
	fc := n.fc
	ctx := stream.Context()
	off := req.Offset
	for {
		p, _, err := n.begin(ctx, "Follow", req.Stream, req.Partition, true)
		if err != nil {
			return err
		}
		if off < p.start || off > p.end {
			fc.mu.Unlock()
			return fakeErr(sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, "outside the log", nil)
		}
		var b []byte
		if off < p.end {
			b = p.readLocked(off, max(int(req.MaxBytes), 1))
		}
		resp := &sluicev1.FetchResponse{Batches: b, HighWatermark: p.end, LogStartOffset: p.start}
		changed := fc.mu.changed
		fc.mu.Unlock()
		if len(b) == 0 {
			wait(ctx, changed, time.Hour)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		for len(b) > 0 {
			h, _ := batch.ParseHeader(b)
			off = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			b = b[h.Size():]
		}
		resp.NextOffset = off
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (n *fakeNode) ListOffsets(ctx context.Context, req *sluicev1.ListOffsetsRequest) (*sluicev1.ListOffsetsResponse, error) {
	fc := n.fc
	p, _, err := n.begin(ctx, "ListOffsets", req.Stream, req.Partition, true)
	if err != nil {
		return nil, err
	}
	defer fc.mu.Unlock()
	resp := &sluicev1.ListOffsetsResponse{LogStartOffset: p.start, HighWatermark: p.end}
	switch req.Spec {
	case sluicev1.OffsetSpec_OFFSET_SPEC_EARLIEST:
		resp.Offset = p.start
	case sluicev1.OffsetSpec_OFFSET_SPEC_LATEST:
		resp.Offset = p.end
	default:
		resp.Offset = p.end
		for _, b := range p.batches {
			recs, err := batch.DecodeRecords(b, nil, 1<<30)
			if err != nil {
				return nil, fakeErr(sluicev1.ErrorCode_ERROR_CODE_INTERNAL, err.Error(), nil)
			}
			for _, r := range recs {
				if r.Timestamp >= req.TimestampMs {
					resp.Offset = r.Offset
					return resp, nil
				}
			}
		}
	}
	return resp, nil
}
