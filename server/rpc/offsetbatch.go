package rpc

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/internal/turns"
	"github.com/sluicedb/sluice/replication"
)

// Offset commits on their way from the coordinator to another node's
// partition leaders share internal calls: while one PartitionOffsets call
// of a group's commits is in flight to a node, the next ones for the same
// node and group generation queue, and the caller whose turn comes next
// sends all of them in one call (callers take turns; no goroutine). A
// group's members commit concurrently, and one call per commit made the
// hop between nodes the bottleneck: measured with 256 single-partition
// commits in flight, partitions led by the coordinator's node took 13,000
// commits/s and the others 6,300.
const (
	// maxForwardEntries bounds the entries of one merged call.
	maxForwardEntries = 4096
	// forwardTimeout bounds a merged call when the caller whose turn it
	// is has no deadline of its own: the call carries others' commits.
	forwardTimeout = 10 * time.Second
)

// offsetLane is a lane of the commit batcher: commits to one node of one
// group generation travel together.
type offsetLane struct {
	node        string
	group       string
	incarnation uint64
	generation  int32
}

// newOffsetBatcher returns the batcher of commits to other nodes.
func newOffsetBatcher() *turns.Batcher[offsetLane, *sluicev1.PartitionOffsetsRequest, []*sluicev1.PartitionOffset] {
	return turns.New[offsetLane, *sluicev1.PartitionOffsetsRequest, []*sluicev1.PartitionOffset](maxForwardEntries,
		func(req *sluicev1.PartitionOffsetsRequest) int { return len(req.GetOffsets()) })
}

// commitOn sends req (a COMMIT) to node through the batcher.
func (s *service) commitOn(ctx context.Context, node string, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	lane := offsetLane{node: node, group: req.GetGroup(), incarnation: req.GetIncarnation(), generation: req.GetGeneration()}
	res, err := s.offsetBatch.Do(ctx, lane, req, s.sendLane)
	if err != nil {
		return s.failOffsets(req, err) // ended while waiting: never sent
	}
	return res
}

// sendLane sends several callers' commits of one lane as one call (the
// batcher's step) and splits the answer.
func (s *service) sendLane(ctx context.Context, lane offsetLane, reqs []*sluicev1.PartitionOffsetsRequest) [][]*sluicev1.PartitionOffset {
	merged := &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT,
		Group: lane.group, Incarnation: lane.incarnation, Generation: lane.generation}
	for _, r := range reqs {
		merged.Offsets = append(merged.Offsets, r.GetOffsets()...)
	}
	cctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	res := s.callOffsets(cctx, lane.node, merged)
	cancel()
	out := make([][]*sluicev1.PartitionOffset, len(reqs))
	at := 0
	for i, r := range reqs {
		k := len(r.GetOffsets())
		out[i] = res[at : at+k]
		at += k
	}
	return out
}

// failOffsets answers every entry of req with err.
func (s *service) failOffsets(req *sluicev1.PartitionOffsetsRequest, err error) []*sluicev1.PartitionOffset {
	out := make([]*sluicev1.PartitionOffset, len(req.GetOffsets()))
	for i, e := range req.GetOffsets() {
		out[i] = s.offsetError(e, err)
	}
	return out
}

// callOffsets sends req to node in one internal call.
func (s *service) callOffsets(ctx context.Context, node string, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	cc, err := s.peers.conn(ctx, s.clientAddr(node))
	if err != nil {
		return s.failOffsets(req, s.notLeader("partition", ""))
	}
	resp, err := sluicev1.NewSluiceInternalClient(cc).PartitionOffsets(ctx, req)
	if err != nil {
		if !hasDetail(err) && req.GetOp() != sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_READ {
			err = fmt.Errorf("%w: offsets sent to %s: %w", replication.ErrOutcomeUnknown, node, err)
		}
		return s.failOffsets(req, err)
	}
	if len(resp.GetOffsets()) != len(req.GetOffsets()) {
		return s.failOffsets(req, fmt.Errorf("rpc: node %s answered %d offsets for %d", node, len(resp.GetOffsets()), len(req.GetOffsets())))
	}
	return resp.GetOffsets()
}
