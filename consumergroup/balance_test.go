package consumergroup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestBalanceChains(t *testing.T) {
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       Assignment
	}{
		{
			// A is over by one, C under by one, and C cannot take A's
			// stream: one partition moves along the chain A -> B -> C.
			"one link through a middle member",
			[]Member{
				{ID: "A", Streams: []string{"s1"}, Owned: tps("s1/0", "s1/1", "s1/2")},
				{ID: "B", Streams: []string{"s1", "s2"}, Owned: tps("s2/0", "s2/1")},
				{ID: "C", Streams: []string{"s2"}, Owned: tps("s2/2")},
			},
			map[string]int32{"s1": 3, "s2": 3},
			Assignment{"A": tps("s1/0", "s1/1"), "B": tps("s1/2", "s2/0"), "C": tps("s2/1", "s2/2")},
		},
		{
			// A ladder: member Ai subscribes to streams si and si+1. A0
			// starts with three partitions over the balanced count and A3
			// one under: they travel down the ladder, one link per member.
			"a ladder",
			[]Member{
				{ID: "A0", Streams: []string{"s0", "s1"}, Owned: tps("s1/0", "s1/1", "s1/2", "s1/3", "s1/4", "s1/5")},
				{ID: "A1", Streams: []string{"s1", "s2"}, Owned: tps("s2/0", "s2/1")},
				{ID: "A2", Streams: []string{"s2", "s3"}, Owned: tps("s3/0", "s3/1")},
				{ID: "A3", Streams: []string{"s3", "s4"}, Owned: tps("s4/0")},
			},
			map[string]int32{"s0": 0, "s1": 6, "s2": 2, "s3": 2, "s4": 1},
			Assignment{
				"A0": tps("s1/0", "s1/1", "s1/2"),
				"A1": tps("s1/3", "s1/4", "s1/5"),
				"A2": tps("s2/0", "s2/1", "s3/0"),
				"A3": tps("s3/1", "s4/0"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAssign(t, CooperativeSticky(), tt.members, tt.partitions)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", format(got), format(tt.want))
			}
			checkValid(t, tt.members, tt.partitions, got)
			if chain := findChain(tt.members, tt.partitions, got); chain != "" {
				t.Fatalf("unbalanced: %s", chain)
			}
		})
	}
}

// TestBalanceOptimalOnSmallGroups compares cooperative-sticky with every
// possible assignment of small groups: no assignment has a smaller largest
// count or a smaller sum of squared counts. This checks the chain criterion
// that the other tests rely on.
func TestBalanceOptimalOnSmallGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 0))
	for range 300 {
		partitions := map[string]int32{"a": int32(r.IntN(4)), "b": int32(r.IntN(3)), "c": int32(r.IntN(3))}
		members := make([]Member, 1+r.IntN(4))
		for i := range members {
			members[i].ID = fmt.Sprintf("m%d", i)
			for _, s := range []string{"a", "b", "c"} {
				if r.IntN(2) == 0 {
					members[i].Streams = append(members[i].Streams, s)
				}
			}
		}
		out := mustAssign(t, CooperativeSticky(), members, partitions)
		gotMax, gotSquares := cost(members, out)
		bestMax, bestSquares := bruteForce(members, partitions)
		if gotMax != bestMax || gotSquares != bestSquares {
			t.Fatalf("largest count %d, squares %d; best possible %d, %d:\n%s",
				gotMax, gotSquares, bestMax, bestSquares, format(out))
		}
	}
}

// cost returns the largest count and the sum of squared counts of out.
func cost(members []Member, out Assignment) (largest, squares int) {
	for _, m := range members {
		n := len(out[m.ID])
		largest = max(largest, n)
		squares += n * n
	}
	return largest, squares
}

// bruteForce tries every assignment of the subscribed partitions and
// returns the least largest count and the least sum of squared counts.
func bruteForce(members []Member, partitions map[string]int32) (bestMax, bestSquares int) {
	subs := subscriptions(members, partitions)
	var candidates [][]int // partition -> members that may take it
	for _, s := range []string{"a", "b", "c"} {
		var who []int
		for i, m := range members {
			if subs[m.ID][s] {
				who = append(who, i)
			}
		}
		for range partitions[s] {
			if len(who) > 0 {
				candidates = append(candidates, who)
			}
		}
	}
	bestMax, bestSquares = -1, -1
	counts := make([]int, len(members))
	var try func(p int)
	try = func(p int) {
		if p == len(candidates) {
			largest, squares := 0, 0
			for _, n := range counts {
				largest = max(largest, n)
				squares += n * n
			}
			if bestMax < 0 || largest < bestMax {
				bestMax = largest
			}
			if bestSquares < 0 || squares < bestSquares {
				bestSquares = squares
			}
			return
		}
		for _, m := range slices.Clone(candidates[p]) {
			counts[m]++
			try(p + 1)
			counts[m]--
		}
	}
	try(0)
	return bestMax, bestSquares
}

// TestBalanceLargeMixedGroups runs the stickiness and balance checks
// on fewer, larger groups with differing subscriptions.
func TestBalanceLargeMixedGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 0))
	for i := range 10 {
		partitions := map[string]int32{}
		streams := make([]string, 8)
		for s := range streams {
			streams[s] = fmt.Sprintf("s%d", s)
			partitions[streams[s]] = int32(r.IntN(100))
		}
		members := make([]Member, 40)
		for m := range members {
			members[m].ID = fmt.Sprintf("m%02d", m)
			for _, s := range streams {
				if r.IntN(3) == 0 || i%2 == 0 && s == "s0" {
					members[m].Streams = append(members[m].Streams, s)
				}
			}
		}
		out := mustAssign(t, CooperativeSticky(), members, partitions)
		checkValid(t, members, partitions, out)
		if chain := findChain(members, partitions, out); chain != "" {
			t.Fatalf("unbalanced: %s", chain)
		}
		// Churn: five leave, five subscriptions change.
		members = withOwned(members[5:], out)
		for range 5 {
			m := &members[r.IntN(len(members))]
			m.Streams = append(m.Streams, streams[r.IntN(len(streams))])
		}
		checkSticky(t, members, partitions)
	}
}
