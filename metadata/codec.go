package metadata

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/sluicedb/sluice/consumergroup"
)

// Commands are what the metadata raft group replicates. The layout is
// drawn in doc.go ("Formats"). On-disk format (raft logs); never change.
const (
	commandVersion = 1

	cmdRegisterNode        = 1
	cmdRemoveNode          = 2
	cmdCreateStream        = 3
	cmdDeleteStream        = 4
	cmdAlterStream         = 5
	cmdAllocateProducerIDs = 6
	cmdReassignPartition   = 7
	cmdPutGroup            = 8
	cmdDeleteGroup         = 9
	cmdCreateQueue         = 10
	cmdAlterQueue          = 11
	cmdDeleteQueue         = 12

	// A queue's flags (create queue command, snapshot).
	queueFIFO         = 1 << 0
	queueSubscription = 1 << 1
	queueCursor       = 1 << 2
	queueFlags        = queueFIFO | queueSubscription | queueCursor

	// The changes of an alter queue command: which fields follow, in this
	// order.
	alterVisibility  = 1 << 0
	alterMaxReceives = 1 << 1
	alterDeadLetter  = 1 << 2
	alterDelay       = 1 << 3
	alterFilter      = 1 << 4
	alterFields      = 1<<5 - 1
)

var be = binary.BigEndian

// appendStr appends s as a str. s is at most 65535 bytes (every string the
// package encodes is validated or was decoded as a str).
func appendStr(dst []byte, s string) []byte {
	dst = be.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func (c RegisterNode) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdRegisterNode)
	dst = appendStr(dst, c.ID)
	dst = appendStr(dst, c.RaftAddr)
	dst = appendStr(dst, c.ClientAddr)
	dst = append(dst, byte(c.State))
	return be.AppendUint64(dst, uint64(c.Timestamp))
}

func (c RemoveNode) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdRemoveNode)
	return appendStr(dst, c.ID)
}

// appendTo needs Partitions in 0..MaxUint32 and ReplicationFactor in
// 0..255 (validated, or decoded).
func (c CreateStream) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdCreateStream)
	dst = appendStr(dst, c.Name)
	dst = be.AppendUint32(dst, uint32(c.Partitions))
	dst = append(dst, byte(c.ReplicationFactor))
	dst = be.AppendUint64(dst, uint64(c.RetentionMs))
	dst = be.AppendUint64(dst, uint64(c.RetentionBytes))
	dst = be.AppendUint32(dst, uint32(c.MaxRecordBytes))
	return be.AppendUint64(dst, uint64(c.Timestamp))
}

func (c DeleteStream) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdDeleteStream)
	return appendStr(dst, c.Name)
}

func (c AlterStream) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdAlterStream)
	dst = appendStr(dst, c.Name)
	dst = be.AppendUint64(dst, uint64(c.RetentionMs))
	dst = be.AppendUint64(dst, uint64(c.RetentionBytes))
	return be.AppendUint32(dst, uint32(c.MaxRecordBytes))
}

func (c AllocateProducerIDs) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdAllocateProducerIDs)
	return be.AppendUint64(dst, uint64(c.Count))
}

// appendTo needs at most 255 replicas (validated, or decoded).
func (c ReassignPartition) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdReassignPartition)
	dst = appendStr(dst, c.Partition)
	dst = be.AppendUint32(dst, c.Epoch)
	dst = append(dst, byte(len(c.Replicas)))
	for _, id := range c.Replicas {
		dst = appendStr(dst, id)
	}
	return dst
}

// appendTo embeds the group state's own encoding, which carries its own
// version byte; it fails only if the state does not validate.
func (c PutGroup) appendTo(dst []byte) ([]byte, error) {
	dst = append(dst, commandVersion, cmdPutGroup)
	dst = be.AppendUint64(dst, c.ExpectVersion)
	dst = be.AppendUint64(dst, uint64(c.Timestamp))
	dst, err := c.State.AppendBinary(dst)
	if err != nil {
		return nil, err
	}
	return dst, nil
}

func (c DeleteGroup) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdDeleteGroup)
	dst = appendStr(dst, c.Name)
	return be.AppendUint64(dst, c.Incarnation)
}

// queueFlagsOf returns the flags byte of a queue's booleans.
func queueFlagsOf(fifo, subscription, cursor bool) byte {
	var f byte
	if cursor {
		f |= queueCursor
	}
	if fifo {
		f |= queueFIFO
	}
	if subscription {
		f |= queueSubscription
	}
	return f
}

// appendTo needs a Filter of at most 65535 bytes (validated, or decoded).
func (c CreateQueue) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdCreateQueue)
	dst = appendStr(dst, c.Name)
	dst = appendStr(dst, c.Stream)
	dst = be.AppendUint64(dst, uint64(c.VisibilityTimeoutMs))
	dst = be.AppendUint32(dst, uint32(c.MaxReceives))
	dst = appendStr(dst, c.DeadLetterStream)
	dst = be.AppendUint64(dst, uint64(c.DelayMs))
	dst = append(dst, queueFlagsOf(c.FIFO, c.Subscription, c.Cursor))
	dst = appendStr(dst, c.Filter)
	return be.AppendUint64(dst, uint64(c.Timestamp))
}

