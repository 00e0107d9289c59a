package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
)

// Committed offsets are written and read on each partition's leader,
// through its raft group. The coordinator (or whichever node runs the
// group call) sends each partition leader its share in one internal
// PartitionOffsets call, all leaders at once, and retries an entry whose
// leader moved (NOT_LEADER with a hint, or an election) a few times within
// the request's deadline.
const (
	offsetAttempts = 4
	offsetBackoff  = 100 * time.Millisecond
	// maxInternalOffsets bounds one internal PartitionOffsets request.
	maxInternalOffsets = 100000
)

// detail returns the wire error of err for a per-partition result.
func (s *service) detail(method string, err error) (*sluicev1.ErrorDetail, string) {
	if d := detailOf(err); d != nil {
		st, _ := status.FromError(err)
		return d, st.Message()
	}
	r, known := classify(err)
	if !known || r.code == sluicev1.ErrorCode_ERROR_CODE_INTERNAL {
		s.log.Error("rpc: unexpected error", "method", method, "err", err)
	}
	d := &sluicev1.ErrorDetail{Code: r.code, Retriable: r.retriable}
	if id := leaderHint(err); id != "" {
		d.LeaderId, d.LeaderAddr = id, s.clientAddr(id)
	}
	return d, err.Error()
}

func (s *service) offsetError(e *sluicev1.OffsetCommit, err error) *sluicev1.PartitionOffset {
	po := &sluicev1.PartitionOffset{Stream: e.GetStream(), Partition: e.GetPartition(), Committed: -1,
		LogStartOffset: -1, HighWatermark: -1, Lag: -1}
	po.Error, po.ErrorMessage = s.detail("PartitionOffsets", err)
	return po
}

