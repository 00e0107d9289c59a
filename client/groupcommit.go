package client

import (
	"context"
	"fmt"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// Commit commits, for each owned partition, the offset after the last
// record Poll returned (partitions whose position is already committed
// are left out). It blocks until the coordinator answered or ctx ends,
// retrying through elections. Errors as CommitOffsets; ErrClosed after
// Close (a callback that Close runs may still commit).
func (g *GroupConsumer) Commit(ctx context.Context) error {
	if g.stopped() {
		return ErrClosed
	}
	return g.commitPositions(ctx, nil)
}

// stopped reports whether Close has ended the membership (commits from
// OnRevoked during Close are still taken).
func (g *GroupConsumer) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// CommitOffsets commits the given offsets: each the NEXT offset to read
// from its partition (the last processed + 1). The member must own the
// partitions. It blocks until the coordinator answered or ctx ends,
// retrying through elections; on ErrStaleGeneration it learns the
// generation with a heartbeat and commits the partitions it still owns
// once more. A refused partition fails the call with an error that names
// it and wraps the coordinator's *Error (ErrNotAssigned for a partition
// the member does not own, ErrUnknownMember once the member was removed);
// the other partitions are committed all the same. The map is not kept.
func (g *GroupConsumer) CommitOffsets(ctx context.Context, offsets map[StreamPartition]int64) error {
	for sp, off := range offsets {
		if off < 0 {
			return &Error{Code: CodeInvalidArgument,
				Msg: fmt.Sprintf("group %q: negative offset %d for stream %q partition %d", g.cfg.Group, off, sp.Stream, sp.Partition)}
		}
	}
	if g.stopped() {
		return ErrClosed
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := g.acquireCommit(ctx); err != nil {
		return err
	}
	defer g.releaseCommit()
	return g.sendCommits(ctx, offsets)
}

// commitPositions commits the positions of parts (nil: every owned
// partition) that moved since their last commit.
func (g *GroupConsumer) commitPositions(ctx context.Context, parts []StreamPartition) error {
	if err := g.acquireCommit(ctx); err != nil {
		return err
	}
	defer g.releaseCommit()
	// The positions are read in turn, so a commit that waited for an
	// earlier one sends the newer positions, and never older ones after
	// newer.
	g.mu.Lock()
	if parts == nil {
		parts = sortedKeys(g.mu.owned)
	}
	offsets := map[StreamPartition]int64{}
	for _, sp := range parts {
		if _, ok := g.mu.owned[sp]; !ok {
			continue
		}
		if pos, ok := g.mu.delivered[sp]; ok && pos != g.mu.committed[sp] {
			offsets[sp] = pos
		}
	}
	g.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	return g.sendCommits(ctx, offsets)
}

func (g *GroupConsumer) acquireCommit(ctx context.Context) error {
	select {
	case g.commitSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *GroupConsumer) releaseCommit() { <-g.commitSem }

// sendCommits commits offsets, its caller holding the commit turn: it
// retries what the cluster cannot answer yet until ctx ends, and what
// failed with a stale generation once, after a heartbeat, for the
// partitions still owned. The error is that of the first partition (in
// order) that failed.
func (g *GroupConsumer) sendCommits(ctx context.Context, offsets map[StreamPartition]int64) error {
	left := sortedKeys(offsets)
	staleRetried := false
	var notOwned error // a stale commit of a partition released before the retry
	for attempt := 0; len(left) > 0; {
		g.mu.Lock()
		memberID, generation, fatal := g.mu.memberID, g.mu.generation, g.mu.fatal
		g.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if memberID == "" {
			return &Error{Code: CodeUnknownMember, Msg: fmt.Sprintf("group %q: not a member now (joining again)", g.cfg.Group)}
		}
		req := &sluicev1.CommitOffsetsRequest{Group: g.cfg.Group, MemberId: memberID, Generation: generation}
		for _, sp := range left {
			req.Offsets = append(req.Offsets, &sluicev1.OffsetCommit{Stream: sp.Stream, Partition: sp.Partition, Offset: offsets[sp]})
		}
		var resp *sluicev1.CommitOffsetsResponse
		err := g.c.anyNode(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
			resp, err = api.CommitOffsets(ctx, req)
			return err
		})
		var stale, retry []StreamPartition
		var staleErr, retryErr error
		switch {
		case err == nil:
			results := make(map[StreamPartition]*sluicev1.CommitOffsetResult, len(resp.GetResults()))
			for _, r := range resp.GetResults() {
				results[StreamPartition{r.GetStream(), r.GetPartition()}] = r
			}
			for _, sp := range left {
				r := results[sp]
				if r == nil {
					return partitionError(sp, &Error{Code: CodeInternal, Msg: "CommitOffsets answered nothing for it"})
				}
				if r.GetError() == nil {
					g.noteCommitted(sp, offsets[sp])
					continue
				}
				e := detailError(r.GetError(), r.GetErrorMessage())
				switch {
				case e.Code == CodeStaleGeneration:
					stale, staleErr = append(stale, sp), partitionError(sp, e)
				case retriableGroup(e):
					retry, retryErr = append(retry, sp), partitionError(sp, e)
				default:
					return partitionError(sp, e)
				}
			}
		case codeOf(err) == CodeStaleGeneration:
			stale, staleErr = left, err
		case retriableGroup(err):
			retry, retryErr = left, err
		default:
			return fmt.Errorf("group %q: commit: %w", g.cfg.Group, err)
		}
		if len(stale) > 0 {
			if staleRetried {
				return staleErr
			}
			staleRetried = true
			if err := g.awaitHeartbeat(ctx); err != nil {
				return fmt.Errorf("%w (learning the generation: %w)", staleErr, err)
			}
			g.mu.Lock()
			for _, sp := range stale {
				if _, ok := g.mu.owned[sp]; ok {
					retry = append(retry, sp)
				} else if notOwned == nil {
					notOwned = partitionError(sp, &Error{Code: CodeStaleGeneration,
						Msg: "stale generation, and the partition was released before the retry"})
				}
			}
			g.mu.Unlock()
			sortParts(retry)
			left = retry
			continue
		}
		left = retry
		if len(left) > 0 {
			attempt++
			if err := sleepCtx(ctx, g.c.backoff(attempt)); err != nil {
				return fmt.Errorf("group %q: commit: %w (last error: %w)", g.cfg.Group, err, retryErr)
			}
		}
	}
	return notOwned
}

// noteCommitted records a committed position of an owned partition.
func (g *GroupConsumer) noteCommitted(sp StreamPartition, off int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.mu.owned[sp]; ok {
		g.mu.committed[sp] = off
	}
}

// awaitHeartbeat has the heartbeat loop send a heartbeat at once and
// waits for its answer (which carries the current generation). It fails
// when the membership is lost meanwhile.
func (g *GroupConsumer) awaitHeartbeat(ctx context.Context) error {
	g.mu.Lock()
	want, inc := g.mu.hbSent+1, g.mu.incarnation
	g.mu.urgent = true
	g.mu.Unlock()
	g.kick()
	for {
		g.mu.Lock()
		answered := g.mu.hbAnswered >= want
		gone := g.mu.incarnation != inc || g.mu.lost || g.mu.memberID == ""
		fatal, ch := g.mu.fatal, g.mu.hbCh
		g.mu.Unlock()
		switch {
		case answered:
			return nil
		case fatal != nil:
			return fatal
		case gone:
			return &Error{Code: CodeUnknownMember, Msg: fmt.Sprintf("group %q: the membership was lost", g.cfg.Group)}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-g.stop:
			return ErrClosed
		}
	}
}

// partitionError names the partition a per-partition error is about.
func partitionError(sp StreamPartition, err error) error {
	return fmt.Errorf("stream %q partition %d: %w", sp.Stream, sp.Partition, err)
}
