package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// Reads are served by the partition's leader once it is Ready (its
// barrier applied every entry of earlier terms, so its high watermark is
// current); any other node answers NOT_LEADER with the hint.
const (
	defaultFetchBytes = 1 << 20
	maxFetchBytes     = 16 << 20
	// maxFetchWait bounds a long poll.
	maxFetchWait = time.Minute
	// followCheck is how often a Follow stream with nothing to send checks
	// that this node still leads.
	followCheck = 250 * time.Millisecond
)

// leaderReplica returns this node's replica of p if it leads p and is
// ready to serve reads, else the error to answer.
func (s *service) leaderReplica(ctx context.Context, v *metadata.View, p *metadata.Partition) (*partition.Replica, *replication.Group, error) {
	r, g := s.node.Partition(p.ID)
	what := fmt.Sprintf("stream %q partition %d", p.Stream, p.Index)
	switch {
	case g != nil && g.Ready():
		return r, g, nil
	case g != nil && g.IsLeader():
		return nil, nil, fmt.Errorf("%s: %w: elected, catching up", what, ErrNoLeader)
	}
	return nil, nil, s.notLeader(what, s.leaderOf(ctx, v, p))
}

func fetchBytes(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: max_bytes %d", ErrInvalidArgument, n)
	case n == 0:
		return defaultFetchBytes, nil
	}
	return min(int(n), maxFetchBytes), nil
}

// checkOffset refuses an offset below the log start or above the high
// watermark (the high watermark itself is the place to wait for more).
func checkOffset(r *partition.Replica, offset int64) error {
	start, hw := r.LogStartOffset(), r.HighWatermark()
	if offset < start || offset > hw {
		return &log.OffsetOutOfRangeError{Offset: offset, Start: start, End: hw}
	}
	return nil
}

// nextOffset returns the offset after the last record of the whole
// batches in b, or from when there are none.
func nextOffset(b []byte, from int64) int64 {
	next := from
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		next = max(next, h.LastOffset()+1)
		b = b[h.Size():]
	}
	return next
}

// fetchFilter parses a fetch's filter: nil for none.
func fetchFilter(text string) (*consumergroup.Filter, error) {
	if text == "" {
		return nil, nil
	}
	return consumergroup.ParseFilter(text)
}

// maxFilterDecompressed bounds the records of one compressed batch a
// filtered fetch decodes (as a queue's receive does).
const maxFilterDecompressed = 96 << 20

// filterBatches returns the whole batches of b with only the records at
// or after from that f accepts (see batch.AppendFiltered): the same
// batches, offsets and next offset, without the records f rejects.
func filterBatches(b []byte, f *consumergroup.Filter, from int64) ([]byte, error) {
	keep := func(r *batch.Record) bool {
		return r.Offset >= from && f.Match(r.Key, func(name string) ([]byte, bool) {
			for _, h := range r.Headers {
				if h.Key == name {
					return h.Value, true
				}
			}
			return nil, false
		})
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err == nil && h.Size() > len(b) {
			err = batch.ErrTruncated
		}
		if err != nil {
			return nil, fmt.Errorf("filtering the batch at %d: %w", h.BaseOffset, err)
		}
		if out, _, err = batch.AppendFiltered(out, b[:h.Size()], keep, maxFilterDecompressed); err != nil {
			return nil, fmt.Errorf("filtering the batch at %d: %w", h.BaseOffset, err)
		}
		b = b[h.Size():]
	}
	return out, nil
}

func (a *api) Fetch(ctx context.Context, req *sluicev1.FetchRequest) (*sluicev1.FetchResponse, error) {
	s := a.svc
	start := time.Now()
	resp, err := s.fetch(ctx, req)
	if err != nil {
		err = s.status("Fetch", err)
	}
	s.metrics.observeFetch(start, len(resp.GetBatches()), err)
	return resp, err
}

