package consumergroup

import (
	"cmp"
	"slices"
)

// This file is the balancing step of the cooperative-sticky strategy, needed
// only when members subscribe to different streams (with identical
// subscriptions, capUniform and fill already balance the group).
//
// A count-reducing chain starts at a member a, which hands a partition of a
// stream s1 to a member y1 subscribed to s1, which hands a partition of s2
// to y2, and so on to a member t holding at least two fewer partitions than
// a. Shifting one partition along every link lowers a by one, raises t by
// one and leaves the members in between unchanged, so it strictly lowers the
// sum of squared counts. An assignment with no such chain is optimal (Harvey
// et al. 2003). balance searches for chains breadth first, over members and
// streams, so each search costs O(S) for S subscriptions, and shifts as many
// partitions at once as the chain and the loads allow.

// balancer holds the state of the balancing step.
type balancer struct {
	st *sticky
	g  *group
	// held maps a member and the position of a stream in g.subs[member] to
	// the partitions of that stream it holds. Invariant: p is in
	// held[m][i] exactly when st.owner[p] == m and p is a partition of
	// g.subs[m][i].
	held [][][]int32
	// own counts, in the same layout, the partitions of the stream that m
	// owned before (prev). While m holds more than that, passing one on
	// costs no stickiness: restore gives every member back its own
	// partitions of a stream, up to its count of that stream.
	own [][]int32
	// hist maps a load to the number of members at that load, counting
	// only members subscribed to at least one partition; minLoad is the
	// smallest load it holds. Shifts never lower the minimum.
	hist    []int32
	minLoad int32
	// Scratch of search: marks (equal to epoch when seen in the current
	// search), the link each reached member was reached by, and the queue,
	// which holds the reached members when the search ends.
	epoch        int32
	seenMember   []int32
	seenStream   []int32
	parent, via  []int32
	queue        []int32
	verified     []int32 // member -> pass in which it was shown to start no chain
	participants []int32 // members subscribed to at least one partition, in order
}

// balance shifts partitions along count-reducing chains until there are
// none left. It does nothing when the counts already differ by at most one.
func (st *sticky) balance() {
	g := st.g
	b := &balancer{st: st, g: g}
	lo, hi := int32(-1), int32(-1)
	for m, subs := range g.subs {
		capacity := int64(0)
		for _, s := range subs {
			capacity += int64(g.counts[s])
		}
		if capacity == 0 {
			continue
		}
		b.participants = append(b.participants, int32(m))
		if lo < 0 || st.load[m] < lo {
			lo = st.load[m]
		}
		hi = max(hi, st.load[m])
	}
	if hi-lo <= 1 {
		return
	}
	b.init()
	b.run()
}

// init builds held, the histogram and the scratch of search.
func (b *balancer) init() {
	g, st := b.g, b.st
	b.held = make([][][]int32, len(g.members))
	b.own = make([][]int32, len(g.members))
	for m, subs := range g.subs {
		b.held[m] = make([][]int32, len(subs))
		b.own[m] = make([]int32, len(subs))
	}
	for s := range g.streams {
		for p := g.base[s]; p < g.base[s]+g.counts[s]; p++ {
			m := st.owner[p]
			i := b.position(m, int32(s))
			b.held[m][i] = append(b.held[m][i], p)
			if st.prev[p] == m {
				b.own[m][i]++
			}
		}
	}
	b.hist = make([]int32, g.total+1)
	b.minLoad = g.total
	for _, m := range b.participants {
		b.hist[st.load[m]]++
		b.minLoad = min(b.minLoad, st.load[m])
	}
	n := len(g.members)
	b.seenMember = make([]int32, n)
	b.seenStream = make([]int32, len(g.streams))
	b.parent = make([]int32, n)
	b.via = make([]int32, n)
	b.verified = make([]int32, n)
}

// position returns the position of stream s in g.subs[m], which must hold
// it.
func (b *balancer) position(m, s int32) int {
	i, _ := slices.BinarySearch(b.g.subs[m], s)
	return i
}

// run shifts partitions along free chains (whose every link passes a
// partition its giver did not own before, so that no member loses one of
// its own) while there are any, then along chains of any kind, and again,
// until no chain of any kind is left.
func (b *balancer) run() {
	pass := int32(0)
	for {
		for pass++; b.pass(pass, true); pass++ {
		}
		pass++
		if !b.pass(pass, false) {
			return
		}
	}
}

