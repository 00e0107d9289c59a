package client

import (
	"context"
	"fmt"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// RedriveQueue moves the queue's dead-lettered messages back to the
// queue's stream, partition by partition of the dead-letter stream on each
// partition's leader, until none is left (those being redriven
// concurrently aside), and returns how many it moved. A moved message is
// a new message: it is visible at once, with a receive count of zero, and
// without the dead-letter headers. Retriable failures are retried until
// ctx ends; a failure after some messages moved returns their number with
// the error.
func (c *Client) RedriveQueue(ctx context.Context, queue string) (int64, error) {
	info, err := c.queueInfo(ctx, queue)
	if err != nil {
		return 0, err
	}
	if info.DeadLetterStream == "" {
		return 0, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("queue %q has no dead-letter stream", queue)}
	}
	dlq := info.DeadLetterStream
	sm, err := c.stream(ctx, dlq)
	if err != nil {
		return 0, err
	}
	var total int64
	for p := range sm.parts {
		for attempt := 1; ; {
			var resp *sluicev1.RedriveQueueResponse
			err := c.onLeaderHinted(ctx, dlq, int32(p), c.cfg.RequestTimeout, func(ctx context.Context, api sluicev1.SluiceClient) error {
				var err error
				resp, err = api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: queue, Partition: int32(p)})
				return err
			})
			if err != nil {
				if !transient(err) {
					return total, err
				}
				if serr := sleepCtx(ctx, c.backoff(attempt)); serr != nil {
					return total, err
				}
				attempt++
				continue
			}
			total += resp.GetMoved()
			if resp.GetMoved() == 0 || resp.GetRemaining() == 0 {
				break
			}
			attempt = 1
		}
	}
	return total, nil
}

// queueInfo returns a queue's settings from the cluster's list.
func (c *Client) queueInfo(ctx context.Context, name string) (QueueInfo, error) {
	if name == "" {
		return QueueInfo{}, &Error{Code: CodeInvalidArgument, Msg: "empty queue name"}
	}
	all, err := c.ListQueues(ctx)
	if err != nil {
		return QueueInfo{}, err
	}
	for _, q := range all {
		if q.Name == name {
			return q, nil
		}
	}
	return QueueInfo{}, unknownQueue(name)
}
