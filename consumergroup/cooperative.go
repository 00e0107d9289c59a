package consumergroup

import "slices"

// The incremental cooperative protocol (KIP-429) rebalances in two rounds
// so that members keep consuming what they keep. In the first round each
// member is told its next assignment minus the partitions that another
// member still owns; each member revokes what it owns but is no longer
// given (Revoked), commits, and rejoins. In the second round nobody owns a
// moved partition any more, so the assignor gives it to its new owner. A
// partition is thus never in two members' hands: its old owner lets go
// before its new owner is told to take it.

// Revoked returns, per member, the partitions it owns in prev (its Owned)
// that next gives to someone else or to no one: what a cooperative
// rebalance must revoke before the second round. Only members with
// something to revoke have an entry; each list is sorted by (stream,
// partition) and without duplicates. Members are matched with next by ID;
// a member missing from next revokes everything it owns.
func Revoked(members []Member, next Assignment) Assignment {
	out := make(Assignment)
	for _, m := range members {
		keep := setOf(next[m.ID])
		var revoked []TopicPartition
		for _, tp := range m.Owned {
			if _, ok := keep[tp]; !ok {
				revoked = append(revoked, tp)
			}
		}
		if len(revoked) > 0 {
			out[m.ID] = append(out[m.ID], revoked...)
		}
	}
	for id, tps := range out {
		out[id] = sortedSet(tps)
	}
	return out
}

// CooperativeFirstRound returns next minus every partition that moves from
// one owner to another (those stay unassigned until their owner revoked
// them and the group rebalances again), as Kafka's incremental cooperative
// protocol does. A partition next gives to a member that already owns it
// stays with it even if another member also claims it (a stale claim): the
// other member revokes it (see Revoked). A partition nobody owns is given
// at once. The result has an entry for every member of next; each list is
// sorted by (stream, partition) and without duplicates.
//
// Between the rounds, once every member has revoked what Revoked lists,
// member m holds its Owned minus its revoked partitions plus its first
// round partitions, all of which next gives to m: no partition is in two
// members' hands.
func CooperativeFirstRound(members []Member, next Assignment) Assignment {
	// owners counts, for each owned partition, the distinct members owning
	// it; owns says which partitions each member owns.
	owners := make(map[TopicPartition]int)
	owns := make(map[string]map[TopicPartition]struct{}, len(members))
	for _, m := range members {
		set := owns[m.ID]
		if set == nil {
			set = make(map[TopicPartition]struct{}, len(m.Owned))
			owns[m.ID] = set
		}
		for _, tp := range m.Owned {
			if _, dup := set[tp]; !dup {
				set[tp] = struct{}{}
				owners[tp]++
			}
		}
	}
	out := make(Assignment, len(next))
	for id, tps := range next {
		mine := owns[id]
		first := make([]TopicPartition, 0, len(tps))
		for _, tp := range tps {
			_, owned := mine[tp]
			if owned || owners[tp] == 0 {
				first = append(first, tp)
			}
		}
		out[id] = sortedSet(first)
	}
	return out
}

// setOf returns the partitions of tps as a set.
func setOf(tps []TopicPartition) map[TopicPartition]struct{} {
	set := make(map[TopicPartition]struct{}, len(tps))
	for _, tp := range tps {
		set[tp] = struct{}{}
	}
	return set
}

// sortedSet sorts tps by (stream, partition) and removes duplicates, in
// place.
func sortedSet(tps []TopicPartition) []TopicPartition {
	slices.SortFunc(tps, compareTopicPartitions)
	return slices.Compact(tps)
}
