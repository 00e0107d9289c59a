package partition

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Commands are what the partition's raft group replicates. On-wire and
// on-disk format (they live in the raft log); never change. Integers are
// big-endian; a string is its length u16 then its bytes.
//
//	0  1  version = 1
//	1  1  type: 1 produce, 2 advance log start, 3 commit offset,
//	      4 delete group offsets, 5 commit offsets, 6 queue update,
//	      7 queue delete
//	produce:              2  8  leader wall clock, Unix ms (for LogAppendTime; informational)
//	                     10  …  one RecordBatch v2, as the producer sent it
//	advance log start:    2  8  new log start offset
//	commit offset:        2  8  leader wall clock, Unix ms (the entry's commit time)
//	                     10  …  group (string), incarnation u64, generation i32,
//	                            offset i64, metadata (string); nothing after
//	delete group offsets: 2  …  group (string), incarnation u64; nothing after
//	commit offsets:       2  8  leader wall clock, Unix ms (every entry's commit time)
//	                     10  2  entry count u16, 1 to maxCommitBatch
//	                     12  …  per entry, as in commit offset: group (string),
//	                            incarnation u64, generation i32, offset i64,
//	                            metadata (string); nothing after the last
//	queue update:         2  8  leader wall clock, Unix ms
//	                     10  …  queue (string)
//	                      …  2  op count u16, 1 to MaxQueueOps
//	                      …  …  per op: kind u8, then by kind
//	                              1 init:      floor i64
//	                              2 receive:   offset i64
//	                              3 ack:       offset i64
//	                              4 ack range: start i64, end i64
//	                            nothing after the last
//	queue delete:         2  …  queue (string); nothing after
//
// Types 3 to 7 came after 1 and 2 (same command version): a replica built
// before them finds them undecodable, which is fatal, so every replica of
// a group must know them before a leader proposes one. The decoder checks
// only the framing (lengths, counts, op kinds); Apply refuses field values
// out of range (ErrInvalidOffsetCommit, ErrInvalidQueueUpdate, and the
// per-op queue errors), deterministically and without stopping.
const (
	commandVersion = 1

	cmdProduce            = 1
	cmdAdvanceLogStart    = 2
	cmdCommitOffset       = 3
	cmdDeleteGroupOffsets = 4
	cmdCommitOffsets      = 5
	cmdQueueUpdate        = 6
	cmdQueueDelete        = 7

	// maxCommitBatch bounds the entries of one commit-offsets command.
	maxCommitBatch = 1024

	commandHeaderSize = 2
)

type command struct {
	typ       byte
	timestamp int64  // produce, commit offset
	batch     []byte // produce; aliases the encoded command
	offset    int64  // advance log start
	// commit offset; delete group offsets (Group and Incarnation only).
	// The strings are copies, not aliases of the command.
	commit OffsetCommit
	// commit offsets
	commits []OffsetCommit
	// queue update (queue and ops), queue delete (queue); queue is a copy.
	queue    string
	queueOps []QueueOp
}

func encodeProduce(dst []byte, timestamp int64, b []byte) []byte {
	dst = append(dst, commandVersion, cmdProduce)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timestamp))
	return append(dst, b...)
}

func encodeAdvanceLogStart(offset int64) []byte {
	b := []byte{commandVersion, cmdAdvanceLogStart}
	return binary.BigEndian.AppendUint64(b, uint64(offset))
}

// encodeCommitOffset encodes a commit of c at the leader's timestamp. It
// refuses a c that fails c.validate (an *InvalidOffsetCommitError).
func encodeCommitOffset(timestamp int64, c OffsetCommit) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return appendCommitOffset(make([]byte, 0, commandHeaderSize+40+len(c.Group)+len(c.Metadata)), timestamp, c), nil
}