// pass tries every member, most loaded first, as the start of chains, and
// reports whether it shifted anything. If onlyFree is set it looks for
// free chains only; otherwise it prefers a free chain from each member and
// takes any other if there is none. A pass that shifts nothing has shown,
// for every member, that no such chain starts there.
func (b *balancer) pass(pass int32, onlyFree bool) bool {
	load := b.st.load
	order := slices.Clone(b.participants)
	slices.SortStableFunc(order, func(x, y int32) int { return cmp.Compare(load[y], load[x]) })
	shifted := false
	for _, a := range order {
		if b.verified[a] == pass {
			continue
		}
		// A member within one of the minimum load cannot start a chain.
		for load[a] >= b.minLoad+2 {
			free := true
			t := b.search(a, free)
			if (t < 0 || load[t] > load[a]-2) && !onlyFree {
				free = false
				t = b.search(a, free)
			}
			if t < 0 || load[t] > load[a]-2 {
				// Every member that a reaches holds at least load[a]-1, so
				// a reached member y with load[y] <= load[a] starts no
				// chain either: it reaches only members a reaches, and a.
				for _, y := range b.queue {
					if load[y] <= load[a] {
						b.verified[y] = pass
					}
				}
				break
			}
			b.shift(a, t, free)
			shifted = true
		}
	}
	return shifted
}

// search finds the members that a reaches by chains, breadth first, using
// only links that pass a partition its giver did not own before if free is
// set. It returns the least loaded of them (the first found on ties, which
// is on a shortest chain), or -1 if there is none. It stops early at a
// member of the minimum load, since none can be better; otherwise b.queue
// holds a and every member it reaches when it returns.
func (b *balancer) search(a int32, free bool) (target int32) {
	g, load := b.g, b.st.load
	b.epoch++
	b.seenMember[a] = b.epoch
	b.queue = append(b.queue[:0], a)
	target = -1
	for next := 0; next < len(b.queue); next++ {
		x := b.queue[next]
		for i, s := range g.subs[x] {
			if b.spare(x, i, free) == 0 || b.seenStream[s] == b.epoch {
				continue
			}
			b.seenStream[s] = b.epoch
			for _, y := range g.subscribers[s] {
				if b.seenMember[y] == b.epoch {
					continue
				}
				b.seenMember[y] = b.epoch
				b.parent[y], b.via[y] = x, s
				b.queue = append(b.queue, y)
				if target < 0 || load[y] < load[target] {
					target = y
					if load[y] == b.minLoad {
						return target
					}
				}
			}
		}
	}
	return target
}

// shift moves k partitions along the chain from a to t found by search (of
// free chains if free is set), for the largest k that every link can carry
// and that keeps the move count reducing (k <= (load[a]-load[t])/2), but
// that, where it can, lowers a no further than the ceiling of the mean load
// of the members and raises t no further than its floor: going past the
// mean would mostly move partitions that must move on again.
func (b *balancer) shift(a, t int32, free bool) {
	st := b.st
	la, lt := st.load[a], st.load[t]
	k := (la - lt) / 2
	for y := t; y != a; y = b.parent[y] {
		x := b.parent[y]
		k = min(k, b.spare(x, b.position(x, b.via[y]), free))
	}
	n := int32(len(b.participants))
	if hi := (b.g.total + n - 1) / n; la > hi {
		k = min(k, la-hi)
	}
	if lo := b.g.total / n; lt < lo {
		k = min(k, lo-lt)
	}
	for y := t; y != a; y = b.parent[y] {
		x, s := b.parent[y], b.via[y]
		from, to := b.position(x, s), b.position(y, s)
		moved := b.held[x][from][len(b.held[x][from])-int(k):]
		for _, p := range moved {
			st.owner[p] = y
		}
		b.held[y][to] = append(b.held[y][to], moved...)
		b.held[x][from] = b.held[x][from][:len(b.held[x][from])-int(k)]
	}
	b.setLoad(a, la-k)
	b.setLoad(t, lt+k)
}

// spare returns how many partitions of stream g.subs[x][i] member x can
// pass on: all it holds, or if free is set those it did not own before.
func (b *balancer) spare(x int32, i int, free bool) int32 {
	n := int32(len(b.held[x][i]))
	if free {
		n = max(0, n-b.own[x][i])
	}
	return n
}

// setLoad changes a member's load and keeps the histogram and minLoad.
func (b *balancer) setLoad(m, load int32) {
	b.hist[b.st.load[m]]--
	b.hist[load]++
	b.st.load[m] = load
	for b.hist[b.minLoad] == 0 {
		b.minLoad++
	}
}
