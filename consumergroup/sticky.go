package consumergroup

import (
	"cmp"
	"slices"
)

// CooperativeSticky returns the cooperative-sticky strategy (Kafka's
// CooperativeStickyAssignor), which balances the members' partition counts
// and, within balance, keeps each member's Owned partitions. Its
// guarantees, each checked by the tests:
//
//   - Balance. No member holds a partition that could be passed, directly or
//     along a chain of members each subscribed to the stream of the partition
//     it receives, to a member holding at least two fewer partitions. Such an
//     assignment minimises the largest count and the sum of squared counts
//     over all assignments the subscriptions allow (Harvey, Ladner, Lovász
//     and Tamir, "Semi-matchings for bipartite graphs and load balancing",
//     2003). When all members subscribe to the same streams, counts differ by
//     at most one.
//   - Claims. An Owned partition is a claim. Invalid claims (a stream that
//     does not exist or that the member does not subscribe to, a partition
//     number out of range) are dropped. A partition claimed by several
//     members (a stale claim) goes to one of them: the one holding the
//     fewest partitions when it is settled (after the uncontested claims,
//     in partition order), then the first in member order.
//   - Stickiness. No member gives up a partition it owned while receiving a
//     new partition of the same stream. When all members subscribe to the
//     same streams, the number of partitions that change hands is the least
//     that balance allows: members leaving free only their own partitions,
//     and a member joining takes only its share, from the members above
//     theirs. With differing subscriptions, chains that move no owned
//     partition are preferred, but minimality is not proven.
//   - Stability. Given its own output as Owned, it returns the same output.
//     Given as Owned what the members hold between the two rounds of a
//     cooperative rebalance (see CooperativeFirstRound), the second round
//     revokes nothing. This follows from the quotas for identical
//     subscriptions; for differing ones the tests show it on generated
//     inputs, without a proof.
//
// The algorithm: settle the claims; when subscriptions are identical, cap
// each member at its quota (the larger quotas go to the members owning the
// most); deal the unassigned partitions, stream by stream (streams with the
// fewest subscribers first), each to the least loaded subscriber; shift
// partitions along shortest chains from the most loaded members while a
// count-reducing chain exists (balance.go); and finally, per stream, give
// each member back its own partitions up to its count of that stream. For P
// partitions, M members and S subscriptions the cost is O(P log M + S) when
// subscriptions are identical, plus a search of O(S) per shift when they
// differ.
func CooperativeSticky() Assignor { return stickyAssignor{} }

type stickyAssignor struct{}

func (stickyAssignor) Name() string      { return CooperativeStickyName }
func (stickyAssignor) Cooperative() bool { return true }

func (stickyAssignor) Assign(members []Member, partitions map[string]int32) (Assignment, error) {
	g, err := newGroup(members, partitions)
	if err != nil {
		return nil, err
	}
	st := &sticky{g: g, load: make([]int32, len(g.members))}
	st.claim()
	st.capUniform()
	st.fill()
	st.balance()
	st.restore()
	return g.assignmentOf(st.owner), nil
}

// sticky is the state of one cooperative-sticky assignment.
type sticky struct {
	g *group
	// owner maps a partition to the member holding it, or -1 while it is
	// unassigned. Invariant: load[m] is the number of partitions p with
	// owner[p] == m.
	owner []int32
	// prev maps a partition to the member that owned it before this
	// assignment, after stale claims are resolved, or -1.
	prev []int32
	load []int32 // member -> number of partitions it holds
}

// claim gives every partition validly claimed by one member to it, and every
// partition claimed by several to one of them, and records the result in
// prev.
func (st *sticky) claim() {
	g := st.g
	st.owner = make([]int32, g.total)
	for p := range st.owner {
		st.owner[p] = -1
	}
	type claim struct{ p, m int32 }
	var claims []claim
	claimants := make([]int32, g.total)
	for m, mb := range g.members {
		for _, tp := range mb.Owned {
			p, ok := g.ownedPartition(int32(m), tp)
			if !ok || st.owner[p] == int32(m) {
				continue // invalid, or listed twice by this member
			}
			st.owner[p] = int32(m) // marks p as claimed by m for the check above
			claimants[p]++
			claims = append(claims, claim{p, int32(m)})
		}
	}
	var contested []claim
	for _, c := range claims {
		if claimants[c.p] > 1 {
			contested = append(contested, c)
			st.owner[c.p] = -1
			continue
		}
		st.load[c.m]++
	}
	// Settle contested partitions in a fixed order, each going to the
	// claimant with the fewest partitions so far.
	slices.SortFunc(contested, func(a, b claim) int {
		return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.m, b.m))
	})
	for i := 0; i < len(contested); {
		p, winner := contested[i].p, contested[i].m
		for ; i < len(contested) && contested[i].p == p; i++ {
			if st.load[contested[i].m] < st.load[winner] {
				winner = contested[i].m
			}
		}
		st.owner[p] = winner
		st.load[winner]++
	}
	st.prev = slices.Clone(st.owner)
}