// partitionOffsets runs req on the leaders of its entries' partitions and
// returns one result per entry, in order.
func (s *service) partitionOffsets(ctx context.Context, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	out := make([]*sluicev1.PartitionOffset, len(req.GetOffsets()))
	pending := make([]int, len(out))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		v := s.node.Metadata()
		byLeader := map[string][]int{}
		for _, i := range pending {
			e := req.GetOffsets()[i]
			_, p, err := lookup(v, e.GetStream(), e.GetPartition())
			if err != nil {
				out[i] = s.offsetError(e, err)
				continue
			}
			leader := s.leaderOf(ctx, v, p)
			byLeader[leader] = append(byLeader[leader], i)
		}
		var wg sync.WaitGroup
		for leader, idx := range byLeader {
			sub := &sluicev1.PartitionOffsetsRequest{Op: req.GetOp(), Group: req.GetGroup(), Incarnation: req.GetIncarnation(),
				Generation: req.GetGeneration(), ResetSpec: req.GetResetSpec(), TimestampMs: req.GetTimestampMs()}
			for _, i := range idx {
				sub.Offsets = append(sub.Offsets, req.GetOffsets()[i])
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := s.offsetsOn(ctx, leader, sub)
				for j, i := range idx {
					out[i] = res[j]
				}
			}()
		}
		wg.Wait()
		pending = pending[:0]
		if attempt+1 >= offsetAttempts || ctx.Err() != nil {
			break
		}
		for i, po := range out {
			d := po.GetError()
			if d == nil || !d.GetRetriable() {
				continue
			}
			if c := d.GetCode(); c == sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || c == sluicev1.ErrorCode_ERROR_CODE_NO_LEADER {
				e := req.GetOffsets()[i]
				if _, p, err := lookup(v, e.GetStream(), e.GetPartition()); err == nil {
					s.leaders.put(p.ID, d.GetLeaderId(), time.Now())
				}
				pending = append(pending, i)
			}
		}
		if len(pending) > 0 && sleepCtx(ctx, offsetBackoff*time.Duration(attempt+1)) != nil {
			break
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// offsetsOn runs req on node leader (this node when it is, or when no
// leader is known: the local replica then answers NOT_LEADER). Commits to
// another node go through the batcher (offsetbatch.go).
func (s *service) offsetsOn(ctx context.Context, leader string, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	if leader == "" || leader == s.node.ID() || s.clientAddr(leader) == "" {
		return s.localOffsets(ctx, req)
	}
	if req.GetOp() == sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT {
		return s.commitOn(ctx, leader, req)
	}
	return s.callOffsets(ctx, leader, req)
}

// PartitionOffsets runs an offsets request on the partitions this node
// leads (SluiceInternal).
func (a *internalAPI) PartitionOffsets(ctx context.Context, req *sluicev1.PartitionOffsetsRequest) (*sluicev1.PartitionOffsetsResponse, error) {
	s := a.svc
	if n := len(req.GetOffsets()); n > maxInternalOffsets {
		return nil, s.status("PartitionOffsets", fmt.Errorf("%w: offsets: %d entries (at most %d)", ErrInvalidArgument, n, maxInternalOffsets))
	}
	if _, ok := sluicev1.PartitionOffsetsOp_name[int32(req.GetOp())]; !ok {
		return nil, s.status("PartitionOffsets", fmt.Errorf("%w: op %d", ErrInvalidArgument, req.GetOp()))
	}
	if err := checkGroup(req.GetGroup()); err != nil {
		return nil, s.status("PartitionOffsets", err)
	}
	if _, ok := sluicev1.ResetSpec_name[int32(req.GetResetSpec())]; !ok && req.GetOp() == sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_RESET {
		return nil, s.status("PartitionOffsets", fmt.Errorf("%w: reset_spec %d", ErrInvalidArgument, req.GetResetSpec()))
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	return &sluicev1.PartitionOffsetsResponse{Offsets: s.localOffsets(ctx, req)}, nil
}

// localOffsets runs req on this node's replicas, each entry on its own
// goroutine (a commit is a raft round trip).
func (s *service) localOffsets(ctx context.Context, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	if req.GetOp() == sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT {
		return s.localCommits(ctx, req)
	}
	out := make([]*sluicev1.PartitionOffset, len(req.GetOffsets()))
	var wg sync.WaitGroup
	for i, e := range req.GetOffsets() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			po, err := s.localOffset(ctx, req, e)
			if err != nil {
				po = s.offsetError(e, err)
			}
			out[i] = po
		}()
	}
	wg.Wait()
	return out
}

// localCommits commits req's entries on this node's replicas, each
// partition's entries together (one raft entry, see
// partition.Replica.CommitOffsets), the partitions in parallel.
func (s *service) localCommits(ctx context.Context, req *sluicev1.PartitionOffsetsRequest) []*sluicev1.PartitionOffset {
	out := make([]*sluicev1.PartitionOffset, len(req.GetOffsets()))
	v := s.node.Metadata()
	byPart := map[*metadata.Partition][]int{}
	for i, e := range req.GetOffsets() {
		_, p, err := lookup(v, e.GetStream(), e.GetPartition())
		switch {
		case err != nil:
		case e.GetOffset() < 0:
			err = fmt.Errorf("%w: negative offset %d", ErrInvalidArgument, e.GetOffset())
		}
		if err != nil {
			out[i] = s.offsetError(e, err)
			continue
		}
		byPart[p] = append(byPart[p], i)
	}
	var wg sync.WaitGroup
	for p, idx := range byPart {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := s.leaderReplica(ctx, v, p)
			if err != nil {
				for _, i := range idx {
					out[i] = s.offsetError(req.GetOffsets()[i], err)
				}
				return
			}
			cs := make([]partition.OffsetCommit, len(idx))
			for k, i := range idx {
				e := req.GetOffsets()[i]
				cs[k] = partition.OffsetCommit{Group: req.GetGroup(), Incarnation: req.GetIncarnation(),
					Generation: req.GetGeneration(), Offset: e.GetOffset(), Metadata: e.GetMetadata()}
			}
			res, errs := r.CommitOffsets(ctx, cs)
			start, hw := r.LogStartOffset(), r.HighWatermark()
			for k, i := range idx {
				e := req.GetOffsets()[i]
				if errs[k] != nil {
					out[i] = s.offsetError(e, errs[k])
					continue
				}
				out[i] = &sluicev1.PartitionOffset{Stream: e.GetStream(), Partition: e.GetPartition(),
					Committed: res[k].Offset, Metadata: res[k].Metadata, CommitTimeMs: res[k].CommitTime,
					LogStartOffset: start, HighWatermark: hw, Lag: max(0, hw-res[k].Offset)}
			}
		}()
	}
	wg.Wait()
	return out
}