func (c AlterQueue) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdAlterQueue)
	dst = appendStr(dst, c.Name)
	var changes byte
	for i, set := range []bool{c.VisibilityTimeoutMs != nil, c.MaxReceives != nil, c.DeadLetterStream != nil,
		c.DelayMs != nil, c.Filter != nil} {
		if set {
			changes |= 1 << i
		}
	}
	dst = append(dst, changes)
	if c.VisibilityTimeoutMs != nil {
		dst = be.AppendUint64(dst, uint64(*c.VisibilityTimeoutMs))
	}
	if c.MaxReceives != nil {
		dst = be.AppendUint32(dst, uint32(*c.MaxReceives))
	}
	if c.DeadLetterStream != nil {
		dst = appendStr(dst, *c.DeadLetterStream)
	}
	if c.DelayMs != nil {
		dst = be.AppendUint64(dst, uint64(*c.DelayMs))
	}
	if c.Filter != nil {
		dst = appendStr(dst, *c.Filter)
	}
	return dst
}

func (c DeleteQueue) appendTo(dst []byte) []byte {
	dst = append(dst, commandVersion, cmdDeleteQueue)
	dst = appendStr(dst, c.Name)
	return be.AppendUint64(dst, c.Incarnation)
}

// decodeCommand decodes one command: a RegisterNode, RemoveNode,
// CreateStream, DeleteStream, AlterStream, AllocateProducerIDs,
// ReassignPartition, PutGroup, DeleteGroup, CreateQueue, AlterQueue or
// DeleteQueue value.
// Strings are copied out of b, and nothing decoded shares b's memory.
// Errors wrap ErrCorrupt.
func decodeCommand(b []byte) (any, error) {
	r := reader{b: b}
	if v := r.u8("version"); r.err == nil && v != commandVersion {
		return nil, corrupt("command version %d", v)
	}
	typ := r.u8("type")
	if r.err != nil {
		return nil, r.err
	}
	var c any
	switch typ {
	case cmdRegisterNode:
		c = RegisterNode{
			ID: r.str("node id"), RaftAddr: r.str("raft address"), ClientAddr: r.str("client address"),
			State: NodeState(r.u8("state")), Timestamp: r.i64("timestamp"),
		}
	case cmdRemoveNode:
		c = RemoveNode{ID: r.str("node id")}
	case cmdCreateStream:
		c = CreateStream{
			Name: r.str("name"), Partitions: int(r.u32("partitions")), ReplicationFactor: int(r.u8("replication factor")),
			RetentionMs: r.i64("retention ms"), RetentionBytes: r.i64("retention bytes"),
			MaxRecordBytes: r.i32("max record bytes"), Timestamp: r.i64("timestamp"),
		}
	case cmdDeleteStream:
		c = DeleteStream{Name: r.str("name")}
	case cmdAlterStream:
		c = AlterStream{
			Name: r.str("name"), RetentionMs: r.i64("retention ms"), RetentionBytes: r.i64("retention bytes"),
			MaxRecordBytes: r.i32("max record bytes"),
		}
	case cmdAllocateProducerIDs:
		c = AllocateProducerIDs{Count: r.i64("count")}
	case cmdReassignPartition:
		c = decodeReassignPartition(&r)
	case cmdPutGroup:
		c = decodePutGroup(&r)
	case cmdDeleteGroup:
		c = DeleteGroup{Name: r.str("name"), Incarnation: r.u64("incarnation")}
	case cmdCreateQueue:
		c = decodeCreateQueue(&r)
	case cmdAlterQueue:
		c = decodeAlterQueue(&r)
	case cmdDeleteQueue:
		c = DeleteQueue{Name: r.str("name"), Incarnation: r.u64("incarnation")}
	default:
		return nil, corrupt("command type %d", typ)
	}
	if err := r.finish("command"); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeReassignPartition(r *reader) ReassignPartition {
	c := ReassignPartition{Partition: r.str("partition"), Epoch: r.u32("epoch")}
	n := r.smallCount("replica count", 2)
	if n > 0 {
		c.Replicas = make([]string, n)
		for i := range c.Replicas {
			c.Replicas[i] = r.str("replica")
		}
	}
	return c
}

func decodePutGroup(r *reader) PutGroup {
	c := PutGroup{ExpectVersion: r.u64("expect version"), Timestamp: r.i64("timestamp")}
	if g := r.groupState("group state"); g != nil {
		c.State = *g
	}
	return c
}

func decodeCreateQueue(r *reader) CreateQueue {
	c := CreateQueue{Name: r.str("name"), Stream: r.str("stream"), VisibilityTimeoutMs: r.i64("visibility timeout ms"),
		MaxReceives: r.i32("max receives"), DeadLetterStream: r.str("dead-letter stream"), DelayMs: r.i64("delay ms")}
	c.FIFO, c.Subscription, c.Cursor = r.queueFlags("queue flags")
	c.Filter = r.str("filter")
	c.Timestamp = r.i64("timestamp")
	return c
}

func decodeAlterQueue(r *reader) AlterQueue {
	c := AlterQueue{Name: r.str("name")}
	changes := r.u8("changes")
	if r.err == nil && changes&^alterFields != 0 {
		r.err = corrupt("changes at byte %d: unknown bits %#x", r.off-1, changes&^alterFields)
	}
	if changes&alterVisibility != 0 {
		c.VisibilityTimeoutMs = new(r.i64("visibility timeout ms"))
	}
	if changes&alterMaxReceives != 0 {
		c.MaxReceives = new(r.i32("max receives"))
	}
	if changes&alterDeadLetter != 0 {
		c.DeadLetterStream = new(r.str("dead-letter stream"))
	}
	if changes&alterDelay != 0 {
		c.DelayMs = new(r.i64("delay ms"))
	}
	if changes&alterFilter != 0 {
		c.Filter = new(r.str("filter"))
	}
	return c
}

// reader decodes big-endian fields from b. The first short read sets err
// (wrapping ErrCorrupt) and every later read returns zero, so a decoder
// checks err once at the end. Every length is bounded by the bytes left
// before anything is allocated.
type reader struct {
	b   []byte
	off int // bytes consumed, for error messages
	err error
}

// take returns the next n bytes, or nil and sets err.
func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = corrupt("%s at byte %d: need %d bytes, %d left", what, r.off, n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	r.off += n
	return p
}

func (r *reader) u8(what string) uint8 {
	if p := r.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if p := r.take(2, what); p != nil {
		return be.Uint16(p)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return be.Uint32(p)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if p := r.take(8, what); p != nil {
		return be.Uint64(p)
	}
	return 0
}

func (r *reader) i32(what string) int32 { return int32(r.u32(what)) }
func (r *reader) i64(what string) int64 { return int64(r.u64(what)) }

// str reads a u16 length and that many bytes as a new string.
func (r *reader) str(what string) string {
	n := int(r.u16(what))
	return string(r.take(n, what))
}

func (r *reader) key(what string) (k [16]byte) {
	copy(k[:], r.take(16, what))
	return k
}

// count reads a u32 element count and checks that count elements of at
// least minSize bytes each fit in what is left, so that a decoder may
// allocate count elements.
func (r *reader) count(what string, minSize int) int {
	n := int(r.u32(what))
	if r.err == nil && n > len(r.b)/minSize {
		r.err = corrupt("%s at byte %d: %d elements of at least %d bytes do not fit in %d bytes",
			what, r.off-4, n, minSize, len(r.b))
		return 0
	}
	return n
}

// smallCount reads a u8 element count and checks, as count does, that
// that many elements of at least minSize bytes fit in what is left.
func (r *reader) smallCount(what string, minSize int) int {
	n := int(r.u8(what))
	if r.err == nil && n > len(r.b)/minSize {
		r.err = corrupt("%s at byte %d: %d elements of at least %d bytes do not fit in %d bytes",
			what, r.off-1, n, minSize, len(r.b))
		return 0
	}
	return n
}

// groupState reads a consumer group's state in consumergroup's encoding
// (DecodeGroupState bounds its own lengths by the bytes left and checks
// the framing only; Apply validates). The error wraps both ErrCorrupt and
// consumergroup.ErrInvalidGroupState.
//
// DecodeGroupState also reads bytes that AppendBinary never writes (a
// member's assignment indexes its stream list, which AppendBinary
// requires sorted), and such a state would not encode again: the bytes
// must be the state's own encoding, or they are ErrCorrupt.
func (r *reader) groupState(what string) *consumergroup.GroupState {
	if r.err != nil {
		return nil
	}
	g, rest, err := consumergroup.DecodeGroupState(r.b)
	if err != nil {
		r.err = fmt.Errorf("%w: %s at byte %d: %w", ErrCorrupt, what, r.off, err)
		return nil
	}
	n := len(r.b) - len(rest)
	if again, err := g.AppendBinary(nil); err != nil || !bytes.Equal(again, r.b[:n]) {
		r.err = corrupt("%s at byte %d: not the state's own encoding (%v)", what, r.off, err)
		return nil
	}
	r.off += n
	r.b = rest
	return g
}

// queueFlags reads a queue's flags byte; a bit it does not know is
// ErrCorrupt (the byte would not encode back the same).
func (r *reader) queueFlags(what string) (fifo, subscription, cursor bool) {
	f := r.u8(what)
	if r.err == nil && f&^queueFlags != 0 {
		r.err = corrupt("%s at byte %d: unknown bits %#x", what, r.off-1, f&^queueFlags)
	}
	return f&queueFIFO != 0, f&queueSubscription != 0, f&queueCursor != 0
}

// finish reports the first error, or trailing bytes.
func (r *reader) finish(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = corrupt("%s: %d trailing bytes at byte %d", what, len(r.b), r.off)
	}
	return r.err
}
