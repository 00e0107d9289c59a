package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// maxReceipts bounds the receipts of one request (the server's limit).
const maxReceipts = 1000

// MessageError is the failure of Ack, Nack or ExtendVisibility for one
// message. Err is an *Error (ErrInvalidReceipt for a lease that expired
// or was replaced, or a receipt of an earlier leader: the message is, or
// will be, delivered again), or the context's error.
type MessageError struct {
	Op      string // "ack", "nack" or "extend"
	Message QueueMessage
	Err     error
}

// Error returns one line naming the message: queue, partition, and the
// offset when known (else the receipt).
func (e *MessageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sluice: %s: queue %q partition %d ", e.Op, e.Message.Queue, e.Message.Partition)
	if e.Message.Offset >= 0 {
		b.WriteString("offset ")
		b.WriteString(strconv.FormatInt(e.Message.Offset, 10))
	} else {
		r := e.Message.Receipt
		if len(r) > 24 {
			r = r[:24] + "…"
		}
		fmt.Fprintf(&b, "receipt %q", r)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "sluice: "))
	return b.String()
}

func (e *MessageError) Unwrap() error { return e.Err }

// settleError is the failures of one Ack, Nack or ExtendVisibility: one
// *MessageError per failed message, in the order the messages were
// given. Its message is one line: the first failure and a count.
type settleError struct {
	total int
	errs  []error
}

func (e *settleError) Error() string {
	msg := e.errs[0].Error()
	if len(e.errs) > 1 {
		msg += fmt.Sprintf(" (%d of %d messages failed)", len(e.errs), e.total)
	}
	return msg
}

func (e *settleError) Unwrap() []error { return e.errs }

// Ack deletes messages from their queues, for good: each message's
// request goes to its partition's leader (one request per queue and
// partition, in parallel). Acking a message twice succeeds. It returns
// nil, or an error that wraps one *MessageError per failed message
// (errors.As finds the first; the error's Unwrap() []error lists them
// all): ErrInvalidReceipt when the lease ended, the error of a partition
// that could not be reached (after retries), or ErrInvalidArgument for a
// message without queue or receipt.
func (c *Client) Ack(ctx context.Context, msgs ...QueueMessage) error {
	return c.settle(ctx, "ack", msgs, func(ctx context.Context, api sluicev1.SluiceClient, queue string, part int32,
		receipts []string) ([]*sluicev1.ReceiptResult, error) {
		resp, err := api.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: queue, Partition: part, Receipts: receipts})
		return resp.GetResults(), err
	})
}

// Nack gives messages back to their queues: each is visible again after
// delay (0 to MaxMessageDelay, kept to the millisecond). Errors are as
// Ack's.
func (c *Client) Nack(ctx context.Context, delay time.Duration, msgs ...QueueMessage) error {
	if delay < 0 || delay > MaxMessageDelay {
		return &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("nack delay %v outside [0, %v]", delay, MaxMessageDelay)}
	}
	return c.settle(ctx, "nack", msgs, func(ctx context.Context, api sluicev1.SluiceClient, queue string, part int32,
		receipts []string) ([]*sluicev1.ReceiptResult, error) {
		resp, err := api.NackMessages(ctx, &sluicev1.NackMessagesRequest{Queue: queue, Partition: part, Receipts: receipts,
			DelayMs: delay.Milliseconds()})
		return resp.GetResults(), err
	})
}

// ExtendVisibility sets the leases of messages to end d from now (0:
// visible again at once; the server bounds it, at 12h), so that a slow
// consumer keeps them. Errors are as Ack's.
func (c *Client) ExtendVisibility(ctx context.Context, d time.Duration, msgs ...QueueMessage) error {
	if d < 0 {
		return &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("negative visibility %v", d)}
	}
	return c.settle(ctx, "extend", msgs, func(ctx context.Context, api sluicev1.SluiceClient, queue string, part int32,
		receipts []string) ([]*sluicev1.ReceiptResult, error) {
		resp, err := api.ExtendMessages(ctx, &sluicev1.ExtendMessagesRequest{Queue: queue, Partition: part, Receipts: receipts,
			VisibilityMs: d.Milliseconds()})
		return resp.GetResults(), err
	})
}

// receiptCall is one Ack, Nack or Extend request.
type receiptCall func(ctx context.Context, api sluicev1.SluiceClient, queue string, part int32, receipts []string) ([]*sluicev1.ReceiptResult, error)

