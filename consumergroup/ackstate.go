package consumergroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// AckState is a queue's delivery state in one partition: which offsets are
// done (acknowledged, or moved to the dead-letter stream) and how often
// each pending offset has been received. It is the replicated half of a
// queue (the partition's state machine keeps one per queue, in its
// checkpoints and snapshots); leases are the leader's memory.
//
// Its size depends on the messages in flight, not on the messages ever
// sent: every offset below the floor is done, the done offsets above it
// are kept as ranges, and the floor moves up over every run of done
// offsets that reaches it (dropping the ranges and receive counts below
// it). Acknowledging in any order therefore ends, once every message is
// acknowledged, with a floor and nothing else.
//
// An AckState is not safe for concurrent use; the state machine owns it.
type AckState struct {
	floor    int64
	ranges   []ackRange       // done offsets above floor: sorted, disjoint, not touching, Start > floor
	receives map[int64]uint32 // receive counts of pending offsets >= floor
}

// ackRange is the offsets [start, end).
type ackRange struct{ start, end int64 }

// Limits of an AckState, enforced by its decoder. The state machine keeps
// the state within them by what it lets be received (see MaxAckWindow).
const (
	// MaxAckRanges bounds the done ranges above the floor.
	MaxAckRanges = 1 << 20
	// MaxAckReceives bounds the offsets with a receive count.
	MaxAckReceives = 1 << 20
	// MaxAckWindow bounds how far above the floor a message may be
	// received: the pending offsets a queue may have in flight or done
	// out of order. It bounds the ranges and receive counts above.
	MaxAckWindow = MaxAckRanges
)

// ErrInvalidAckState reports encoded ack state that does not decode.
var ErrInvalidAckState = errors.New("consumergroup: invalid ack state")

// NewAckState returns a state with every offset below floor done and none
// at or above it.
func NewAckState(floor int64) *AckState {
	return &AckState{floor: max(floor, 0), receives: map[int64]uint32{}}
}

// Floor returns the lowest offset that is not done.
func (s *AckState) Floor() int64 { return s.floor }

// Ranges returns the number of done ranges kept above the floor, and
// Receives the number of pending offsets with a receive count: the state's
// size.
func (s *AckState) Ranges() int   { return len(s.ranges) }
func (s *AckState) Receives() int { return len(s.receives) }

// DoneAbove returns how many offsets above the floor are done.
func (s *AckState) DoneAbove() int64 {
	var n int64
	for _, r := range s.ranges {
		n += r.end - r.start
	}
	return n
}

// Done reports whether offset is done.
func (s *AckState) Done(offset int64) bool {
	if offset < s.floor {
		return true
	}
	i := s.search(offset)
	return i < len(s.ranges) && s.ranges[i].start <= offset
}

// search returns the index of the first range whose end is above offset.
func (s *AckState) search(offset int64) int {
	i, _ := slices.BinarySearchFunc(s.ranges, offset, func(r ackRange, off int64) int {
		if r.end <= off {
			return -1
		}
		return 1
	})
	return i
}

// NextPending returns the first offset at or above from that is not done.
func (s *AckState) NextPending(from int64) int64 {
	off := max(from, s.floor)
	if i := s.search(off); i < len(s.ranges) && s.ranges[i].start <= off {
		return s.ranges[i].end
	}
	return off
}

// Ack marks offset done and reports whether it was pending. A negative
// offset is ignored.
func (s *AckState) Ack(offset int64) bool {
	if offset < 0 || s.Done(offset) {
		return false
	}
	s.AckRange(offset, offset+1)
	return true
}

// AckRange marks [start, end) done: acknowledged or dead-lettered, or
// below a new log start (retention deleted them).
func (s *AckState) AckRange(start, end int64) {
	start = max(start, s.floor)
	if start >= end {
		return
	}
	// Merge with every range that overlaps or touches [start, end).
	i := s.search(start - 1) // first range ending at or after start
	j := i
	for j < len(s.ranges) && s.ranges[j].start <= end {
		start = min(start, s.ranges[j].start)
		end = max(end, s.ranges[j].end)
		j++
	}
	s.ranges = slices.Replace(s.ranges, i, j, ackRange{start, end})
	if end-start <= int64(len(s.receives)) {
		for off := start; off < end; off++ {
			delete(s.receives, off)
		}
	} else {
		for off := range s.receives {
			if off >= start && off < end {
				delete(s.receives, off)
			}
		}
	}
	if s.ranges[0].start == s.floor {
		s.floor = s.ranges[0].end
		s.ranges = slices.Delete(s.ranges, 0, 1)
	}
}

