package consumergroup

import "slices"

// RoundRobin returns the round-robin strategy (Kafka's
// RoundRobinAssignor). All partitions of the subscribed streams, in
// (stream, partition) order, are dealt in turn to the members, ordered as
// for Range (static members first by instance id, then dynamic members by
// member id); a member not subscribed to a partition's stream is skipped
// for it, and the deal continues after the member that took it.
//
// When every member subscribes to the same streams, the members' counts
// differ by at most one. With differing subscriptions there is no such
// bound (Kafka documents an example where one member gets four partitions
// and another one); use CooperativeSticky for balance. RoundRobin is eager:
// it ignores Owned.
func RoundRobin() Assignor { return roundRobinAssignor{} }

type roundRobinAssignor struct{}

func (roundRobinAssignor) Name() string      { return RoundRobinName }
func (roundRobinAssignor) Cooperative() bool { return false }

func (roundRobinAssignor) Assign(members []Member, partitions map[string]int32) (Assignment, error) {
	g, err := newGroup(members, partitions)
	if err != nil {
		return nil, err
	}
	lists := make([][]int32, len(g.members))
	next := int32(0) // the member whose turn it is
	for s, subscribers := range g.subscribers {
		if g.counts[s] == 0 {
			continue
		}
		// The first subscriber at or after next takes the first partition;
		// after that, turns among this stream's subscribers simply rotate,
		// because the members in between do not subscribe to it.
		i, _ := slices.BinarySearch(subscribers, next)
		for p := g.base[s]; p < g.base[s]+g.counts[s]; p++ {
			if i == len(subscribers) {
				i = 0
			}
			lists[subscribers[i]] = append(lists[subscribers[i]], p)
			next = subscribers[i] + 1
			i++
		}
		if next == int32(len(g.members)) {
			next = 0
		}
	}
	return g.assignment(lists), nil
}