// settleKey groups messages by queue and partition.
type settleKey struct {
	queue string
	part  int32
}

// settle sends the receipts of msgs to their partitions' leaders and
// collects the failures per message.
func (c *Client) settle(ctx context.Context, op string, msgs []QueueMessage, call receiptCall) error {
	errs := make([]error, len(msgs)) // by index in msgs
	groups := map[settleKey][]int{}
	var order []settleKey
	for i, m := range msgs {
		switch {
		case m.Queue == "":
			errs[i] = &Error{Code: CodeInvalidArgument, Msg: "no queue"}
		case m.Receipt == "":
			errs[i] = &Error{Code: CodeInvalidArgument, Msg: "no receipt"}
		case m.Partition < 0:
			errs[i] = &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("partition %d", m.Partition)}
		default:
			k := settleKey{m.Queue, m.Partition}
			if groups[k] == nil {
				order = append(order, k)
			}
			groups[k] = append(groups[k], i)
		}
	}
	var wg sync.WaitGroup
	for _, k := range order {
		idx := groups[k]
		for len(idx) > 0 {
			chunk := idx[:min(len(idx), maxReceipts)]
			idx = idx[len(chunk):]
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.settleChunk(ctx, k, msgs, chunk, errs, call) // writes errs at chunk's indexes only
			}()
		}
	}
	wg.Wait()
	se := &settleError{total: len(msgs)}
	for i, err := range errs {
		if err != nil {
			se.errs = append(se.errs, &MessageError{Op: op, Message: msgs[i], Err: err})
		}
	}
	if len(se.errs) == 0 {
		return nil
	}
	return se
}

// settleChunk sends the receipts of msgs[idx] (one queue and partition)
// and sets errs[idx] for those that failed. It retries, with backoff,
// what may succeed later (the leader moving, a node down), whether the
// whole request failed so or the result of a receipt says so; a receipt
// is sent again alone, with the others still to settle.
func (c *Client) settleChunk(ctx context.Context, k settleKey, msgs []QueueMessage, idx []int, errs []error, call receiptCall) {
	setAll := func(idx []int, err error) {
		for _, i := range idx {
			errs[i] = err
		}
	}
	stream, err := c.queueStream(ctx, k.queue)
	if err == nil {
		// Route to the leader (and let its hints be recorded).
		_, err = c.stream(ctx, stream)
	}
	if err != nil {
		setAll(idx, err)
		return
	}
	left := idx
	for attempt := 1; ; attempt++ {
		receipts := make([]string, len(left))
		for j, i := range left {
			receipts[j] = msgs[i].Receipt
		}
		var results []*sluicev1.ReceiptResult
		err := c.onLeaderHinted(ctx, stream, k.part, c.cfg.RequestTimeout, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
			results, err = call(ctx, api, k.queue, k.part, receipts)
			return err
		})
		last := attempt == maxAdminAttempts || ctx.Err() != nil
		var retry []int
		hinted := true // every retry goes to a leader a node named
		if err != nil {
			setAll(left, err)
			if codeOf(err) == CodeUnknownQueue {
				c.queues.forget(k.queue)
			}
			if last || !transient(err) {
				return
			}
			retry, hinted = left, false
		} else {
			byReceipt := make(map[string]*sluicev1.ReceiptResult, len(results))
			for _, r := range results {
				byReceipt[r.GetReceipt()] = r
			}
			for _, i := range left {
				r, ok := byReceipt[msgs[i].Receipt]
				switch {
				case !ok:
					errs[i] = &Error{Code: CodeInternal, Msg: "the server answered nothing for the receipt"}
				case r.GetError() == nil:
					errs[i] = nil
				default:
					e := detailError(r.GetError(), r.GetErrorMessage())
					errs[i] = e
					if !last && transient(e) {
						if len(retry) == 0 {
							c.noteFailure(ctx, stream, k.part, e)
						}
						retry = append(retry, i)
						hinted = hinted && e.Code == CodeNotLeader && e.LeaderAddr != ""
					}
				}
			}
		}
		if left = retry; len(left) == 0 {
			return
		}
		if !hinted || attempt > 1 {
			if sleepCtx(ctx, c.backoff(attempt)) != nil {
				return // errs hold the last failures
			}
		}
	}
}
