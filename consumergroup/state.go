package consumergroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// GroupState is what the cluster's metadata group stores of a consumer
// group: enough for a new coordinator to carry on after a failover with the
// same generation, members and assignment. Heartbeat times and what the
// members report owning are the coordinator's memory, not part of it.
type GroupState struct {
	Name string
	// Incarnation identifies one life of the group: the metadata group
	// gives a new group the next of a counter that only grows, so a group
	// deleted and created again never reuses one. Committed offsets carry
	// it, so offsets of an older life never fence a newer one.
	Incarnation uint64
	// Version is the raft index of the group's last change, set by the
	// metadata group; a change names the version it replaces.
	Version uint64
	// Generation counts assignments: it grows by one at every change of
	// the target assignment.
	Generation int32
	// Strategy is the assignor's name (AssignorByName).
	Strategy string
	Members  []MemberState // sorted by ID
	// Streams are every stream the group has consumed (its members
	// subscribed to, or its offsets were reset on), sorted: where its
	// committed offsets are when it has no members.
	Streams   []string
	CreatedAt int64 // Unix ms, the metadata leader's clock
	UpdatedAt int64
}

// MemberState is one member of a GroupState.
type MemberState struct {
	ID         string
	InstanceID string   // static membership id; "" if dynamic
	Streams    []string // subscribed streams, sorted, no duplicates
	// SessionTimeoutMs and RebalanceTimeoutMs are the member's timeouts.
	SessionTimeoutMs   int32
	RebalanceTimeoutMs int32
	// Assigned is the member's target assignment in this generation,
	// sorted by (stream, partition).
	Assigned []TopicPartition
}

// Limits of a GroupState.
const (
	MaxGroupNameLen       = 249 // Kafka's group id has no limit; ours matches stream names
	MaxMemberIDLen        = 255
	MaxMembers            = 10000
	MaxStreamsPerMember   = 1000
	MinSessionTimeoutMs   = 1000
	MaxSessionTimeoutMs   = 30 * 60 * 1000
	MaxRebalanceTimeoutMs = 30 * 60 * 1000
)

// ErrInvalidGroupState reports a GroupState that does not validate or
// does not decode.
var ErrInvalidGroupState = errors.New("consumergroup: invalid group state")

func invalidState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidGroupState, fmt.Sprintf(format, args...))
}

// ValidGroupName reports whether name can name a group: 1..MaxGroupNameLen
// bytes of valid UTF-8 without control characters.
func ValidGroupName(name string) error {
	if name == "" || len(name) > MaxGroupNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("group name must be 1..%d bytes of UTF-8, got %d bytes", MaxGroupNameLen, len(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("group name %q holds a control character", name)
		}
	}
	return nil
}

