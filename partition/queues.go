package partition

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicedb/sluice/consumergroup"
)

// Queues are SQS-style views over a stream. What a queue must not lose on
// failover, its delivery state in each partition (which offsets are done,
// how often each pending offset was received: a consumergroup.AckState),
// is replicated through the partition's raft group like committed offsets
// are, and kept in its checkpoints and snapshots. Leases (visibility
// timeouts) are the leader's memory and not here. The apply rules are in
// queuestate.go.

// QueueOpKind is what a QueueOp does.
type QueueOpKind uint8

// The kinds of QueueOp; the values are the command's op kinds (on-wire
// and on-disk format; never change).
const (
	// QueueInit creates the queue's state with every offset below Offset
	// (the floor) done, if the queue has none; otherwise it changes
	// nothing. Offset is 0 to the log end.
	QueueInit QueueOpKind = 1
	// QueueReceive counts a delivery of Offset.
	QueueReceive QueueOpKind = 2
	// QueueAck marks Offset done (acknowledged).
	QueueAck QueueOpKind = 3
	// QueueAckRange marks the offsets [Offset, End) done, clipped to
	// [floor, log end): dead-letter moves, purges.
	QueueAckRange QueueOpKind = 4
)

func (k QueueOpKind) String() string {
	switch k {
	case QueueInit:
		return "init"
	case QueueReceive:
		return "receive"
	case QueueAck:
		return "ack"
	case QueueAckRange:
		return "ack range"
	}
	return fmt.Sprintf("QueueOpKind(%d)", uint8(k))
}

// Limits of queue updates.
const (
	// MaxQueueNameBytes bounds a queue name; names follow the rules of
	// group names (1 to this many bytes of UTF-8, no control characters).
	MaxQueueNameBytes = MaxGroupBytes
	// MaxQueueOps bounds the ops of one UpdateQueue call and of one
	// queue-update command.
	MaxQueueOps = 4096
	// MaxQueueTableBytes bounds the encoded queue table of one partition
	// (see queueTable.appendTo). An op that could grow it past this is
	// refused with ErrQueueTableFull, on every replica alike: the table
	// goes into every checkpoint and snapshot, and decoders refuse tables
	// much larger (maxSnapshotQueues). One queue's state is bounded by
	// consumergroup.MaxAckWindow (at most some 14 MiB, when a million
	// messages are in flight); a queue with little in flight takes tens
	// of bytes.
	MaxQueueTableBytes = 64 << 20

	// queueOpMinSize is the smallest encoded op: kind u8, offset i64.
	queueOpMinSize = 9
)

// QueueOp is one change to a queue's state.
type QueueOp struct {
	Kind QueueOpKind
	// Offset is init's floor, the offset received or acked, or the start
	// of an ack range.
	Offset int64
	// End is one past the last offset of an ack range; other kinds do not
	// carry it (it is not replicated).
	End int64
}

// QueueOpResult is the outcome of one QueueOp, decided at apply.
type QueueOpResult struct {
	// Err is nil when the op applied. Otherwise it is why it was refused
	// (nothing changed for this op; the others of the call still apply):
	// ErrUnknownQueue, ErrQueueOffsetOutOfRange, ErrQueueTableFull.
	Err error
	// Floor is the queue's floor after the op: every offset below it is
	// done. For init it is the floor the queue has (the one it was
	// created with, or its current one if it existed).
	Floor int64
	// Count is a receive's new receive count of the offset; 0 when the
	// offset was done (not counted).
	Count uint32
	// NewlyDone is true when an ack or an ack range made a pending offset
	// done; false when everything it named was done already (acks are
	// idempotent).
	NewlyDone bool
}

// queueResults is Apply's answer to a queue-update command: one result
// per op.
type queueResults []QueueOpResult

func validateQueueName(q string) error {
	if reason := nameProblem(q); reason != "" {
		return &InvalidQueueUpdateError{Field: "queue", Reason: reason}
	}
	return nil
}

