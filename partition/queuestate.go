package partition

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/sluicedb/sluice/consumergroup"
)

// The queue state machine: Apply's rules for queue commands, and the
// queue table in checkpoints and snapshots.
//
// Apply decides every op from replicated state only (the queue's state
// and the log end, which every replica has alike at the entry), never
// from the log start, which a restart may find ahead of where it was when
// the entry was first applied. Limits keep every state within what
// consumergroup.DecodeAckState accepts: a receive, an ack or the start of
// an ack range must be below floor + consumergroup.MaxAckWindow, so done
// ranges and receive counts lie in that window (the floor never goes
// down), at most MaxAckWindow/2+1 ranges and MaxAckWindow counts.

// queueTable is the queues' states by name. It is state machine state:
// checkpointed and snapshotted (see Replica.queues for who may touch it).
type queueTable map[string]*consumergroup.AckState

// Encoding of an AckState (consumergroup's, version 1): version u8, floor
// i64, range count u32, ranges of 16 bytes, receive count u32, entries of
// 12 bytes.
const (
	ackStateFixed     = 1 + 8 + 4 + 4
	ackRangeBytes     = 16
	ackReceiveBytes   = 12
	queueEntryFixed   = 2 // the name's length
	minQueueEntrySize = queueEntryFixed + 1 + ackStateFixed
)

// maxSnapshotQueues bounds an encoded queue table on decode. It is well
// above MaxQueueTableBytes, which Apply enforces, so that limit may move.
const maxSnapshotQueues = 256 << 20

func ackStateSize(s *consumergroup.AckState) int64 {
	return ackStateFixed + ackRangeBytes*int64(s.Ranges()) + ackReceiveBytes*int64(s.Receives())
}

func queueEntrySize(name string, s *consumergroup.AckState) int64 {
	return queueEntryFixed + int64(len(name)) + ackStateSize(s)
}

// size is the length of t's encoding.
func (t queueTable) size() int64 {
	n := int64(4)
	for name, s := range t {
		n += queueEntrySize(name, s)
	}
	return n
}

// applyQueueUpdate applies ops to queue's state, each alone: a refused op
// changes nothing and the next one still applies. It refuses the whole
// command only for a bad name (an *InvalidQueueUpdateError).
func (r *Replica) applyQueueUpdate(queue string, ops []QueueOp) any {
	if err := validateQueueName(queue); err != nil {
		return err
	}
	logEnd := r.log().LogEndOffset() // logMu before queues
	out := make(queueResults, len(ops))
	r.queues.Lock()
	defer r.queues.Unlock()
	for i, op := range ops {
		out[i] = r.applyQueueOpLocked(queue, op, logEnd)
	}
	return out
}

// applyQueueOpLocked applies one op; the caller holds the table's write
// lock.
func (r *Replica) applyQueueOpLocked(queue string, op QueueOp, logEnd int64) QueueOpResult {
	s := r.queues.table[queue]
	floor := int64(-1) // a refusal leaves the floor as it is
	if s != nil {
		floor = s.Floor()
	}
	outOfRange := func(off int64) QueueOpResult {
		return QueueOpResult{Floor: floor,
			Err: &QueueOffsetOutOfRangeError{Queue: queue, Op: op.Kind, Offset: off, Floor: floor, LogEnd: logEnd}}
	}
	full := func(grow int64) QueueOpResult {
		return QueueOpResult{Floor: floor, Err: fmt.Errorf("%w: queue %q: %s would take the table to %d bytes, limit %d",
			ErrQueueTableFull, queue, op.Kind, r.queueBytes+grow, MaxQueueTableBytes)}
	}
	if op.Kind == QueueInit {
		switch {
		case op.Offset < 0 || op.Offset > logEnd:
			return outOfRange(op.Offset)
		case s != nil:
			return QueueOpResult{Floor: floor}
		}
		s = consumergroup.NewAckState(op.Offset)
		grow := queueEntrySize(queue, s)
		if r.queueBytes+grow > MaxQueueTableBytes {
			return full(grow)
		}
		r.queues.table[queue] = s
		r.queueBytes += grow
		return QueueOpResult{Floor: s.Floor()}
	}
	if s == nil {
		return QueueOpResult{Err: &UnknownQueueError{Queue: queue}, Floor: floor}
	}
	window := s.Floor() + consumergroup.MaxAckWindow
	before := ackStateSize(s)
	var res QueueOpResult
	switch off := op.Offset; op.Kind {
	case QueueReceive:
		switch {
		case off < 0 || off >= logEnd:
			return outOfRange(off)
		case s.Done(off): // not counted
		case off >= window:
			return outOfRange(off)
		case s.ReceiveCount(off) == 0 && r.queueBytes+ackReceiveBytes > MaxQueueTableBytes:
			return full(ackReceiveBytes)
		case s.ReceiveCount(off) == math.MaxUint32:
			// Saturated: a count that wrapped to 0 would not decode.
			res.Count = math.MaxUint32
		default:
			res.Count = s.Receive(off)
		}
	case QueueAck:
		switch {
		case off < 0 || off >= logEnd:
			return outOfRange(off)
		case s.Done(off): // already done
		case off >= window:
			return outOfRange(off)
		default:
			// Only an offset with no done neighbour makes a new range.
			if grow := int64(ackRangeBytes); !s.Done(off-1) && !s.Done(off+1) {
				if s.ReceiveCount(off) > 0 {
					grow -= ackReceiveBytes
				}
				if r.queueBytes+grow > MaxQueueTableBytes {
					return full(grow)
				}
			}
			res.NewlyDone = s.Ack(off)
		}
	case QueueAckRange:
		start, end := max(off, s.Floor()), min(op.End, logEnd)
		if start >= end {
			break
		}
		first := s.NextPending(start)
		switch {
		case first >= end: // all done already
		case first >= window:
			return outOfRange(first)
		case !s.Done(first-1) && r.queueBytes+ackRangeBytes > MaxQueueTableBytes:
			return full(ackRangeBytes)
		default:
			s.AckRange(first, end)
			res.NewlyDone = true
		}
	}
	r.queueBytes += ackStateSize(s) - before
	res.Floor = s.Floor()
	return res
}