func (s *service) fetch(ctx context.Context, req *sluicev1.FetchRequest) (*sluicev1.FetchResponse, error) {
	v, _, p, err := s.lookupFresh(ctx, req.GetStream(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	maxBytes, err := fetchBytes(req.GetMaxBytes())
	if err != nil {
		return nil, err
	}
	if req.GetMaxWaitMs() < 0 {
		return nil, fmt.Errorf("%w: max_wait_ms %d", ErrInvalidArgument, req.GetMaxWaitMs())
	}
	f, err := fetchFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	r, _, err := s.leaderReplica(ctx, v, p)
	if err != nil {
		return nil, err
	}
	if err := checkOffset(r, req.GetOffset()); err != nil {
		return nil, err
	}
	wait := min(time.Duration(req.GetMaxWaitMs())*time.Millisecond, maxFetchWait)
	fctx, cancel := s.untilStop(ctx)
	defer cancel()
	fctx, cancelWait := context.WithTimeout(fctx, wait) // 0: already over, do not wait
	defer cancelWait()
	b, err := r.Fetch(fctx, nil, req.GetOffset(), maxBytes)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	next := nextOffset(b, req.GetOffset())
	if f != nil && len(b) > 0 {
		if b, err = filterBatches(b, f, req.GetOffset()); err != nil {
			return nil, err
		}
	}
	return &sluicev1.FetchResponse{Batches: b, HighWatermark: r.HighWatermark(), LogStartOffset: r.LogStartOffset(),
		NextOffset: next}, nil
}

// Follow sends what the partition commits from the offset on, one
// message per read (only when there is something to send), until the
// client cancels, the server stops (UNAVAILABLE) or this node's lead
// ends (NOT_LEADER with the hint, or NO_LEADER; checked at least every
// followCheck).
func (a *api) Follow(req *sluicev1.FollowRequest, stream grpc.ServerStreamingServer[sluicev1.FetchResponse]) error {
	s := a.svc
	err := s.follow(req, stream)
	if err != nil {
		err = s.status("Follow", err)
	}
	return err
}

func (s *service) follow(req *sluicev1.FollowRequest, stream grpc.ServerStreamingServer[sluicev1.FetchResponse]) error {
	ctx := stream.Context()
	v, _, p, err := s.lookupFresh(ctx, req.GetStream(), req.GetPartition())
	if err != nil {
		return err
	}
	maxBytes, err := fetchBytes(req.GetMaxBytes())
	if err != nil {
		return err
	}
	f, err := fetchFilter(req.GetFilter())
	if err != nil {
		return err
	}
	r, g, err := s.leaderReplica(ctx, v, p)
	if err != nil {
		return err
	}
	off := req.GetOffset()
	if err := checkOffset(r, off); err != nil {
		return err
	}
	fctx, cancel := s.untilStop(ctx)
	defer cancel()
	term := g.Term()
	for {
		// A leader that lost the lead and won it back (a new term) ends
		// the stream too: the client learns the change and resumes.
		if !g.Ready() || g.Term() != term {
			return s.notLeader(fmt.Sprintf("stream %q partition %d", p.Stream, p.Index), g.Leader().ID)
		}
		wctx, cancelWait := context.WithTimeout(fctx, followCheck)
		b, err := r.Fetch(wctx, nil, off, maxBytes)
		cancelWait()
		switch {
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case fctx.Err() != nil:
			return fmt.Errorf("%w: server stopping", ErrUnavailable)
		case len(b) == 0:
			continue
		}
		next := nextOffset(b, off)
		if f != nil {
			if b, err = filterBatches(b, f, off); err != nil {
				return err
			}
		}
		err = stream.Send(&sluicev1.FetchResponse{Batches: b, HighWatermark: r.HighWatermark(),
			LogStartOffset: r.LogStartOffset(), NextOffset: next})
		s.metrics.observeFollow(len(b), err)
		if err != nil {
			return err
		}
		off = next
	}
}

func (a *api) ListOffsets(ctx context.Context, req *sluicev1.ListOffsetsRequest) (*sluicev1.ListOffsetsResponse, error) {
	s := a.svc
	resp, err := s.listOffsets(ctx, req)
	if err != nil {
		return nil, s.status("ListOffsets", err)
	}
	return resp, nil
}

func (s *service) listOffsets(ctx context.Context, req *sluicev1.ListOffsetsRequest) (*sluicev1.ListOffsetsResponse, error) {
	v, _, p, err := s.lookupFresh(ctx, req.GetStream(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	if _, ok := sluicev1.OffsetSpec_name[int32(req.GetSpec())]; !ok {
		return nil, fmt.Errorf("%w: offset spec %d", ErrInvalidArgument, req.GetSpec())
	}
	r, _, err := s.leaderReplica(ctx, v, p)
	if err != nil {
		return nil, err
	}
	resp := &sluicev1.ListOffsetsResponse{LogStartOffset: r.LogStartOffset(), HighWatermark: r.HighWatermark()}
	switch req.GetSpec() {
	case sluicev1.OffsetSpec_OFFSET_SPEC_EARLIEST:
		resp.Offset = resp.LogStartOffset
	case sluicev1.OffsetSpec_OFFSET_SPEC_LATEST:
		resp.Offset = resp.HighWatermark
	case sluicev1.OffsetSpec_OFFSET_SPEC_TIMESTAMP:
		off, ok, err := r.OffsetForTimestamp(req.GetTimestampMs())
		switch {
		case err != nil && !errors.Is(err, log.ErrOffsetOutOfRange):
			return nil, err
		case err == nil && ok:
			resp.Offset = off
		default:
			resp.Offset = resp.HighWatermark
		}
	default:
		return nil, fmt.Errorf("%w: offset spec %d", ErrInvalidArgument, req.GetSpec())
	}
	return resp, nil
}
