package client

import (
	"context"
	"fmt"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// groupCall runs a consumer-group request on any node (it forwards to the
// coordinator), retrying with backoff until ctx ends while the cluster
// cannot answer yet (an election, a node starting, no node reachable).
// When ctx ends the error wraps ctx's error and the last failure.
func (c *Client) groupCall(ctx context.Context, call func(context.Context, sluicev1.SluiceClient) error) error {
	var last error
	for attempt := 1; ; attempt++ {
		err := c.anyNode(ctx, call)
		if err == nil {
			return nil
		}
		if !retriableGroup(err) {
			if ctx.Err() != nil && last != nil {
				return fmt.Errorf("%w (last error: %w)", err, last)
			}
			return err
		}
		last = err
		if err := sleepCtx(ctx, c.backoff(attempt)); err != nil {
			return fmt.Errorf("%w (last error: %w)", err, last)
		}
	}
}

// retriableGroup reports whether a group request that failed with err may
// succeed if sent again: the cluster is electing, starting or stopping,
// did not answer, or says so.
func retriableGroup(err error) bool {
	e := asError(err)
	if e == nil {
		return false
	}
	switch e.Code {
	case CodeNotLeader, CodeNoLeader, CodeUnavailable, CodeTimeout:
		return true
	}
	return e.Retriable || e.conn
}

// codeOf returns the Code of err, or CodeUnspecified.
func codeOf(err error) Code {
	if e := asError(err); e != nil {
		return e.Code
	}
	return CodeUnspecified
}

// detailError converts a per-partition error of the wire.
func detailError(d *sluicev1.ErrorDetail, msg string) *Error {
	return &Error{Code: Code(d.GetCode()), Retriable: d.GetRetriable(), LeaderID: d.GetLeaderId(),
		LeaderAddr: d.GetLeaderAddr(), Msg: msg}
}

// toWireParts groups partitions by stream, in the order given.
func toWireParts(parts []StreamPartition) []*sluicev1.StreamPartitions {
	var out []*sluicev1.StreamPartitions
	idx := map[string]int{}
	for _, sp := range parts {
		i, ok := idx[sp.Stream]
		if !ok {
			i = len(out)
			idx[sp.Stream] = i
			out = append(out, &sluicev1.StreamPartitions{Stream: sp.Stream})
		}
		out[i].Partitions = append(out[i].Partitions, sp.Partition)
	}
	return out
}

// fromWireParts lists the partitions of the wire, in order.
func fromWireParts(sps []*sluicev1.StreamPartitions) []StreamPartition {
	return sortedKeys(partSet(sps))
}

// partSet returns the partitions of the wire as a set.
func partSet(sps []*sluicev1.StreamPartitions) map[StreamPartition]struct{} {
	out := map[StreamPartition]struct{}{}
	for _, s := range sps {
		for _, p := range s.GetPartitions() {
			out[StreamPartition{s.GetStream(), p}] = struct{}{}
		}
	}
	return out
}
