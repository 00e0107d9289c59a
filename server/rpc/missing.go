package rpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/metadata"
)

// A node's metadata trails the metadata leader's: right after a restart,
// or for a moment after a stream or queue is created through another
// node. A request naming something this node does not know is checked
// with the metadata leader before it is refused for good, so that a name
// that exists gets a retriable answer (or a short wait) instead of a
// final UNKNOWN_STREAM or UNKNOWN_QUEUE. A name nobody knows costs one
// call to the leader.

// errCatchingUp reports a name the metadata leader knows and this node
// does not yet: retriable.
var errCatchingUp = fmt.Errorf("%w: this node's metadata is catching up with the metadata leader's", ErrUnavailable)

// confirmMissing decides about a stream (queue false) or queue (queue
// true) named in a request that this node's metadata lacks. It returns
// nil when the node has caught up meanwhile (the caller looks again),
// notFound when the metadata leader does not know the name either, and a
// retriable error otherwise (the leader knows it, or cannot be asked).
func (s *service) confirmMissing(ctx context.Context, notFound error, name string, queue bool) error {
	known := func(v *metadata.View) bool {
		if queue {
			return v.Queue(name) != nil
		}
		return v.Stream(name) != nil
	}
	if s.node.MetadataLeader() || isForwarded(ctx) {
		return notFound
	}
	exists, err := forward(s, ctx, "metadata group", s.node.MetadataLeaderID(), func(ctx context.Context, cc *grpc.ClientConn) (bool, error) {
		api := sluicev1.NewSluiceClient(cc)
		if queue {
			resp, err := api.ListQueues(ctx, &sluicev1.ListQueuesRequest{})
			if err != nil {
				return false, err
			}
			for _, q := range resp.GetQueues() {
				if q.GetName() == name {
					return true, nil
				}
			}
			return false, nil
		}
		_, err := api.DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: name})
		if codeOfErr(err) == sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM {
			return false, nil
		}
		return err == nil, err
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w (asking the metadata leader about %q: %w)", errCatchingUp, name, err)
	case !exists:
		return notFound
	case s.waitMetadata(ctx, metaCatchUp, known):
		return nil
	}
	return fmt.Errorf("%w: it knows %q", errCatchingUp, name)
}

// lookupFresh is lookup on this node's metadata, confirming a missing
// stream with the metadata leader (see confirmMissing).
func (s *service) lookupFresh(ctx context.Context, name string, part int32) (*metadata.View, *metadata.Stream, *metadata.Partition, error) {
	v := s.node.Metadata()
	st, p, err := lookup(v, name, part)
	if errors.Is(err, metadata.ErrStreamNotFound) {
		if err = s.confirmMissing(ctx, err, name, false); err == nil {
			v = s.node.Metadata()
			st, p, err = lookup(v, name, part)
		}
	}
	return v, st, p, err
}

// queueFresh is queueOf on this node's metadata, confirming a missing
// queue with the metadata leader (see confirmMissing).
func (s *service) queueFresh(ctx context.Context, name string, part int32) (*metadata.View, *metadata.Queue, *metadata.Partition, error) {
	v := s.node.Metadata()
	q, p, err := queueOf(v, name, part)
	if errors.Is(err, metadata.ErrQueueNotFound) {
		if err = s.confirmMissing(ctx, err, name, true); err == nil {
			v = s.node.Metadata()
			q, p, err = queueOf(v, name, part)
		}
	}
	return v, q, p, err
}
