package consumergroup

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// allAssignors returns every strategy, for tests that check them all.
func allAssignors() []Assignor {
	return []Assignor{Range(), RoundRobin(), CooperativeSticky()}
}

// tp is shorthand for a TopicPartition in test tables.
func tp(stream string, partition int32) TopicPartition {
	return TopicPartition{Stream: stream, Partition: partition}
}

// tps builds a sorted partition list from "stream/partition" strings.
func tps(names ...string) []TopicPartition {
	out := make([]TopicPartition, 0, len(names))
	for _, n := range names {
		var stream string
		var p int32
		i := strings.LastIndexByte(n, '/')
		stream = n[:i]
		if _, err := fmt.Sscan(n[i+1:], &p); err != nil {
			panic(err) // a typo in a test table
		}
		out = append(out, tp(stream, p))
	}
	return out
}

// format prints an assignment as stable text, one member a line.
func format(a Assignment) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(a)) {
		fmt.Fprintf(&b, "%s:", id)
		for _, p := range a[id] {
			fmt.Fprintf(&b, " %s/%d", p.Stream, p.Partition)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// mustAssign runs an assignor and fails the test on error.
func mustAssign(t testing.TB, a Assignor, members []Member, partitions map[string]int32) Assignment {
	t.Helper()
	out, err := a.Assign(members, partitions)
	if err != nil {
		t.Fatalf("%s: Assign: %v", a.Name(), err)
	}
	return out
}

// withOwned returns copies of members whose Owned is what out gives them.
func withOwned(members []Member, out Assignment) []Member {
	next := slices.Clone(members)
	for i := range next {
		next[i].Owned = slices.Clone(out[next[i].ID])
	}
	return next
}

// genConfig shapes the inputs gen makes.
type genConfig struct {
	uniform bool // every member subscribes to every stream
	owned   bool // members own partitions from an earlier assignment, with churn
	stale   bool // add random, possibly invalid or doubly claimed, Owned entries
}

// gen makes a random valid input: up to 6 streams of up to 24 partitions,
// up to 14 members, some static, some subscribed to a stream that does not
// exist.
func gen(r *rand.Rand, cfg genConfig) ([]Member, map[string]int32) {
	partitions := make(map[string]int32)
	streams := make([]string, 1+r.IntN(6))
	for i := range streams {
		streams[i] = fmt.Sprintf("s%d", i)
		partitions[streams[i]] = int32(r.IntN(25))
	}
	members := make([]Member, r.IntN(15))
	for i := range members {
		m := &members[i]
		m.ID = fmt.Sprintf("m%02d", i)
		if r.IntN(3) == 0 {
			m.InstanceID = fmt.Sprintf("i%02d", r.IntN(100)*100+i)
		}
		for _, s := range streams {
			if cfg.uniform || r.IntN(2) == 0 {
				m.Streams = append(m.Streams, s)
			}
		}
		if !cfg.uniform && r.IntN(5) == 0 {
			m.Streams = append(m.Streams, "missing")
		}
	}
	if cfg.owned && len(members) > 0 {
		// An earlier generation: some members left since, some joined.
		old := slices.Clone(members)
		r.Shuffle(len(old), func(i, j int) { old[i], old[j] = old[j], old[i] })
		prev, err := CooperativeSticky().Assign(old[:r.IntN(len(old)+1)], partitions)
		if err != nil {
			panic(err)
		}
		members = withOwned(members, prev)
		for s := range partitions { // streams that grew or shrank
			if r.IntN(4) == 0 {
				partitions[s] = int32(r.IntN(25))
			}
		}
	}
	if cfg.stale {
		for i := range members {
			for range r.IntN(4) {
				s := fmt.Sprintf("s%d", r.IntN(len(streams)+1))
				members[i].Owned = append(members[i].Owned, tp(s, int32(r.IntN(30)-2)))
			}
		}
	}
	return members, partitions
}

// shuffled returns a deep copy of members in a random order, with each
// member's Streams and Owned shuffled too.
func shuffled(r *rand.Rand, members []Member) []Member {
	out := make([]Member, len(members))
	for i, m := range members {
		m.Streams = slices.Clone(m.Streams)
		m.Owned = slices.Clone(m.Owned)
		r.Shuffle(len(m.Streams), func(i, j int) { m.Streams[i], m.Streams[j] = m.Streams[j], m.Streams[i] })
		r.Shuffle(len(m.Owned), func(i, j int) { m.Owned[i], m.Owned[j] = m.Owned[j], m.Owned[i] })
		out[i] = m
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// subscriptions returns each member's effective subscriptions: the streams
// it lists that exist, as a set.
func subscriptions(members []Member, partitions map[string]int32) map[string]map[string]bool {
	subs := make(map[string]map[string]bool, len(members))
	for _, m := range members {
		subs[m.ID] = make(map[string]bool)
		for _, s := range m.Streams {
			if _, ok := partitions[s]; ok {
				subs[m.ID][s] = true
			}
		}
	}
	return subs
}

// uniformSubscriptions reports whether every member that subscribes to an
// existing stream subscribes to the same ones.
func uniformSubscriptions(members []Member, partitions map[string]int32) bool {
	var first map[string]bool
	for _, set := range subscriptions(members, partitions) {
		if len(set) == 0 {
			continue
		}
		if first != nil && !maps.Equal(first, set) {
			return false
		}
		first = set
	}
	return true
}

// checkValid checks what every strategy guarantees: every member has an
// entry and no one else does; lists are sorted without duplicates; members
// get only existing partitions of streams they subscribe to; and every
// partition of a subscribed stream is assigned exactly once.
func checkValid(t testing.TB, members []Member, partitions map[string]int32, out Assignment) {
	t.Helper()
	subs := subscriptions(members, partitions)
	if len(out) != len(members) {
		t.Fatalf("assignment has %d entries for %d members:\n%s", len(out), len(members), format(out))
	}
	holder := make(map[TopicPartition]string)
	for _, m := range members {
		list, ok := out[m.ID]
		if !ok || list == nil {
			t.Fatalf("member %s has no entry (or a nil one):\n%s", m.ID, format(out))
		}
		for i, p := range list {
			if i > 0 && compareTopicPartitions(list[i-1], p) >= 0 {
				t.Fatalf("member %s: list not strictly sorted:\n%s", m.ID, format(out))
			}
			if !subs[m.ID][p.Stream] || p.Partition < 0 || p.Partition >= partitions[p.Stream] {
				t.Fatalf("member %s got %v, which it may not have:\n%s", m.ID, p, format(out))
			}
			if other, dup := holder[p]; dup {
				t.Fatalf("%v given to both %s and %s:\n%s", p, other, m.ID, format(out))
			}
			holder[p] = m.ID
		}
	}
	for s, n := range partitions {
		subscribed := false
		for _, set := range subs {
			subscribed = subscribed || set[s]
		}
		for p := range n {
			if _, ok := holder[tp(s, p)]; ok != subscribed {
				t.Fatalf("%s/%d: assigned %v, subscribed %v:\n%s", s, p, ok, subscribed, format(out))
			}
		}
	}
}

// countRange returns the smallest and largest count among members that
// subscribe to at least one existing stream with partitions.
func countRange(members []Member, partitions map[string]int32, out Assignment) (lo, hi int) {
	lo = -1
	for id, set := range subscriptions(members, partitions) {
		capacity := int32(0)
		for s := range set {
			capacity += partitions[s]
		}
		if capacity == 0 {
			continue
		}
		n := len(out[id])
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	return max(lo, 0), hi
}

// findChain returns a description of a count-reducing chain in out (a member
// that can pass a partition, directly or through other members each
// subscribed to the stream it receives, to a member with at least two
// fewer), or "" if there is none. It works partition by partition, unlike
// the assignor's search by stream.
func findChain(members []Member, partitions map[string]int32, out Assignment) string {
	subs := subscriptions(members, partitions)
	for _, a := range members {
		seen := map[string]bool{a.ID: true}
		queue := []string{a.ID}
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, p := range out[x] {
				for _, y := range members {
					if seen[y.ID] || !subs[y.ID][p.Stream] {
						continue
					}
					if len(out[y.ID]) <= len(out[a.ID])-2 {
						return fmt.Sprintf("%s (%d) reaches %s (%d)", a.ID, len(out[a.ID]), y.ID, len(out[y.ID]))
					}
					seen[y.ID] = true
					queue = append(queue, y.ID)
				}
			}
		}
	}
	return ""
}

// originals returns, per member, its valid Owned partitions that no other
// member claims: the ones cooperative-sticky must not move without need.
// It also reports whether any valid partition is claimed twice.
func originals(members []Member, partitions map[string]int32) (map[string]map[TopicPartition]bool, bool) {
	subs := subscriptions(members, partitions)
	claimants := make(map[TopicPartition]map[string]bool)
	for _, m := range members {
		for _, p := range m.Owned {
			if subs[m.ID][p.Stream] && p.Partition >= 0 && p.Partition < partitions[p.Stream] {
				if claimants[p] == nil {
					claimants[p] = make(map[string]bool)
				}
				claimants[p][m.ID] = true
			}
		}
	}
	out := make(map[string]map[TopicPartition]bool)
	contested := false
	for p, ids := range claimants {
		if len(ids) > 1 {
			contested = true
			continue
		}
		for id := range ids {
			if out[id] == nil {
				out[id] = make(map[TopicPartition]bool)
			}
			out[id][p] = true
		}
	}
	return out, contested
}

// claims returns the valid Owned partitions of member id, including those
// other members claim too.
func claims(members []Member, partitions map[string]int32, id string) map[TopicPartition]bool {
	subs := subscriptions(members, partitions)
	out := make(map[TopicPartition]bool)
	for _, m := range members {
		if m.ID != id {
			continue
		}
		for _, p := range m.Owned {
			if subs[id][p.Stream] && p.Partition >= 0 && p.Partition < partitions[p.Stream] {
				out[p] = true
			}
		}
	}
	return out
}

// moves returns how many original partitions (see originals) end up with
// another member.
func moves(orig map[string]map[TopicPartition]bool, out Assignment) int {
	n := 0
	for id, set := range orig {
		kept := setOf(out[id])
		for p := range set {
			if _, ok := kept[p]; !ok {
				n++
			}
		}
	}
	return n
}

// leastMoves returns the fewest moves that a balanced assignment of a group
// with identical subscriptions allows: members above their quota give up
// the excess, and the larger quotas go to the members owning the most.
func leastMoves(members []Member, partitions map[string]int32, orig map[string]map[TopicPartition]bool) int {
	subs := subscriptions(members, partitions)
	var kept []int
	total := int32(0)
	for _, m := range members {
		if len(subs[m.ID]) == 0 {
			continue
		}
		kept = append(kept, len(orig[m.ID]))
		if total == 0 {
			for s := range subs[m.ID] {
				total += partitions[s]
			}
		}
	}
	if len(kept) == 0 {
		return 0
	}
	slices.Sort(kept)
	slices.Reverse(kept)
	quota, extra := int(total)/len(kept), int(total)%len(kept)
	n := 0
	for i, k := range kept {
		q := quota
		if i < extra {
			q++
		}
		n += max(0, k-q)
	}
	return n
}

// isAssignError reports whether err is one of the errors Assign documents.
func isAssignError(err error) bool {
	for _, target := range []error{ErrEmptyMemberID, ErrDuplicateMemberID, ErrDuplicateInstanceID, ErrInvalidPartitionCount, ErrTooManyPartitions} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
