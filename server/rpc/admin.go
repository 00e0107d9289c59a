package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// Admin calls run on the metadata leader. Another node forwards them
// there once (peers.go) and then waits, briefly, until its own metadata
// shows the change, so that a client that goes on with the node that
// answered (as the Go client does) finds what it just did.
const metaCatchUp = 2 * time.Second

// producerIDBlock is how many producer ids a node takes from the metadata
// group at a time; it hands them out one per InitProducer. Ids of a block
// that a node never hands out (it stops) are simply never used.
const producerIDBlock = 1000

// metaNotLeader reports whether err says this node does not lead the
// metadata group, and the leader it names.
func metaNotLeader(err error) (string, bool) {
	var nl *replication.NotLeaderError
	if errors.As(err, &nl) {
		return nl.LeaderID, true
	}
	return "", false
}

// unlimited maps the wire's 0 (unlimited) to the metadata's.
func unlimited(v int64) int64 {
	if v == 0 {
		return metadata.Unlimited
	}
	return v
}

func activeNodes(v *metadata.View) int {
	n := 0
	for _, node := range v.Nodes() {
		if node.State == metadata.NodeActive {
			n++
		}
	}
	return n
}

func (a *api) CreateStream(ctx context.Context, req *sluicev1.CreateStreamRequest) (*sluicev1.CreateStreamResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	c := metadata.CreateStream{
		Name: req.GetName(), Partitions: int(req.GetPartitions()), ReplicationFactor: int(req.GetReplicationFactor()),
		RetentionMs: unlimited(req.GetRetentionMs()), RetentionBytes: unlimited(req.GetRetentionBytes()),
		MaxRecordBytes: req.GetMaxRecordBytes(),
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = max(1, min(metadata.DefaultReplicationFactor, activeNodes(s.node.Metadata())))
	}
	st, err := s.node.CreateStream(ctx, c)
	if leader, ok := metaNotLeader(err); ok {
		resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.CreateStreamResponse, error) {
			return sluicev1.NewSluiceClient(cc).CreateStream(ctx, req)
		})
		if err != nil {
			return nil, s.status("CreateStream", err)
		}
		s.waitMetadata(ctx, metaCatchUp, func(v *metadata.View) bool { return v.Stream(req.GetName()) != nil })
		return resp, nil
	}
	if err != nil {
		return nil, s.status("CreateStream", err)
	}
	s.log.Info("rpc: stream created", "stream", st.Name, "partitions", len(st.Partitions), "replication_factor", st.ReplicationFactor)
	leaders := s.leadersOf(ctx, s.node.Metadata(), partitionsOf(st))
	return &sluicev1.CreateStreamResponse{Stream: s.streamOf(st, leaders, nil)}, nil
}

func (a *api) DeleteStream(ctx context.Context, req *sluicev1.DeleteStreamRequest) (*sluicev1.DeleteStreamResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	err := s.node.DeleteStream(ctx, req.GetName())
	if leader, ok := metaNotLeader(err); ok {
		resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.DeleteStreamResponse, error) {
			return sluicev1.NewSluiceClient(cc).DeleteStream(ctx, req)
		})
		if err != nil {
			return nil, s.status("DeleteStream", err)
		}
		s.waitMetadata(ctx, metaCatchUp, func(v *metadata.View) bool { return v.Stream(req.GetName()) == nil })
		return resp, nil
	}
	if err != nil {
		return nil, s.status("DeleteStream", err)
	}
	s.log.Info("rpc: stream deleted", "stream", req.GetName())
	return &sluicev1.DeleteStreamResponse{}, nil
}

