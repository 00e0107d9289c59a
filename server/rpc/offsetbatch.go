package rpc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
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

// offsetBatcher queues commits per (node, group, incarnation,
// generation).
type offsetBatcher struct {
	mu    sync.Mutex
	lanes map[offsetLane]*laneQueue // Protected by mu.
}

type offsetLane struct {
	node        string
	group       string
	incarnation uint64
	generation  int32
}

type laneQueue struct {
	inflight int // turns held
	queue    []*forwardItem
}

// maxForwardsInFlight bounds the merged calls of one lane in flight.
// Measured: 4 was no faster than 1 (one call takes what queued meanwhile).
const maxForwardsInFlight = 1

// forwardItem is one caller's share. Its caller waits on wake, signalled
// once: when its results are in, or when it is its turn to send.
type forwardItem struct {
	req  *sluicev1.PartitionOffsetsRequest
	wake chan struct{}
	turn bool // Protected by offsetBatcher.mu
	done bool // set before wake
	res  []*sluicev1.PartitionOffset
}

// commitOn sends req (a COMMIT) to node through the batcher.
func (s *service) commitOn(ctx context.Context, node string, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	b := &s.offsetBatch
	lane := offsetLane{node: node, group: req.GetGroup(), incarnation: req.GetIncarnation(), generation: req.GetGeneration()}
	it := &forwardItem{req: req, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	q := b.lanes[lane]
	if q == nil {
		q = &laneQueue{}
		b.lanes[lane] = q
	}
	q.queue = append(q.queue, it)
	if q.inflight < maxForwardsInFlight {
		q.inflight++
		it.turn = true
	}
	lead := it.turn
	b.mu.Unlock()
	if !lead {
		select {
		case <-it.wake:
		case <-ctx.Done():
			b.mu.Lock()
			if i := slices.Index(q.queue, it); i >= 0 && !it.turn {
				q.queue = slices.Delete(q.queue, i, i+1) // never sent
				b.mu.Unlock()
				return s.failOffsets(req, ctx.Err())
			}
			b.mu.Unlock()
			<-it.wake // sent, or handed the turn: see it through
		}
	}
	if !it.done {
		s.sendLane(ctx, lane, q, it)
	}
	return it.res
}

// sendLane sends what lane's queue holds (the caller's own share among it)
// as one call, answers every share, and hands the turn on.
func (s *service) sendLane(ctx context.Context, lane offsetLane, q *laneQueue, own *forwardItem) {
	b := &s.offsetBatch
	b.mu.Lock()
	batch := []*forwardItem{own}
	n := len(own.req.GetOffsets())
	q.queue = slices.DeleteFunc(q.queue, func(it *forwardItem) bool {
		switch {
		case it == own:
			return true
		case !it.turn && n+len(it.req.GetOffsets()) <= maxForwardEntries:
			batch = append(batch, it)
			n += len(it.req.GetOffsets())
			return true
		}
		return false
	})
	b.mu.Unlock()

	merged := &sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT,
		Group: lane.group, Incarnation: lane.incarnation, Generation: lane.generation, Offsets: make([]*sluicev1.OffsetCommit, 0, n)}
	for _, it := range batch {
		merged.Offsets = append(merged.Offsets, it.req.GetOffsets()...)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forwardTimeout)
	res := s.callOffsets(cctx, lane.node, merged)
	cancel()
	at := 0
	for _, it := range batch {
		k := len(it.req.GetOffsets())
		it.res = res[at : at+k]
		at += k
		it.done = true
	}
	b.mu.Lock()
	var next *forwardItem
	if i := slices.IndexFunc(q.queue, func(it *forwardItem) bool { return !it.turn }); i >= 0 {
		next = q.queue[i]
		next.turn = true
	} else if q.inflight--; q.inflight == 0 && len(q.queue) == 0 {
		delete(b.lanes, lane)
	}
	b.mu.Unlock()
	for _, it := range batch[1:] {
		it.wake <- struct{}{}
	}
	if next != nil {
		next.wake <- struct{}{}
	}
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
