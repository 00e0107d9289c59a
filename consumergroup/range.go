package consumergroup

// Range returns the range strategy (Kafka's RangeAssignor). Each stream is
// assigned on its own: its subscribers, ordered static members first by
// instance id and then dynamic members by member id, each take a contiguous
// range of its partitions, in order, and the first (partitions mod
// subscribers) of them take one more than the rest.
//
// Kafka documents the order as by member id; its MemberInfo order, which
// this follows, puts static members first by instance id. A static member
// that restarts comes back with a new member id and the same instance id,
// and so gets the same ranges as before.
//
// Per stream the counts of its subscribers differ by at most one, but the
// extra partitions of every stream go to the same first members, so with
// many streams the totals can differ by up to the number of streams. Range
// is eager: it ignores Owned.
func Range() Assignor { return rangeAssignor{} }

type rangeAssignor struct{}

func (rangeAssignor) Name() string      { return RangeName }
func (rangeAssignor) Cooperative() bool { return false }

func (rangeAssignor) Assign(members []Member, partitions map[string]int32) (Assignment, error) {
	g, err := newGroup(members, partitions)
	if err != nil {
		return nil, err
	}
	lists := make([][]int32, len(g.members))
	for s, subscribers := range g.subscribers {
		n, m := g.counts[s], int32(len(subscribers))
		per, extra := n/m, n%m
		next := g.base[s]
		for i, member := range subscribers {
			size := per
			if int32(i) < extra {
				size++
			}
			for p := next; p < next+size; p++ {
				lists[member] = append(lists[member], p)
			}
			next += size
		}
	}
	return g.assignment(lists), nil
}