// appendCommitOffset appends the command without validating c: Group and
// Metadata must fit a u16 length (tests use it to make commands that Apply
// must refuse).
func appendCommitOffset(dst []byte, timestamp int64, c OffsetCommit) []byte {
	be := binary.BigEndian
	dst = append(dst, commandVersion, cmdCommitOffset)
	dst = be.AppendUint64(dst, uint64(timestamp))
	dst = appendString16(dst, c.Group)
	dst = be.AppendUint64(dst, c.Incarnation)
	dst = be.AppendUint32(dst, uint32(c.Generation))
	dst = be.AppendUint64(dst, uint64(c.Offset))
	return appendString16(dst, c.Metadata)
}

// appendCommitOffsets appends a commit-offsets command of cs (1 to
// maxCommitBatch entries, each validated by the caller) at timestamp.
func appendCommitOffsets(dst []byte, timestamp int64, cs []OffsetCommit) []byte {
	be := binary.BigEndian
	dst = append(dst, commandVersion, cmdCommitOffsets)
	dst = be.AppendUint64(dst, uint64(timestamp))
	dst = be.AppendUint16(dst, uint16(len(cs)))
	for _, c := range cs {
		dst = appendString16(dst, c.Group)
		dst = be.AppendUint64(dst, c.Incarnation)
		dst = be.AppendUint32(dst, uint32(c.Generation))
		dst = be.AppendUint64(dst, uint64(c.Offset))
		dst = appendString16(dst, c.Metadata)
	}
	return dst
}

// encodeDeleteGroupOffsets encodes a delete of group's entry up to
// incarnation. It refuses an invalid group or an incarnation of 0 (an
// *InvalidOffsetCommitError).
func encodeDeleteGroupOffsets(group string, incarnation uint64) ([]byte, error) {
	if err := validateGroupIncarnation(group, incarnation); err != nil {
		return nil, err
	}
	return appendDeleteGroupOffsets(nil, group, incarnation), nil
}

// appendDeleteGroupOffsets appends the command without validating it:
// group must fit a u16 length.
func appendDeleteGroupOffsets(dst []byte, group string, incarnation uint64) []byte {
	dst = append(dst, commandVersion, cmdDeleteGroupOffsets)
	dst = appendString16(dst, group)
	return binary.BigEndian.AppendUint64(dst, incarnation)
}

// appendQueueUpdate appends a queue-update command of ops (1 to
// MaxQueueOps, of known kinds: the caller checks) at timestamp. The name
// is not validated (Apply does); it must fit a u16 length.
func appendQueueUpdate(dst []byte, timestamp int64, queue string, ops []QueueOp) []byte {
	be := binary.BigEndian
	dst = append(dst, commandVersion, cmdQueueUpdate)
	dst = be.AppendUint64(dst, uint64(timestamp))
	dst = appendString16(dst, queue)
	dst = be.AppendUint16(dst, uint16(len(ops)))
	for _, op := range ops {
		dst = append(dst, byte(op.Kind))
		dst = be.AppendUint64(dst, uint64(op.Offset))
		if op.Kind == QueueAckRange {
			dst = be.AppendUint64(dst, uint64(op.End))
		}
	}
	return dst
}

// appendQueueDelete appends a queue-delete command; queue must fit a u16
// length.
func appendQueueDelete(dst []byte, queue string) []byte {
	return appendString16(append(dst, commandVersion, cmdQueueDelete), queue)
}

// appendString16 appends s with a u16 length. A longer s is cut to fit, so
// the framing stays decodable whatever the caller passes.
func appendString16(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(min(len(s), math.MaxUint16)))
	return append(dst, s[:min(len(s), math.MaxUint16)]...)
}