func (s *service) localOffset(ctx context.Context, req *sluicev1.PartitionOffsetsRequest, e *sluicev1.OffsetCommit) (*sluicev1.PartitionOffset, error) {
	v := s.node.Metadata()
	_, p, err := lookup(v, e.GetStream(), e.GetPartition())
	if err != nil {
		return nil, err
	}
	r, _, err := s.leaderReplica(ctx, v, p)
	if err != nil {
		return nil, err
	}
	commit := func(offset int64) error {
		_, err := r.CommitOffset(ctx, partition.OffsetCommit{Group: req.GetGroup(), Incarnation: req.GetIncarnation(),
			Generation: req.GetGeneration(), Offset: offset, Metadata: e.GetMetadata()})
		return err
	}
	switch req.GetOp() {
	case sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT:
		if e.GetOffset() < 0 {
			return nil, fmt.Errorf("%w: negative offset %d", ErrInvalidArgument, e.GetOffset())
		}
		err = commit(e.GetOffset())
	case sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_RESET:
		var off int64
		if off, err = resolveReset(r, req, e); err == nil {
			err = commit(off)
		}
	case sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_DELETE:
		err = r.DeleteGroupOffsets(ctx, req.GetGroup(), req.GetIncarnation())
	case sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_READ:
	default:
		err = fmt.Errorf("%w: op %d", ErrInvalidArgument, req.GetOp())
	}
	if err != nil {
		return nil, err
	}
	po := &sluicev1.PartitionOffset{Stream: e.GetStream(), Partition: e.GetPartition(), Committed: -1,
		LogStartOffset: r.LogStartOffset(), HighWatermark: r.HighWatermark(), Lag: -1}
	if co, ok := r.CommittedOffset(req.GetGroup()); ok && co.Incarnation >= req.GetIncarnation() {
		po.Committed, po.Metadata, po.CommitTimeMs = co.Offset, co.Metadata, co.CommitTime
		po.Lag = max(0, po.HighWatermark-co.Offset)
	}
	return po, nil
}

// resolveReset turns a reset spec into an offset of r's log: earliest,
// latest, the first at or after a time (latest when none), or a given
// offset clamped to the log.
func resolveReset(r *partition.Replica, req *sluicev1.PartitionOffsetsRequest, e *sluicev1.OffsetCommit) (int64, error) {
	start, hw := r.LogStartOffset(), r.HighWatermark()
	switch req.GetResetSpec() {
	case sluicev1.ResetSpec_RESET_SPEC_EARLIEST:
		return start, nil
	case sluicev1.ResetSpec_RESET_SPEC_LATEST:
		return hw, nil
	case sluicev1.ResetSpec_RESET_SPEC_TIMESTAMP:
		off, ok, err := r.OffsetForTimestamp(req.GetTimestampMs())
		switch {
		case err != nil && !errors.Is(err, log.ErrOffsetOutOfRange):
			return 0, err
		case err == nil && ok:
			return off, nil
		}
		return hw, nil
	case sluicev1.ResetSpec_RESET_SPEC_OFFSET:
		if e.GetOffset() < 0 {
			return 0, fmt.Errorf("%w: negative offset %d", ErrInvalidArgument, e.GetOffset())
		}
		return min(max(e.GetOffset(), start), hw), nil
	}
	return 0, fmt.Errorf("%w: reset spec %d", ErrInvalidArgument, req.GetResetSpec())
}