func (a *api) AlterStream(ctx context.Context, req *sluicev1.AlterStreamRequest) (*sluicev1.AlterStreamResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	c := metadata.AlterStream{Name: req.GetName()}
	if req.RetentionMs != nil {
		c.RetentionMs = unlimited(req.GetRetentionMs())
	}
	if req.RetentionBytes != nil {
		c.RetentionBytes = unlimited(req.GetRetentionBytes())
	}
	st, err := s.node.AlterStream(ctx, c)
	if leader, ok := metaNotLeader(err); ok {
		resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.AlterStreamResponse, error) {
			return sluicev1.NewSluiceClient(cc).AlterStream(ctx, req)
		})
		if err != nil {
			return nil, s.status("AlterStream", err)
		}
		want := resp.GetStream()
		s.waitMetadata(ctx, metaCatchUp, func(v *metadata.View) bool {
			st := v.Stream(req.GetName())
			return st == nil || st.RetentionMs == want.GetRetentionMs() && st.RetentionBytes == want.GetRetentionBytes()
		})
		return resp, nil
	}
	if err != nil {
		return nil, s.status("AlterStream", err)
	}
	leaders := s.leadersOf(ctx, s.node.Metadata(), partitionsOf(st))
	return &sluicev1.AlterStreamResponse{Stream: s.streamOf(st, leaders, nil)}, nil
}

// producerIDs is the block of producer ids this node hands out.
type producerIDs struct {
	sem       chan struct{} // cap 1: held to use or refill the block
	next, end int64         // the ids [next, end) are left. Protected by sem.
}

func (a *api) InitProducer(ctx context.Context, _ *sluicev1.InitProducerRequest) (*sluicev1.InitProducerResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	id, err := s.nextProducerID(ctx)
	if err != nil {
		return nil, s.status("InitProducer", err)
	}
	return &sluicev1.InitProducerResponse{ProducerId: id, ProducerEpoch: 0}, nil
}

// nextProducerID hands out the next id of the node's block, taking a new
// block from the metadata group when it is used up.
func (s *service) nextProducerID(ctx context.Context) (int64, error) {
	select {
	case s.pids.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.pids.sem }()
	if s.pids.next >= s.pids.end {
		b, err := s.allocateProducerIDs(ctx)
		if err != nil {
			return 0, err
		}
		s.pids.next, s.pids.end = b.First, b.End()
	}
	id := s.pids.next
	s.pids.next++
	return id, nil
}

// allocateProducerIDs takes a block from the metadata group: here when
// this node leads it, from the leader (SluiceInternal) otherwise.
func (s *service) allocateProducerIDs(ctx context.Context) (metadata.ProducerIDBlock, error) {
	b, err := s.node.AllocateProducerIDs(ctx, producerIDBlock)
	leader, ok := metaNotLeader(err)
	if !ok {
		return b, err
	}
	resp, err := forward(s, ctx, "metadata group", leader, func(ctx context.Context, cc *grpc.ClientConn) (*sluicev1.AllocateProducerIDsResponse, error) {
		return sluicev1.NewSluiceInternalClient(cc).AllocateProducerIDs(ctx, &sluicev1.AllocateProducerIDsRequest{Count: producerIDBlock})
	})
	if err != nil {
		return metadata.ProducerIDBlock{}, err
	}
	if resp.GetFirst() < 0 || resp.GetCount() <= 0 || resp.GetCount() > metadata.MaxProducerIDBlock {
		return metadata.ProducerIDBlock{}, fmt.Errorf("rpc: metadata leader %s answered a bad producer id block [%d, +%d)",
			leader, resp.GetFirst(), resp.GetCount())
	}
	return metadata.ProducerIDBlock{First: resp.GetFirst(), Count: resp.GetCount()}, nil
}

// AllocateProducerIDs hands a block to another node; only the metadata
// leader answers, and it does not forward.
func (a *internalAPI) AllocateProducerIDs(ctx context.Context, req *sluicev1.AllocateProducerIDsRequest) (*sluicev1.AllocateProducerIDsResponse, error) {
	s := a.svc
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	b, err := s.node.AllocateProducerIDs(ctx, req.GetCount())
	if leader, ok := metaNotLeader(err); ok {
		err = s.notLeader("metadata group", leader)
	}
	if err != nil {
		return nil, s.status("AllocateProducerIDs", err)
	}
	return &sluicev1.AllocateProducerIDsResponse{First: b.First, Count: b.Count}, nil
}