// decodeCommand decodes b. The produce batch aliases b and is not
// validated here; nor are the fields of an offset command (Apply does it).
func decodeCommand(b []byte) (command, error) {
	if len(b) < commandHeaderSize {
		return command{}, fmt.Errorf("%w: command of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != commandVersion {
		return command{}, fmt.Errorf("%w: command version %d", ErrCorrupt, b[0])
	}
	c := command{typ: b[1]}
	body := b[commandHeaderSize:]
	switch c.typ {
	case cmdProduce:
		if len(body) < 8 {
			return command{}, fmt.Errorf("%w: produce command of %d bytes", ErrCorrupt, len(b))
		}
		c.timestamp = int64(binary.BigEndian.Uint64(body))
		c.batch = body[8:]
	case cmdAdvanceLogStart:
		if len(body) != 8 {
			return command{}, fmt.Errorf("%w: advance-log-start command of %d bytes", ErrCorrupt, len(b))
		}
		c.offset = int64(binary.BigEndian.Uint64(body))
		if c.offset < 0 {
			return command{}, fmt.Errorf("%w: advance-log-start to %d", ErrCorrupt, c.offset)
		}
	case cmdCommitOffset:
		d := decoder{b: body, what: "commit-offset command"}
		c.timestamp = int64(d.u64("timestamp"))
		c.commit.Group = string(d.take(int(d.u16("group length")), "group"))
		c.commit.Incarnation = d.u64("incarnation")
		c.commit.Generation = int32(d.u32("generation"))
		c.commit.Offset = int64(d.u64("offset"))
		c.commit.Metadata = string(d.take(int(d.u16("metadata length")), "metadata"))
		if err := d.end(); err != nil {
			return command{}, err
		}
	case cmdCommitOffsets:
		d := decoder{b: body, what: "commit-offsets command"}
		c.timestamp = int64(d.u64("timestamp"))
		n := int(d.u16("entry count"))
		if d.err == nil && (n < 1 || n > maxCommitBatch || n*24 > len(d.b)) {
			return command{}, fmt.Errorf("%w: commit-offsets command of %d entries in %d bytes", ErrCorrupt, n, len(d.b))
		}
		c.commits = make([]OffsetCommit, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var e OffsetCommit
			e.Group = string(d.take(int(d.u16("group length")), "group"))
			e.Incarnation = d.u64("incarnation")
			e.Generation = int32(d.u32("generation"))
			e.Offset = int64(d.u64("offset"))
			e.Metadata = string(d.take(int(d.u16("metadata length")), "metadata"))
			c.commits = append(c.commits, e)
		}
		if err := d.end(); err != nil {
			return command{}, err
		}
	case cmdDeleteGroupOffsets:
		d := decoder{b: body, what: "delete-group-offsets command"}
		c.commit.Group = string(d.take(int(d.u16("group length")), "group"))
		c.commit.Incarnation = d.u64("incarnation")
		if err := d.end(); err != nil {
			return command{}, err
		}
	case cmdQueueUpdate:
		d := decoder{b: body, what: "queue-update command"}
		c.timestamp = int64(d.u64("timestamp"))
		c.queue = string(d.take(int(d.u16("queue length")), "queue"))
		n := int(d.u16("op count"))
		if d.err == nil && (n < 1 || n > MaxQueueOps || n*queueOpMinSize > len(d.b)) {
			return command{}, fmt.Errorf("%w: queue-update command of %d ops in %d bytes", ErrCorrupt, n, len(d.b))
		}
		c.queueOps = make([]QueueOp, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			op := QueueOp{Kind: QueueOpKind(d.u8("op kind"))}
			switch op.Kind {
			case QueueInit, QueueReceive, QueueAck:
				op.Offset = int64(d.u64("offset"))
			case QueueAckRange:
				op.Offset = int64(d.u64("start"))
				op.End = int64(d.u64("end"))
			default:
				d.fail("op %d of kind %d", i, op.Kind)
			}
			c.queueOps = append(c.queueOps, op)
		}
		if err := d.end(); err != nil {
			return command{}, err
		}
	case cmdQueueDelete:
		d := decoder{b: body, what: "queue-delete command"}
		c.queue = string(d.take(int(d.u16("queue length")), "queue"))
		if err := d.end(); err != nil {
			return command{}, err
		}
	default:
		return command{}, fmt.Errorf("%w: command type %d", ErrCorrupt, c.typ)
	}
	return c, nil
}