// UpdateQueue applies ops, in order, to queue's state in this partition:
// it replicates them and returns a result per op once they are committed
// and applied. It blocks until then or until ctx ends. The ops of one call
// go into one raft entry; ops refused at apply change nothing and do not
// stop the others (see QueueOpResult).
//
// Errors (nothing proposed): ErrInvalidQueueUpdate (a bad name, 0 or more
// than MaxQueueOps ops, an unknown kind), ErrNoProposer, the context's
// error if it ended before the call's turn; and the replication errors
// (replication.ErrNotLeader, ErrOutcomeUnknown, …).
//
// Concurrent calls for the same queue share raft entries (group commit):
// while one queue-update command of the queue is in flight the others
// queue, and the caller whose turn comes next proposes everything queued
// (up to MaxQueueOps ops) as one command. A command carries one queue, so
// calls for different queues go in different commands, each queue with
// one in flight at a time. No goroutine is started: the callers take turns.
func (r *Replica) UpdateQueue(ctx context.Context, queue string, ops []QueueOp) ([]QueueOpResult, error) {
	if err := validateQueueName(queue); err != nil {
		return nil, err
	}
	if len(ops) == 0 || len(ops) > MaxQueueOps {
		return nil, &InvalidQueueUpdateError{Field: "ops", Reason: fmt.Sprintf("%d ops, want 1 to %d", len(ops), MaxQueueOps)}
	}
	for i, op := range ops {
		if op.Kind < QueueInit || op.Kind > QueueAckRange {
			return nil, &InvalidQueueUpdateError{Field: "ops", Reason: fmt.Sprintf("op %d: unknown kind %d", i, op.Kind)}
		}
	}
	if r.proposer.Load() == nil {
		return nil, ErrNoProposer
	}
	out, err := r.queueUpdates.Do(ctx, queue, ops, r.proposeQueueUpdates)
	if err != nil {
		return nil, err // ended while waiting: never proposed
	}
	return out.res, out.err
}

// queueOut is one UpdateQueue call's share of a proposal's results.
type queueOut struct {
	res []QueueOpResult
	err error
}

// proposeQueueUpdates proposes the ops of several UpdateQueue calls of one
// queue as one command (turns.Batcher's step) and splits the results.
func (r *Replica) proposeQueueUpdates(ctx context.Context, queue string, calls [][]QueueOp) []queueOut {
	var ops []QueueOp
	for _, c := range calls {
		ops = append(ops, c...)
	}
	pctx, cancel := context.WithTimeout(ctx, commitProposeTimeout)
	resp, err := r.propose(pctx, appendQueueUpdate(nil, r.cfg.Now().UnixMilli(), queue, ops))
	cancel()
	results, ok := resp.(queueResults)
	if err == nil && (!ok || len(results) != len(ops)) {
		err = fmt.Errorf("partition %s: unexpected apply result %T", r.cfg.ID, resp)
	}
	outs := make([]queueOut, len(calls))
	k := 0
	for i, c := range calls {
		if err != nil {
			outs[i].err = err
		} else {
			outs[i].res = slices.Clone(results[k : k+len(c)])
		}
		k += len(c)
	}
	return outs
}

// DeleteQueue drops queue's state in this partition; no state is not an
// error. It blocks until the delete is applied or ctx ends. Errors:
// ErrInvalidQueueUpdate (a bad name; nothing proposed), ErrNoProposer,
// the replication errors.
func (r *Replica) DeleteQueue(ctx context.Context, queue string) error {
	if err := validateQueueName(queue); err != nil {
		return err
	}
	_, err := r.propose(ctx, appendQueueDelete(nil, queue))
	return err
}

// QueueState calls fn with queue's state, as applied on this replica
// (read the leader, after a barrier, for the latest), and reports whether
// the queue has state. fn runs under the queue table's read lock, which
// holds off Apply: it must be quick, must not keep s or change it, and
// must not call into the replica. Safe from any goroutine.
func (r *Replica) QueueState(queue string, fn func(s *consumergroup.AckState)) bool {
	r.queues.RLock()
	defer r.queues.RUnlock()
	s, ok := r.queues.table[queue]
	if ok {
		fn(s)
	}
	return ok
}

// Queues returns the names of the queues with state in this partition,
// sorted, in a new slice the caller owns. Safe from any goroutine.
func (r *Replica) Queues() []string {
	r.queues.RLock()
	defer r.queues.RUnlock()
	return slices.Sorted(maps.Keys(r.queues.table))
}
