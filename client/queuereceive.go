package client

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// Receive leases up to max (1 to MaxReceiveMessages) visible messages of
// a queue for its visibility timeout, from all the partitions of its
// stream, waiting up to wait (0 to MaxReceiveWait) for one when there is
// none. It returns what it got, possibly nothing; a message is delivered
// again once its lease ends unless it is acknowledged (Ack).
//
// First it asks each partition once without waiting, starting at a
// partition that rotates from call to call (so that consumers spread
// over the partitions), for what is still missing, until it has max.
// With nothing and wait > 0 it long-polls every partition at once for
// ceil(max/partitions) messages each, and returns as soon as one answers
// with messages (or wait passes): it cancels the others, and nacks at
// once (delay 0) what comes beyond max when several answered together. A
// poll cancelled just as it leased messages leaves them invisible until
// their lease ends (as any lost answer does).
//
// A partition that fails (its leader moving, a node down) is skipped,
// and asked again during the long poll; Receive fails only when it has
// nothing to return: with the error of a request the cluster refused
// (ErrUnknownQueue, ErrInvalidArgument), or of the partitions when none
// answered, or ctx's.
func (c *Client) Receive(ctx context.Context, queue string, max int, wait time.Duration) ([]QueueMessage, error) {
	if max < 1 || max > MaxReceiveMessages {
		return nil, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("receive %d messages: want 1 to %d", max, MaxReceiveMessages)}
	}
	if wait < 0 || wait > MaxReceiveWait {
		return nil, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("receive wait %v outside [0, %v]", wait, MaxReceiveWait)}
	}
	deadline := time.Now().Add(wait)
	stream, err := c.queueStream(ctx, queue)
	if err != nil {
		return nil, err
	}
	sm, err := c.stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("queue %q: %w", queue, err)
	}
	n := len(sm.parts)
	if n == 0 {
		return nil, &Error{Code: CodeUnknownPartition, Msg: fmt.Sprintf("queue %q: stream %q has no partitions", queue, stream)}
	}
	start := int(c.queues.turn.Add(1) % uint32(n))
	var out []QueueMessage
	var failed error // of a partition that did not answer
	answered := false
	for i := 0; i < n && len(out) < max; i++ {
		part := int32((start + i) % n)
		msgs, err := c.receiveFrom(ctx, queue, stream, part, max-len(out), 0)
		switch {
		case err == nil:
			answered = true
			out = append(out, msgs...)
		case ctx.Err() != nil:
			return out, nilIfAny(out, ctx.Err())
		case !transient(err):
			return out, nilIfAny(out, err)
		default:
			failed = err
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if wait <= 0 || time.Until(deadline) <= 0 {
		if !answered {
			return nil, failed
		}
		return nil, nil
	}
	return c.longPoll(ctx, queue, stream, n, start, max, deadline)
}

// nilIfAny returns nil when there are messages to return (they are
// leased: dropping them for an error would hide them for a visibility
// timeout), else err.
func nilIfAny(out []QueueMessage, err error) error {
	if len(out) > 0 {
		return nil
	}
	return err
}

// pollAnswer is the outcome of one partition's long poll.
type pollAnswer struct {
	msgs []QueueMessage
	err  error // nil: the partition answered (with msgs, or none by the deadline)
}

// longPollGrace is how long a long poll waits for the other partitions'
// answers after the first one with messages before cancelling them.
const longPollGrace = 5 * time.Millisecond

// longPoll waits on every partition of the queue's stream at once until
// one has messages or the deadline passes. It owns its goroutines and
// returns after they have all ended.
func (c *Client) longPoll(ctx context.Context, queue, stream string, n, start, max int, deadline time.Time) ([]QueueMessage, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	each := (max + n - 1) / n
	answers := make(chan pollAnswer, n)
	for i := range n {
		part := int32((start + i) % n)
		go func() {
			msgs, err := c.pollPartition(pctx, queue, stream, part, each, deadline)
			answers <- pollAnswer{msgs, err}
		}()
	}
	var out []QueueMessage
	var refused, failed error
	answered := false
	var grace <-chan time.Time // after the first answer with messages
	for got := 0; got < n; {
		var a pollAnswer
		select {
		case a = <-answers:
			got++
		case <-grace:
			cancel() // enough: stop the others
			grace = nil
			continue
		}
		out = append(out, a.msgs...)
		switch {
		case len(a.msgs) > 0:
			// Partitions that woke at the same time answer within
			// moments: a cancelled call loses its answer, and the
			// messages in it stay leased (hidden) for a visibility
			// timeout, so wait a little for them before stopping the
			// others.
			if grace == nil && pctx.Err() == nil {
				t := time.NewTimer(longPollGrace)
				defer t.Stop()
				grace = t.C
			}
		case a.err == nil:
			answered = true
		case pctx.Err() != nil && ctx.Err() == nil:
			// Cancelled because another partition answered.
		case !transient(a.err):
			if refused == nil {
				refused = a.err
			}
			cancel()
		default:
			failed = a.err
		}
	}
	if len(out) > max {
		c.giveBack(ctx, out[max:])
		out = out[:max]
	}
	switch {
	case len(out) > 0:
		return out, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case refused != nil:
		return nil, refused
	case !answered:
		return nil, failed
	}
	return nil, nil
}

// giveBack nacks messages received beyond what the caller asked for, so
// that they are visible again at once. It is best effort: a message it
// fails to give back is delivered again when its lease ends.
func (c *Client) giveBack(ctx context.Context, msgs []QueueMessage) {
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
	defer cancel()
	_ = c.Nack(nctx, 0, msgs...)
}

// pollPartition long-polls one partition until the deadline, retrying
// what may succeed later (a leader moving, a node down) with backoff. It
// returns no messages and no error when the deadline passed quietly.
func (c *Client) pollPartition(ctx context.Context, queue, stream string, part int32, max int, deadline time.Time) ([]QueueMessage, error) {
	for attempt := 1; ; attempt++ {
		left := max0(time.Until(deadline))
		msgs, err := c.receiveFrom(ctx, queue, stream, part, max, left)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return msgs, err
		}
		left = max0(time.Until(deadline))
		if left == 0 {
			return nil, err
		}
		if sleepCtx(ctx, min(c.backoff(attempt), left)) != nil {
			return nil, err
		}
	}
}