// applyQueueDelete drops queue's state, if it has one.
func (r *Replica) applyQueueDelete(queue string) any {
	if err := validateQueueName(queue); err != nil {
		return err
	}
	s, ok := r.queues.table[queue]
	if !ok {
		return nil
	}
	r.queues.Lock()
	delete(r.queues.table, queue)
	r.queues.Unlock()
	r.queueBytes -= queueEntrySize(queue, s)
	return nil
}

// ackBelowLocked marks every offset below offset done in every queue: the
// log start moved there, and retention deleted the records below it.
// The caller holds the table's write lock.
func (r *Replica) ackBelowLocked(offset int64) {
	for _, s := range r.queues.table {
		before := ackStateSize(s)
		s.AckRange(s.Floor(), offset)
		r.queueBytes += ackStateSize(s) - before
	}
}

// Encoding of the table, in checkpoints (version 3) and snapshots (version
// 3). On-disk format; never change:
//
//	count u32, then per queue (ascending name, bytewise):
//	name length u16, name, state (consumergroup.AckState.AppendBinary:
//	  version u8 = 1, floor i64, range count u32, ranges (start i64,
//	  end i64), receive count u32, receives (offset i64, count u32))
//
// Every name satisfies the group name rules; every floor is at most the
// log end of the checkpoint or snapshot that holds the table.
func (t queueTable) appendTo(dst []byte) []byte {
	names := slices.Sorted(maps.Keys(t))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(names)))
	for _, name := range names {
		dst = appendString16(dst, name)
		dst = t[name].AppendBinary(dst)
	}
	return dst
}

// decodeQueueTable decodes a table (that of a checkpoint or snapshot
// whose log ends at logEnd) and returns the bytes after it. Errors match
// ErrCorrupt.
func decodeQueueTable(b []byte, logEnd int64) (queueTable, []byte, error) {
	d := decoder{b: b, what: "queue table"}
	n := d.u32("count")
	if d.err == nil && uint64(n) > uint64(len(d.b)/minQueueEntrySize) {
		d.fail("%d queues in %d bytes", n, len(d.b))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	t := make(queueTable, n)
	prev := ""
	for i := uint32(0); i < n; i++ {
		name := string(d.take(int(d.u16("name length")), "name"))
		if d.err != nil {
			return nil, nil, d.err
		}
		if reason := nameProblem(name); reason != "" {
			return nil, nil, fmt.Errorf("%w: queue table: queue %d: name: %s", ErrCorrupt, i, reason)
		}
		if i > 0 && name <= prev {
			return nil, nil, fmt.Errorf("%w: queue table: queue %d (%q) out of order", ErrCorrupt, i, name)
		}
		s, rest, err := consumergroup.DecodeAckState(d.b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: queue table: queue %q: %w", ErrCorrupt, name, err)
		}
		if s.Floor() > logEnd {
			return nil, nil, fmt.Errorf("%w: queue table: queue %q: floor %d beyond the log end %d", ErrCorrupt, name, s.Floor(), logEnd)
		}
		d.b = rest
		prev = name
		t[name] = s
	}
	return t, d.b, nil
}
