package consumergroup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// uniformGroup returns n members m00, m01, ... subscribed to every stream
// of partitions, owning nothing.
func uniformGroup(n int, partitions map[string]int32) []Member {
	var streams []string
	for s := range partitions {
		streams = append(streams, s)
	}
	members := make([]Member, n)
	for i := range members {
		members[i] = Member{ID: fmt.Sprintf("m%02d", i), Streams: streams}
	}
	return members
}

func TestCooperativeStickyExamples(t *testing.T) {
	all := []string{"t0", "t1", "t2", "t3"}
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       Assignment
	}{
		{
			// Kafka's StickyAssignor documentation: C1 leaves a balanced
			// group of three; C0 and C2 keep theirs and split C1's.
			"kafka: a member leaves",
			[]Member{
				{ID: "C0", Streams: all, Owned: tps("t0/0", "t1/1", "t3/0")},
				{ID: "C2", Streams: all, Owned: tps("t1/0", "t2/1")},
			},
			map[string]int32{"t0": 2, "t1": 2, "t2": 2, "t3": 2},
			Assignment{"C0": tps("t0/0", "t1/1", "t2/0", "t3/0"), "C2": tps("t0/1", "t1/0", "t2/1", "t3/1")},
		},
		{
			// Kafka's StickyAssignor documentation, differing
			// subscriptions: C0 leaves; C1 takes its partition and C2
			// keeps all of t2, where round robin would reshuffle.
			"kafka: differing subscriptions, a member leaves",
			[]Member{
				{ID: "C1", Streams: []string{"t0", "t1"}, Owned: tps("t1/0", "t1/1")},
				{ID: "C2", Streams: []string{"t0", "t1", "t2"}, Owned: tps("t2/0", "t2/1", "t2/2")},
			},
			map[string]int32{"t0": 1, "t1": 2, "t2": 3},
			Assignment{"C1": tps("t0/0", "t1/0", "t1/1"), "C2": tps("t2/0", "t2/1", "t2/2")},
		},
		{
			"invalid claims are dropped",
			[]Member{
				{ID: "a", Streams: []string{"s"}, Owned: tps("s/7", "deleted/0", "t/0", "s/-1", "s/0", "s/0")},
				{ID: "b", Streams: []string{"s", "t"}, Owned: tps("s/1")},
			},
			map[string]int32{"s": 2, "t": 2},
			// b gets t, which only it subscribes to, and then passes s/1 to
			// a for balance.
			Assignment{"a": tps("s/0", "s/1"), "b": tps("t/0", "t/1")},
		},
		{
			// s/0 is claimed by both (a zombie's stale claim): it goes to
			// the claimant with fewer partitions.
			"stale double ownership",
			[]Member{
				{ID: "a", Streams: []string{"s"}, Owned: tps("s/0", "s/1", "s/2")},
				{ID: "b", Streams: []string{"s"}, Owned: tps("s/0", "s/3")},
			},
			map[string]int32{"s": 4},
			Assignment{"a": tps("s/1", "s/2"), "b": tps("s/0", "s/3")},
		},
		{
			"stale claim on equal counts goes to the first member",
			[]Member{
				{ID: "b", Streams: []string{"s"}, Owned: tps("s/0", "s/1")},
				{ID: "a", Streams: []string{"s"}, Owned: tps("s/1", "s/2")},
			},
			map[string]int32{"s": 4},
			Assignment{"a": tps("s/1", "s/2"), "b": tps("s/0", "s/3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAssign(t, CooperativeSticky(), tt.members, tt.partitions)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", format(got), format(tt.want))
			}
		})
	}
}

// TestCooperativeStickyMemberLeavesOnlyItsPartitionsMove removes each
// member in turn from balanced groups and checks that every other member
// keeps all it had and the group is balanced again.
func TestCooperativeStickyMemberLeavesOnlyItsPartitionsMove(t *testing.T) {
	for _, tt := range []struct {
		members    int
		partitions map[string]int32
	}{
		{3, map[string]int32{"a": 8}},
		{4, map[string]int32{"a": 5, "b": 7, "c": 1}},
		{7, map[string]int32{"a": 30, "b": 3}},
		{5, map[string]int32{"a": 3}}, // fewer partitions than members
	} {
		members := uniformGroup(tt.members, tt.partitions)
		before := mustAssign(t, CooperativeSticky(), members, tt.partitions)
		for leaving := range members {
			t.Run(fmt.Sprintf("%d members %v, %s leaves", tt.members, tt.partitions, members[leaving].ID), func(t *testing.T) {
				rest := withOwned(append(members[:leaving:leaving], members[leaving+1:]...), before)
				after := mustAssign(t, CooperativeSticky(), rest, tt.partitions)
				checkValid(t, rest, tt.partitions, after)
				for _, m := range rest {
					kept := setOf(after[m.ID])
					for _, p := range m.Owned {
						if _, ok := kept[p]; !ok {
							t.Errorf("%s lost %v", m.ID, p)
						}
					}
				}
				if lo, hi := countRange(rest, tt.partitions, after); hi-lo > 1 {
					t.Errorf("counts from %d to %d:\n%s", lo, hi, format(after))
				}
			})
		}
	}
}

