package metadata

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// loadOf counts replicas and preferred leaders per active node of v.
func loadOf(v *View) (replicas, leaders map[string]int) {
	replicas, leaders = map[string]int{}, map[string]int{}
	for _, id := range v.activeNodeIDs() {
		replicas[id], leaders[id] = 0, 0
	}
	for _, s := range v.Streams() {
		for _, p := range s.Partitions {
			for j, id := range p.Replicas {
				if _, ok := replicas[id]; ok {
					replicas[id]++
					if j == 0 {
						leaders[id]++
					}
				}
			}
		}
	}
	return replicas, leaders
}

func spread(m map[string]int) int {
	lo, hi := -1, -1
	for _, v := range m {
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return hi - lo
}

// checkReplicaSets checks that every replica set of s has rf distinct
// active nodes.
func checkReplicaSets(t *testing.T, v *View, s *Stream) {
	t.Helper()
	for _, p := range s.Partitions {
		if len(p.Replicas) != s.ReplicationFactor {
			t.Fatalf("%s: %d replicas, want %d", p.ID, len(p.Replicas), s.ReplicationFactor)
		}
		seen := map[string]bool{}
		for _, id := range p.Replicas {
			if seen[id] {
				t.Fatalf("%s: node %s twice in %v", p.ID, id, p.Replicas)
			}
			seen[id] = true
			if n := v.Node(id); n == nil || n.State != NodeActive {
				t.Fatalf("%s: replica on %s, not an active node", p.ID, id)
			}
		}
	}
}

// TestAssignBalance creates many streams of random sizes and replication
// factors over 3 and 5 nodes: after each one, replicas per node and
// preferred leaders per node are within 1 of each other.
func TestAssignBalance(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.nodes(nodes)
			rng := rand.New(rand.NewPCG(uint64(nodes), 1))
			for i := range 300 {
				c := stream(fmt.Sprint("s", i), 1+rng.IntN(40), 1+rng.IntN(nodes))
				s := h.must(c).(*Stream)
				v := h.f.View()
				checkReplicaSets(t, v, s)
				r, l := loadOf(v)
				if spread(r) > 1 || spread(l) > 1 {
					t.Fatalf("after stream %d (%d partitions, rf %d): replicas %v, leaders %v",
						i, c.Partitions, c.ReplicationFactor, r, l)
				}
			}
		})
	}
}

// TestAssignBalanceAllSizes drives assign directly for 1..9 nodes with
// random replication factors, one partition at a time and in streams.
func TestAssignBalanceAllSizes(t *testing.T) {
	for k := 1; k <= 9; k++ {
		rng := rand.New(rand.NewPCG(uint64(k), 2))
		load := make([]nodeLoad, k)
		for i := range load {
			load[i].id = fmt.Sprint("n", i)
		}
		for streamID := uint64(1); streamID <= 500; streamID++ {
			rf := 1 + rng.IntN(min(k, MaxReplicationFactor))
			count := 1 + rng.IntN(5)
			for _, set := range assign(load, streamID, count, rf) {
				if len(set) != rf || len(set) != len(slices.Compact(slices.Sorted(slices.Values(set)))) {
					t.Fatalf("%d nodes: replica set %v for rf %d", k, set, rf)
				}
			}
			lo, hi := load[0], load[0]
			for _, n := range load {
				lo.replicas, hi.replicas = min(lo.replicas, n.replicas), max(hi.replicas, n.replicas)
				lo.leaders, hi.leaders = min(lo.leaders, n.leaders), max(hi.leaders, n.leaders)
			}
			if hi.replicas-lo.replicas > 1 || hi.leaders-lo.leaders > 1 {
				t.Fatalf("%d nodes, stream %d: %+v", k, streamID, load)
			}
		}
	}
}

// TestAssignOnlyActive: joining and removed nodes get no replicas.
func TestAssignOnlyActive(t *testing.T) {
	h := newHarness(t)
	h.nodes(4)
	h.must(node("j1", NodeJoining))
	h.must(RemoveNode{ID: "n2"})
	s := h.must(stream("s", 30, 3)).(*Stream)
	checkReplicaSets(t, h.f.View(), s)
	if len(h.f.View().PartitionsOnNode("j1")) != 0 || len(h.f.View().PartitionsOnNode("n2")) != 0 {
		t.Fatal("replicas on a node that is not active")
	}
}

// TestAssignFillsNewNode: a node that becomes active later takes the new
// replicas and leaders first, until the load is even again.
func TestAssignFillsNewNode(t *testing.T) {
	h := newHarness(t)
	h.nodes(3)
	h.must(stream("a", 12, 3)) // 12 replicas and 4 leaders per node
	h.must(node("n4", NodeActive))
	s := h.must(stream("b", 4, 1)).(*Stream)
	for _, p := range s.Partitions {
		if p.Replicas[0] != "n4" {
			t.Fatalf("%s on %v, want n4 (the least loaded)", p.ID, p.Replicas)
		}
	}
	for i := 0; ; i++ {
		r, l := loadOf(h.f.View())
		if spread(r) <= 1 && spread(l) <= 1 {
			break
		}
		if i == 20 {
			t.Fatalf("load not even after 20 streams: replicas %v, leaders %v", r, l)
		}
		h.must(stream(fmt.Sprint("c", i), 2, 2))
	}
}

// TestAssignSpreadsPairs: followers do not always pair up the same way.
func TestAssignSpreadsPairs(t *testing.T) {
	h := newHarness(t)
	h.nodes(5)
	s := h.must(stream("s", 50, 2)).(*Stream)
	pairs := map[[2]string]int{}
	for _, p := range s.Partitions {
		pairs[[2]string{p.Replicas[0], p.Replicas[1]}]++
	}
	t.Logf("%d distinct pairs: %v", len(pairs), pairs)
	if len(pairs) < 10 {
		t.Fatalf("only %d distinct (leader, follower) pairs over 5 nodes: %v", len(pairs), pairs)
	}
}
