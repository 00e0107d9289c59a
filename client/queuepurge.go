package client

import (
	"context"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// PurgeQueue deletes every message of the queue sent before the call, in
// flight ones too (as SQS's PurgeQueue), partition by partition on each
// partition's leader, and returns how many were pending. Retriable
// failures are retried until ctx ends.
func (c *Client) PurgeQueue(ctx context.Context, queue string) (int64, error) {
	stream, err := c.queueStream(ctx, queue)
	if err != nil {
		return 0, err
	}
	sm, err := c.stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	var total int64
	for p := range sm.parts {
		for attempt := 1; ; attempt++ {
			var n int64
			err := c.onLeader(ctx, stream, int32(p), c.cfg.RequestTimeout, func(ctx context.Context, api sluicev1.SluiceClient) error {
				resp, err := api.PurgeQueue(ctx, &sluicev1.PurgeQueueRequest{Queue: queue, Partition: int32(p)})
				n = resp.GetPurged()
				return err
			})
			if err == nil {
				total += n
				break
			}
			if !transient(err) {
				return total, err
			}
			if serr := sleepCtx(ctx, c.backoff(attempt)); serr != nil {
				return total, err
			}
		}
	}
	return total, nil
}