// Receive counts a delivery of a pending offset and returns its receive
// count; a done offset is not counted (0).
func (s *AckState) Receive(offset int64) uint32 {
	if offset < 0 || s.Done(offset) {
		return 0
	}
	if c := s.receives[offset]; c < math.MaxUint32 { // saturates: a count of 0 would not decode
		s.receives[offset] = c + 1
	}
	return s.receives[offset]
}

// ReceiveCount returns how often a pending offset was received.
func (s *AckState) ReceiveCount(offset int64) uint32 { return s.receives[offset] }

// Clone returns a deep copy of s.
func (s *AckState) Clone() *AckState {
	return &AckState{floor: s.floor, ranges: slices.Clone(s.ranges), receives: maps.Clone(s.receives)}
}

// The encoding of an AckState (in partition checkpoints and snapshots;
// never change, add versions):
//
//	version u8 = 1, floor i64,
//	range count u32, then per range: start i64, end i64 (ascending),
//	receive count u32, then per entry: offset i64, count u32 (ascending
//	offset)
const ackStateVersion = 1

// AppendBinary appends the encoding of s to b.
func (s *AckState) AppendBinary(b []byte) []byte {
	be := binary.BigEndian
	b = append(b, ackStateVersion)
	b = be.AppendUint64(b, uint64(s.floor))
	b = be.AppendUint32(b, uint32(len(s.ranges)))
	for _, r := range s.ranges {
		b = be.AppendUint64(b, uint64(r.start))
		b = be.AppendUint64(b, uint64(r.end))
	}
	b = be.AppendUint32(b, uint32(len(s.receives)))
	for _, off := range slices.Sorted(maps.Keys(s.receives)) {
		b = be.AppendUint64(b, uint64(off))
		b = be.AppendUint32(b, s.receives[off])
	}
	return b
}

// DecodeAckState decodes one AckState from the front of b and returns the
// bytes after it. Input that does not decode, breaks the invariants
// (ranges sorted, disjoint, not touching, above the floor; receive counts
// positive, of pending offsets) or the limits is ErrInvalidAckState.
func DecodeAckState(b []byte) (*AckState, []byte, error) {
	bad := func(format string, args ...any) (*AckState, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalidAckState, fmt.Sprintf(format, args...))
	}
	be := binary.BigEndian
	if len(b) < 13 || b[0] != ackStateVersion {
		return bad("%d bytes, version %d", len(b), firstByteOf(b))
	}
	s := &AckState{floor: int64(be.Uint64(b[1:])), receives: map[int64]uint32{}}
	if s.floor < 0 {
		return bad("floor %d", s.floor)
	}
	n := be.Uint32(b[9:])
	b = b[13:]
	if n > MaxAckRanges || uint64(n)*16+4 > uint64(len(b)) {
		return bad("%d ranges in %d bytes", n, len(b))
	}
	s.ranges = make([]ackRange, n)
	prev := s.floor
	for i := range s.ranges {
		r := ackRange{int64(be.Uint64(b)), int64(be.Uint64(b[8:]))}
		b = b[16:]
		if r.start <= prev || r.end <= r.start {
			return bad("range %d [%d, %d) after %d", i, r.start, r.end, prev)
		}
		s.ranges[i], prev = r, r.end
	}
	m := be.Uint32(b)
	b = b[4:]
	if m > MaxAckReceives || uint64(m)*12 > uint64(len(b)) {
		return bad("%d receive counts in %d bytes", m, len(b))
	}
	last := int64(-1)
	for i := range m {
		off, c := int64(be.Uint64(b)), be.Uint32(b[8:])
		b = b[12:]
		if off <= last || c == 0 || s.Done(off) {
			return bad("receive count %d: offset %d (count %d)", i, off, c)
		}
		s.receives[off], last = c, off
	}
	return s, b, nil
}

func firstByteOf(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
