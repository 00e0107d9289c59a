package consumergroup

import (
	"cmp"
	"slices"
	"strings"
)

// TopicPartition names one partition of a stream.
type TopicPartition struct {
	Stream    string
	Partition int32
}

// compareTopicPartitions orders partitions by stream, then partition number:
// the order of every list in an Assignment.
func compareTopicPartitions(a, b TopicPartition) int {
	if c := strings.Compare(a.Stream, b.Stream); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// Member is one member of a group as the assignor sees it. Assignors only
// read members; they keep no reference to them or to their slices.
type Member struct {
	ID         string           // member id (unique in the group)
	InstanceID string           // static membership id, "" if dynamic
	Streams    []string         // subscribed streams
	Owned      []TopicPartition // partitions it owns now (cooperative-sticky uses them)
}

// Assignment maps member id -> its partitions, each list sorted by (stream,
// partition). An Assignment made by an Assignor has an entry for every
// member, empty (not nil) for a member that gets nothing, and gives each
// partition of a subscribed stream to exactly one member.
type Assignment map[string][]TopicPartition

// Assignor is a partition assignment strategy. Implementations are
// stateless and safe for concurrent use; the same input always gives the
// same Assignment, whatever the order of the members, of their Streams and
// of their Owned partitions.
type Assignor interface {
	// Name returns the strategy's protocol name: "range", "roundrobin" or
	// "cooperative-sticky".
	Name() string

	// Cooperative reports whether the protocol is incremental: members keep
	// what they own and only moved partitions are revoked (see Revoked and
	// CooperativeFirstRound). An eager strategy has every member revoke
	// everything before the new assignment takes effect.
	Cooperative() bool

	// Assign gives the partitions of the subscribed streams to the members.
	// partitions maps each stream to its partition count. A stream that a
	// member subscribes to but that partitions does not hold is ignored for
	// that member, as Kafka ignores a subscribed topic that does not exist
	// (yet); a stream that no member subscribes to is not assigned. No
	// members give an empty Assignment and no error.
	//
	// It returns a *MemberError (ErrEmptyMemberID, ErrDuplicateMemberID,
	// ErrDuplicateInstanceID), a *PartitionCountError
	// (ErrInvalidPartitionCount) or a *TooManyPartitionsError
	// (ErrTooManyPartitions) for invalid input. The returned Assignment and
	// its slices belong to the caller.
	Assign(members []Member, partitions map[string]int32) (Assignment, error)
}

// Strategy names, as members list them in their join requests.
const (
	RangeName             = "range"
	RoundRobinName        = "roundrobin"
	CooperativeStickyName = "cooperative-sticky"
)

// MaxPartitions bounds the total partition count of the streams that the
// members subscribe to. The assignors hold a few words per partition, and
// the limit keeps a wrong partition count from turning into a huge
// allocation. It is well above what one group consumes in practice.
const MaxPartitions = 1 << 22

// StrategyNames returns the names AssignorByName knows, in a fixed order.
func StrategyNames() []string {
	return []string{RangeName, RoundRobinName, CooperativeStickyName}
}

// AssignorByName returns the strategy with the given protocol name, or an
// *UnknownStrategyError (ErrUnknownStrategy) listing the names it knows.
func AssignorByName(name string) (Assignor, error) {
	switch name {
	case RangeName:
		return Range(), nil
	case RoundRobinName:
		return RoundRobin(), nil
	case CooperativeStickyName:
		return CooperativeSticky(), nil
	}
	return nil, &UnknownStrategyError{Name: name}
}

// group is the validated input of an assignment in canonical order: the
// assignors read only this, so their result does not depend on the order of
// the caller's slices.
//
// Partitions are numbered globally: partition p of stream s is base[s]+p.
// Since streams are in ascending order, ascending global numbers are
// ascending (stream, partition) pairs.
type group struct {
	members     []*Member        // sorted by compareMembers
	streams     []string         // subscribed streams that exist, ascending
	index       map[string]int32 // stream name -> position in streams
	counts      []int32          // stream -> partition count
	base        []int32          // stream -> global number of its partition 0
	total       int32            // number of partitions of all streams
	subs        [][]int32        // member -> its streams, ascending, no duplicates
	subscribers [][]int32        // stream -> its members, ascending
}

// compareMembers orders members as Kafka's MemberInfo does: static members
// first, by instance id, then dynamic members by member id. A static member
// that restarts gets a new member id but keeps its instance id, so it keeps
// its place in this order and, with range, its partitions.
func compareMembers(a, b *Member) int {
	switch {
	case a.InstanceID != "" && b.InstanceID != "":
		if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
			return c
		}
	case a.InstanceID != "":
		return -1
	case b.InstanceID != "":
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

// newGroup validates the input of Assign and puts it in canonical order.
func newGroup(members []Member, partitions map[string]int32) (*group, error) {
	names := make([]string, 0, len(partitions))
	for name := range partitions {
		names = append(names, name)
	}
	slices.Sort(names) // so that the first bad stream reported is always the same
	for _, name := range names {
		if n := partitions[name]; n < 0 {
			return nil, &PartitionCountError{Stream: name, Count: n}
		}
	}
	ids := make(map[string]struct{}, len(members))
	instances := make(map[string]struct{})
	sorted := make([]*Member, len(members))
	for i := range members {
		m := &members[i]
		var err error
		switch _, dupID := ids[m.ID]; {
		case m.ID == "":
			err = ErrEmptyMemberID
		case dupID:
			err = ErrDuplicateMemberID
		case m.InstanceID != "":
			if _, dup := instances[m.InstanceID]; dup {
				err = ErrDuplicateInstanceID
			}
			instances[m.InstanceID] = struct{}{}
		}
		if err != nil {
			return nil, &MemberError{Index: i, ID: m.ID, InstanceID: m.InstanceID, Err: err}
		}
		ids[m.ID] = struct{}{}
		sorted[i] = m
	}
	slices.SortFunc(sorted, compareMembers)

	g := &group{members: sorted, index: make(map[string]int32)}
	var total int64
	for _, m := range sorted {
		for _, name := range m.Streams {
			n, exists := partitions[name]
			if _, seen := g.index[name]; !exists || seen {
				continue
			}
			g.index[name] = 0
			g.streams = append(g.streams, name)
			total += int64(n)
		}
	}
	if total > MaxPartitions {
		return nil, &TooManyPartitionsError{Total: total, Max: MaxPartitions}
	}
	slices.Sort(g.streams)
	g.total = int32(total)
	g.counts = make([]int32, len(g.streams))
	g.base = make([]int32, len(g.streams))
	g.subscribers = make([][]int32, len(g.streams))
	var base int32
	for s, name := range g.streams {
		g.index[name] = int32(s)
		g.counts[s] = partitions[name]
		g.base[s] = base
		base += g.counts[s]
	}
	g.subs = make([][]int32, len(sorted))
	for m, mb := range sorted {
		var subs []int32
		for _, name := range mb.Streams {
			if s, ok := g.index[name]; ok {
				subs = append(subs, s)
			}
		}
		slices.Sort(subs)
		subs = slices.Compact(subs)
		g.subs[m] = subs
		for _, s := range subs {
			g.subscribers[s] = append(g.subscribers[s], int32(m))
		}
	}
	return g, nil
}

// subscribes reports whether member m subscribes to stream s.
func (g *group) subscribes(m, s int32) bool {
	_, ok := slices.BinarySearch(g.subs[m], s)
	return ok
}

// ownedPartition returns the global number of a partition that member m
// claims to own, and false if the claim names a stream m does not
// subscribe to (or that does not exist) or a partition number out of
// range.
func (g *group) ownedPartition(m int32, tp TopicPartition) (int32, bool) {
	s, ok := g.index[tp.Stream]
	if !ok || tp.Partition < 0 || tp.Partition >= g.counts[s] || !g.subscribes(m, s) {
		return 0, false
	}
	return g.base[s] + tp.Partition, true
}

// assignment turns per-member lists of global partition numbers, each in
// ascending order, into an Assignment with an entry for every member.
func (g *group) assignment(lists [][]int32) Assignment {
	out := make(Assignment, len(g.members))
	for m, mb := range g.members {
		tps := make([]TopicPartition, 0, len(lists[m]))
		s := 0
		for _, p := range lists[m] {
			for s+1 < len(g.base) && g.base[s+1] <= p {
				s++
			}
			tps = append(tps, TopicPartition{Stream: g.streams[s], Partition: p - g.base[s]})
		}
		out[mb.ID] = tps
	}
	return out
}

// assignmentOf is assignment for a partition -> member table, where -1
// means unassigned.
func (g *group) assignmentOf(owner []int32) Assignment {
	counts := make([]int32, len(g.members))
	for _, m := range owner {
		if m >= 0 {
			counts[m]++
		}
	}
	lists := make([][]int32, len(g.members))
	for m := range lists {
		lists[m] = make([]int32, 0, counts[m])
	}
	for p, m := range owner {
		if m >= 0 {
			lists[m] = append(lists[m], int32(p))
		}
	}
	return g.assignment(lists)
}