func max0(d time.Duration) time.Duration { return max(d, 0) }

// receiveFrom asks one partition's leader for up to max messages, waiting
// up to wait; once more at once when a node names another leader.
func (c *Client) receiveFrom(ctx context.Context, queue, stream string, part int32, max int, wait time.Duration) ([]QueueMessage, error) {
	req := &sluicev1.ReceiveMessagesRequest{Queue: queue, Partition: part, Max: int32(max),
		WaitMs: int32(wait.Milliseconds())}
	var resp *sluicev1.ReceiveMessagesResponse
	err := c.onLeaderHinted(ctx, stream, part, c.cfg.RequestTimeout+wait, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ReceiveMessages(ctx, req)
		return err
	})
	if err != nil {
		if codeOf(err) == CodeUnknownQueue {
			c.queues.forget(queue)
		}
		return nil, err
	}
	out := make([]QueueMessage, 0, len(resp.GetMessages()))
	for _, m := range resp.GetMessages() {
		out = append(out, toQueueMessage(queue, part, m))
	}
	return out, nil
}

// onLeaderHinted is onLeader, sent once more at once when the node
// answered NOT_LEADER naming the leader (which onLeader recorded).
func (c *Client) onLeaderHinted(ctx context.Context, stream string, part int32, timeout time.Duration,
	call func(context.Context, sluicev1.SluiceClient) error) error {
	err := c.onLeader(ctx, stream, part, timeout, call)
	if e := asError(err); e != nil && e.Code == CodeNotLeader && e.LeaderAddr != "" && ctx.Err() == nil {
		err = c.onLeader(ctx, stream, part, timeout, call)
	}
	return err
}