// capUniform handles the common case of identical subscriptions, where the
// final counts are known in advance: with P partitions and n members, r = P
// mod n members hold P/n+1 and the others P/n. The r members owning the most
// get the larger quota, which makes the members keep as many of their
// partitions as possible, and each member above its quota frees its
// highest-numbered partitions. Members that subscribe to no existing stream
// take no part. Dealing the freed partitions then balances the group
// without any further move.
func (st *sticky) capUniform() {
	g := st.g
	var eligible []int32
	for m, subs := range g.subs {
		if len(subs) == 0 {
			continue
		}
		if len(eligible) > 0 && !slices.Equal(subs, g.subs[eligible[0]]) {
			return
		}
		eligible = append(eligible, int32(m))
	}
	if len(eligible) == 0 {
		return
	}
	n := int32(len(eligible))
	quota, extra := g.total/n, g.total%n
	byLoad := slices.Clone(eligible)
	slices.SortStableFunc(byLoad, func(a, b int32) int { return cmp.Compare(st.load[b], st.load[a]) })
	limit := make([]int32, len(g.members))
	for i, m := range byLoad {
		limit[m] = quota
		if int32(i) < extra {
			limit[m]++
		}
	}
	kept := make([]int32, len(g.members))
	for p, m := range st.owner {
		if m < 0 {
			continue
		}
		if kept[m] == limit[m] {
			st.owner[p] = -1
			st.load[m]--
			continue
		}
		kept[m]++
	}
}

// fill deals every unassigned partition to the least loaded member that
// subscribes to its stream (the first in member order on ties). Streams with
// fewer subscribers go first, since their partitions have fewer places to
// go.
func (st *sticky) fill() {
	g := st.g
	order := make([]int32, len(g.streams))
	for s := range order {
		order[s] = int32(s)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Compare(len(g.subscribers[a]), len(g.subscribers[b]))
	})
	var h loadHeap
	for _, s := range order {
		first, end := g.base[s], g.base[s]+g.counts[s]
		p := first
		for p < end && st.owner[p] >= 0 {
			p++
		}
		if p == end {
			continue
		}
		// Only this stream's partitions change loads while the heap is in
		// use, so its keys stay current.
		h = loadHeap{load: st.load, members: append(h.members[:0], g.subscribers[s]...)}
		h.init()
		for ; p < end; p++ {
			if st.owner[p] >= 0 {
				continue
			}
			m := h.members[0]
			st.owner[p] = m
			st.load[m]++
			h.down(0)
		}
	}
}

// restore makes the final assignment as sticky as its counts allow: for each
// stream, every member keeps holding as many partitions of it as before,
// but takes back its own (prev) partitions of it first; a partition nobody
// takes back stays with its holder if the holder has room left, and the
// rest go to the members still short. Loads and per-stream counts do not
// change, so neither does balance.
func (st *sticky) restore() {
	g := st.g
	room := make([]int32, len(g.members))
	var taken []bool
	var free []int32
	for s := range g.streams {
		first, end := g.base[s], g.base[s]+g.counts[s]
		for p := first; p < end; p++ {
			room[st.owner[p]]++
		}
		taken = taken[:0]
		for p := first; p < end; p++ {
			m := st.prev[p]
			back := m >= 0 && room[m] > 0
			if back {
				room[m]--
				st.owner[p] = m
			}
			taken = append(taken, back)
		}
		free = free[:0]
		for p := first; p < end; p++ {
			if taken[p-first] {
				continue
			}
			if h := st.owner[p]; room[h] > 0 {
				room[h]--
				continue
			}
			free = append(free, p)
		}
		// The room left adds up to len(free), and only subscribers of s
		// hold its partitions.
		next := 0
		for _, m := range g.subscribers[s] {
			for ; room[m] > 0; room[m]-- {
				st.owner[free[next]] = m
				next++
			}
		}
	}
}

// loadHeap is a min-heap of members by (load, member order).
type loadHeap struct {
	load    []int32 // member -> load, shared with sticky
	members []int32
}

func (h *loadHeap) less(i, j int) bool {
	a, b := h.members[i], h.members[j]
	return h.load[a] < h.load[b] || h.load[a] == h.load[b] && a < b
}

func (h *loadHeap) init() {
	for i := len(h.members)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *loadHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h.members) {
			return
		}
		if r := l + 1; r < len(h.members) && h.less(r, l) {
			l = r
		}
		if !h.less(l, i) {
			return
		}
		h.members[i], h.members[l] = h.members[l], h.members[i]
		i = l
	}
}
