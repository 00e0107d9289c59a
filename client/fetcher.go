package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
)

// run is the goroutine of fetcher f: it resolves the start offset, then
// reads from the partition's leader until ctx ends or an error that a
// retry cannot fix. pos, the next offset to read, only moves past records
// that were queued for Poll, so a retry after any failure (a leader
// change, a lost connection) neither skips nor repeats a record.
func (k *Consumer) run(ctx context.Context, f *fetcher, at StartAt) {
	pos := int64(-1) // unresolved
	attempt := 0
	for ctx.Err() == nil {
		before := pos
		var err error
		switch {
		case pos < 0:
			pos, err = k.resolve(ctx, f.key, at)
			if err != nil {
				pos = -1
			}
		case k.cfg.Follow:
			err = k.follow(ctx, f, &pos)
		default:
			err = k.fetch(ctx, f, &pos)
		}
		if pos != before {
			attempt = 0
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, ErrOffsetOutOfRange) && k.cfg.OffsetReset != ResetNone {
			at, pos = Earliest(), -1
			if k.cfg.OffsetReset == ResetLatest {
				at = Latest()
			}
			continue
		}
		if !transient(err) {
			k.push(ctx, f, fetchResult{err: fmt.Errorf("stream %q partition %d: %w", f.key.stream, f.key.part, err)})
			return
		}
		attempt++
		if e := asError(err); attempt == 1 && e.Code == CodeNotLeader && e.LeaderAddr != "" {
			continue // the hint is recorded: go straight to the leader
		}
		if sleepCtx(ctx, k.c.backoff(attempt)) != nil {
			return
		}
	}
}

// resolve turns at into an offset, asking the leader when needed.
func (k *Consumer) resolve(ctx context.Context, key sinkKey, at StartAt) (int64, error) {
	req := &sluicev1.ListOffsetsRequest{Stream: key.stream, Partition: key.part}
	switch at.kind {
	case startOffset:
		return at.offset, nil
	case startLatest:
		req.Spec = sluicev1.OffsetSpec_OFFSET_SPEC_LATEST
	case startTime:
		req.Spec, req.TimestampMs = sluicev1.OffsetSpec_OFFSET_SPEC_TIMESTAMP, at.time.UnixMilli()
	default:
		req.Spec = sluicev1.OffsetSpec_OFFSET_SPEC_EARLIEST
	}
	var resp *sluicev1.ListOffsetsResponse
	err := k.c.onLeader(ctx, key.stream, key.part, k.c.cfg.RequestTimeout, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ListOffsets(ctx, req)
		return err
	})
	if err != nil {
		return -1, err
	}
	if resp.GetOffset() < 0 {
		return -1, &Error{Code: CodeInternal, Msg: fmt.Sprintf("ListOffsets answered offset %d", resp.GetOffset())}
	}
	return resp.GetOffset(), nil
}

// fetch reads once from *pos, waiting up to MaxWait for records, and
// queues what it read.
func (k *Consumer) fetch(ctx context.Context, f *fetcher, pos *int64) error {
	req := &sluicev1.FetchRequest{Stream: f.key.stream, Partition: f.key.part, Offset: *pos, Filter: k.cfg.Filter,
		MaxBytes: int32(k.cfg.FetchBytes), MaxWaitMs: int32(k.cfg.MaxWait.Milliseconds())}
	var resp *sluicev1.FetchResponse
	timeout := k.c.cfg.RequestTimeout + k.cfg.MaxWait
	err := k.c.onLeader(ctx, f.key.stream, f.key.part, timeout, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.Fetch(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	return k.deliver(ctx, f, pos, resp.GetBatches())
}

// follow reads from *pos with a Follow stream until it ends, queueing
// what arrives.
func (k *Consumer) follow(ctx context.Context, f *fetcher, pos *int64) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr := k.c.leaderAddr(f.key.stream, f.key.part)
	if addr == "" {
		addr = k.c.candidates()[0]
	}
	api, err := k.c.api(addr)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		err = fromRPC(ctx, addr, err)
		k.c.noteFailure(ctx, f.key.stream, f.key.part, err)
		return err
	}
	stream, err := api.Follow(sctx, &sluicev1.FollowRequest{Stream: f.key.stream, Partition: f.key.part, Filter: k.cfg.Filter,
		Offset: *pos, MaxBytes: int32(k.cfg.FetchBytes)})
	if err != nil {
		return fail(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return &Error{Code: CodeUnavailable, Retriable: true, Msg: addr + ": follow stream ended", conn: true}
		}
		if err != nil {
			return fail(err)
		}
		if err := k.deliver(ctx, f, pos, resp.GetBatches()); err != nil {
			return err
		}
	}
}

// deliver decodes the batches of one response from *pos, queues the
// records and moves *pos past them.
func (k *Consumer) deliver(ctx context.Context, f *fetcher, pos *int64, b []byte) error {
	recs, next, err := decodeBatches(f.key, b, *pos, k.cfg.MaxDecompressedBytes)
	if err != nil {
		return err
	}
	// With a filter, a response may hold no records but move past some:
	// queue it too, so that the position (and what a group commits) does.
	if (len(recs) > 0 || k.cfg.Filter != "" && next > *pos) && !k.push(ctx, f, fetchResult{recs: recs, next: next}) {
		return ctx.Err()
	}
	*pos = next
	return nil
}

// decodeBatches decodes the whole batches at the start of b, keeping the
// records at or after from (the first batch may begin below it), and
// returns them with the offset after the last batch. Control batches are
// skipped; a truncated batch at the end is ignored (it comes again whole).
// Records alias b, or a buffer of their own for compressed batches.
func decodeBatches(key sinkKey, b []byte, from int64, maxDecompressed int) ([]Record, int64, error) {
	var out []Record
	var scratch []batch.Record
	next := from
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if errors.Is(err, batch.ErrTruncated) {
			break
		}
		if err != nil {
			return nil, from, corrupt(key, next, err)
		}
		size := h.Size()
		if size > len(b) {
			break
		}
		// The base offset is outside the CRC: offsets below 0, or up to
		// MaxInt64 (the position after them would wrap), are corrupt.
		if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-1-int64(h.LastOffsetDelta) {
			return nil, from, corrupt(key, h.BaseOffset, fmt.Errorf("%w: offsets %d+%d out of range",
				batch.ErrCorrupt, h.BaseOffset, h.LastOffsetDelta))
		}
		if h.LastOffset() >= from && !h.Control() {
			scratch, err = batch.DecodeRecords(b[:size], scratch[:0], maxDecompressed)
			if err != nil {
				return nil, from, corrupt(key, h.BaseOffset, err)
			}
			for i := range scratch {
				if scratch[i].Offset >= from {
					out = append(out, fromBatch(key.stream, key.part, &scratch[i]))
				}
			}
		}
		next = max(next, h.LastOffset()+1)
		b = b[size:]
	}
	return out, next, nil
}

// corrupt is the error of a batch from the server that does not decode.
func corrupt(key sinkKey, offset int64, err error) error {
	return &Error{Code: CodeInvalidBatch,
		Msg: fmt.Sprintf("stream %q partition %d: batch at offset %d does not decode: %v", key.stream, key.part, offset, err)}
}