// Validate checks the limits and the canonical order of g.
func (g *GroupState) Validate() error {
	if err := ValidGroupName(g.Name); err != nil {
		return invalidState("%v", err)
	}
	if g.Generation < 0 {
		return invalidState("group %q: generation %d", g.Name, g.Generation)
	}
	if _, err := AssignorByName(g.Strategy); err != nil {
		return invalidState("group %q: %v", g.Name, err)
	}
	if len(g.Members) > MaxMembers {
		return invalidState("group %q: %d members, limit %d", g.Name, len(g.Members), MaxMembers)
	}
	if len(g.Streams) > MaxStreamsPerMember*10 {
		return invalidState("group %q: %d streams", g.Name, len(g.Streams))
	}
	for j, st := range g.Streams {
		if st == "" || (j > 0 && g.Streams[j-1] >= st) {
			return invalidState("group %q: streams not sorted and distinct", g.Name)
		}
	}
	owner := map[TopicPartition]string{}
	instances := map[string]bool{}
	for i, m := range g.Members {
		if m.ID == "" || len(m.ID) > MaxMemberIDLen || len(m.InstanceID) > MaxMemberIDLen {
			return invalidState("group %q: member %d: id %q, instance id %q", g.Name, i, m.ID, m.InstanceID)
		}
		if i > 0 && g.Members[i-1].ID >= m.ID {
			return invalidState("group %q: members not sorted by id at %q", g.Name, m.ID)
		}
		if m.InstanceID != "" {
			if instances[m.InstanceID] {
				return invalidState("group %q: instance id %q twice", g.Name, m.InstanceID)
			}
			instances[m.InstanceID] = true
		}
		if m.SessionTimeoutMs < MinSessionTimeoutMs || m.SessionTimeoutMs > MaxSessionTimeoutMs {
			return invalidState("group %q: member %q: session timeout %d ms", g.Name, m.ID, m.SessionTimeoutMs)
		}
		if m.RebalanceTimeoutMs < 0 || m.RebalanceTimeoutMs > MaxRebalanceTimeoutMs {
			return invalidState("group %q: member %q: rebalance timeout %d ms", g.Name, m.ID, m.RebalanceTimeoutMs)
		}
		if len(m.Streams) == 0 || len(m.Streams) > MaxStreamsPerMember {
			return invalidState("group %q: member %q: %d streams", g.Name, m.ID, len(m.Streams))
		}
		for j, s := range m.Streams {
			if s == "" || (j > 0 && m.Streams[j-1] >= s) {
				return invalidState("group %q: member %q: streams not sorted and distinct", g.Name, m.ID)
			}
		}
		for j, tp := range m.Assigned {
			if tp.Partition < 0 || (j > 0 && compareTopicPartitions(m.Assigned[j-1], tp) >= 0) {
				return invalidState("group %q: member %q: assignment not sorted and distinct", g.Name, m.ID)
			}
			if _, ok := slices.BinarySearch(m.Streams, tp.Stream); !ok {
				return invalidState("group %q: member %q: assigned %s/%d of a stream it does not subscribe to", g.Name, m.ID, tp.Stream, tp.Partition)
			}
			if o, dup := owner[tp]; dup {
				return invalidState("group %q: %s/%d assigned to %q and %q", g.Name, tp.Stream, tp.Partition, o, m.ID)
			}
			owner[tp] = m.ID
		}
	}
	return nil
}