// TestCooperativeStickyMemberJoinsTakesOnlyItsShare adds a member to
// balanced groups and checks that it takes its share and that exactly that
// many partitions change hands, from members above the new quota.
func TestCooperativeStickyMemberJoinsTakesOnlyItsShare(t *testing.T) {
	for _, tt := range []struct {
		members    int
		partitions map[string]int32
	}{
		{1, map[string]int32{"a": 8}},
		{2, map[string]int32{"a": 8}},
		{3, map[string]int32{"a": 5, "b": 7, "c": 1}},
		{6, map[string]int32{"a": 30, "b": 3}},
		{4, map[string]int32{"a": 3}}, // the newcomer gets nothing
	} {
		t.Run(fmt.Sprintf("%d members %v", tt.members, tt.partitions), func(t *testing.T) {
			members := uniformGroup(tt.members+1, tt.partitions)
			newcomer := members[tt.members].ID
			before := mustAssign(t, CooperativeSticky(), members[:tt.members], tt.partitions)
			joined := withOwned(members, before)
			after := mustAssign(t, CooperativeSticky(), joined, tt.partitions)
			checkValid(t, joined, tt.partitions, after)
			orig, _ := originals(joined, tt.partitions)
			if got := moves(orig, after); got != len(after[newcomer]) {
				t.Errorf("%d partitions moved, the newcomer got %d:\n%s", got, len(after[newcomer]), format(after))
			}
			total := 0
			for _, n := range tt.partitions {
				total += int(n)
			}
			if n := len(after[newcomer]); n != total/(tt.members+1) {
				t.Errorf("newcomer got %d, want the floor of the mean, %d", n, total/(tt.members+1))
			}
			if lo, hi := countRange(joined, tt.partitions, after); hi-lo > 1 {
				t.Errorf("counts from %d to %d:\n%s", lo, hi, format(after))
			}
		})
	}
}

// TestCooperativeStickyStickiness checks, on generated inputs with earlier
// assignments and churn: no member gives up one of its partitions while
// receiving another of the same stream; the output is stable (given as
// Owned, it comes back unchanged); and with identical subscriptions and no
// stale claims, the number of moves is the least that balance allows.
func TestCooperativeStickyStickiness(t *testing.T) {
	for _, cfg := range []genConfig{
		{owned: true}, {owned: true, uniform: true}, {owned: true, stale: true}, {owned: true, stale: true, uniform: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(2, 0))
			for range 500 {
				members, partitions := gen(r, cfg)
				checkSticky(t, members, partitions)
			}
		})
	}
}

// checkSticky runs cooperative-sticky on members that own partitions and
// checks its balance and stickiness guarantees.
func checkSticky(t *testing.T, members []Member, partitions map[string]int32) {
	t.Helper()
	out := mustAssign(t, CooperativeSticky(), members, partitions)
	checkValid(t, members, partitions, out)
	if chain := findChain(members, partitions, out); chain != "" {
		t.Fatalf("unbalanced: %s:\n%s", chain, format(out))
	}
	orig, contested := originals(members, partitions)
	for id, set := range orig {
		lost, gained := map[string]bool{}, map[string]bool{}
		kept := setOf(out[id])
		for p := range set {
			if _, ok := kept[p]; !ok {
				lost[p.Stream] = true
			}
		}
		claimed := claims(members, partitions, id)
		for _, p := range out[id] {
			if !claimed[p] {
				gained[p.Stream] = true
			}
		}
		for s := range lost {
			if gained[s] {
				t.Fatalf("%s gave up a partition of %s and received another:\n%s", id, s, format(out))
			}
		}
	}
	if again := mustAssign(t, CooperativeSticky(), withOwned(members, out), partitions); !reflect.DeepEqual(again, out) {
		t.Fatalf("not stable: given its output as Owned it returned\n%sinstead of\n%s", format(again), format(out))
	}
	if uniformSubscriptions(members, partitions) && !contested {
		if got, least := moves(orig, out), leastMoves(members, partitions, orig); got != least {
			t.Fatalf("%d partitions moved, %d would do:\n%s", got, least, format(out))
		}
	}
}