// Member returns the member with the given id.
func (g *GroupState) Member(id string) (*MemberState, bool) {
	i, ok := slices.BinarySearchFunc(g.Members, id, func(m MemberState, id string) int {
		switch {
		case m.ID < id:
			return -1
		case m.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, false
	}
	return &g.Members[i], true
}

// Clone returns a deep copy of g.
func (g *GroupState) Clone() *GroupState {
	c := *g
	c.Streams = slices.Clone(g.Streams)
	if g.Members != nil {
		c.Members = make([]MemberState, len(g.Members))
	}
	for i, m := range g.Members {
		m.Streams = slices.Clone(m.Streams)
		m.Assigned = slices.Clone(m.Assigned)
		c.Members[i] = m
	}
	return &c
}

// The encoding of a GroupState (in metadata commands and snapshots; never
// change, add versions):
//
//	version u8 = 1
//	name str, incarnation u64, version u64, generation i32, strategy str,
//	created i64, updated i64, stream count u32, streams str...,
//	member count u32, then per member:
//	  id str, instance id str, session timeout i32, rebalance timeout i32,
//	  stream count u32, streams str..., assigned count u32, then per
//	  assigned partition: stream index u32 (into the member's streams),
//	  partition i32
//
// str is a u32 length and the bytes; integers are big-endian.
const groupStateVersion = 1

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendBinary appends the encoding of g to b. It does not run Validate
// (callers do, before they store a state); it fails only for a state the
// encoding cannot express: an assigned partition of a stream the member
// does not list in its sorted Streams.
func (g *GroupState) AppendBinary(b []byte) ([]byte, error) {
	for _, m := range g.Members {
		for _, tp := range m.Assigned {
			if _, ok := slices.BinarySearch(m.Streams, tp.Stream); !ok {
				return b, invalidState("group %q: member %q: assigned %s/%d of a stream it does not list", g.Name, m.ID, tp.Stream, tp.Partition)
			}
		}
	}
	be := binary.BigEndian
	b = append(b, groupStateVersion)
	b = appendStr(b, g.Name)
	b = be.AppendUint64(b, g.Incarnation)
	b = be.AppendUint64(b, g.Version)
	b = be.AppendUint32(b, uint32(g.Generation))
	b = appendStr(b, g.Strategy)
	b = be.AppendUint64(b, uint64(g.CreatedAt))
	b = be.AppendUint64(b, uint64(g.UpdatedAt))
	b = be.AppendUint32(b, uint32(len(g.Streams)))
	for _, st := range g.Streams {
		b = appendStr(b, st)
	}
	b = be.AppendUint32(b, uint32(len(g.Members)))
	for _, m := range g.Members {
		b = appendStr(b, m.ID)
		b = appendStr(b, m.InstanceID)
		b = be.AppendUint32(b, uint32(m.SessionTimeoutMs))
		b = be.AppendUint32(b, uint32(m.RebalanceTimeoutMs))
		b = be.AppendUint32(b, uint32(len(m.Streams)))
		for _, s := range m.Streams {
			b = appendStr(b, s)
		}
		b = be.AppendUint32(b, uint32(len(m.Assigned)))
		for _, tp := range m.Assigned {
			i, _ := slices.BinarySearch(m.Streams, tp.Stream)
			b = be.AppendUint32(b, uint32(i))
			b = be.AppendUint32(b, uint32(tp.Partition))
		}
	}
	return b, nil
}

// decoder reads big-endian fields, bounding every length by the bytes
// left; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = invalidState("%s: %d bytes needed, %d left", what, n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32(what string) uint32 {
	v := d.take(4, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (d *decoder) u64(what string) uint64 {
	v := d.take(8, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (d *decoder) str(what string) string {
	n := d.u32(what)
	return string(d.take(int(min(n, 1<<30)), what))
}

// count reads a count of items of at least minSize bytes each, refusing
// one that the bytes left cannot hold.
func (d *decoder) count(what string, minSize int) int {
	n := d.u32(what)
	if d.err == nil && uint64(n)*uint64(minSize) > uint64(len(d.b)) {
		d.err = invalidState("%s: %d items in %d bytes", what, n, len(d.b))
		return 0
	}
	return int(n)
}

// DecodeGroupState decodes one GroupState from the front of b and returns
// the bytes after it. Malformed input is ErrInvalidGroupState. It checks
// the framing only, not the limits of Validate, which callers run: a state
// stored under older limits still decodes, so tightening Validate later
// refuses new states without making stored ones unreadable.
func DecodeGroupState(b []byte) (*GroupState, []byte, error) {
	if len(b) == 0 || b[0] != groupStateVersion {
		return nil, nil, invalidState("unknown encoding version")
	}
	d := &decoder{b: b[1:]}
	g := &GroupState{}
	g.Name = d.str("name")
	g.Incarnation = d.u64("incarnation")
	g.Version = d.u64("version")
	g.Generation = int32(d.u32("generation"))
	g.Strategy = d.str("strategy")
	g.CreatedAt = int64(d.u64("created"))
	g.UpdatedAt = int64(d.u64("updated"))
	ns := d.count("streams", 4)
	for j := 0; j < ns && d.err == nil; j++ {
		g.Streams = append(g.Streams, d.str("stream"))
	}
	n := d.count("members", 24)
	if d.err == nil && n > 0 {
		g.Members = make([]MemberState, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		m := &g.Members[i]
		m.ID = d.str("member id")
		m.InstanceID = d.str("instance id")
		m.SessionTimeoutMs = int32(d.u32("session timeout"))
		m.RebalanceTimeoutMs = int32(d.u32("rebalance timeout"))
		ns := d.count("streams", 4)
		for j := 0; j < ns && d.err == nil; j++ {
			m.Streams = append(m.Streams, d.str("stream"))
		}
		na := d.count("assigned", 8)
		for j := 0; j < na && d.err == nil; j++ {
			si := d.u32("stream index")
			p := int32(d.u32("partition"))
			if d.err == nil && int(si) >= len(m.Streams) {
				d.err = invalidState("member %q: stream index %d of %d", m.ID, si, len(m.Streams))
			}
			if d.err == nil {
				m.Assigned = append(m.Assigned, TopicPartition{Stream: m.Streams[si], Partition: p})
			}
		}
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	return g, d.b, nil
}
