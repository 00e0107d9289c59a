package metadata

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestScriptReassigns: the command script's reassignments (in the
// determinism and snapshot tests) apply as meant.
func TestScriptReassigns(t *testing.T) {
	h := scripted(t)
	v := h.f.View()
	if s := v.Stream("after"); s == nil || s.ID != 21 {
		t.Fatalf("stream after: %+v", s)
	}
	if p := v.Partition("s21-p0"); p.Epoch != 2 || !slices.Equal(p.Replicas, []string{"n1", "n6", "n3", "n4", "n5"}) {
		t.Fatalf("s21-p0: %+v", p)
	}
	if p := v.Partition("s21-p1"); p.Epoch != 0 || len(p.Replicas) != 3 {
		t.Fatalf("s21-p1 (refused reassignment): %+v", p)
	}
	if p := v.Partition("s21-p5"); p.Epoch != 1 || len(p.Replicas) != 1 {
		t.Fatalf("s21-p5: %+v", p)
	}
}

// applyPlan proposes every command of a plan and fails on a refusal.
func applyPlan(t *testing.T, h *harness, plan []ReassignPartition) {
	t.Helper()
	for _, c := range plan {
		h.must(c)
	}
}

// TestPlanRemoveNode removes one node of five after many streams: every
// replica moves to the four others, the sets keep their replication
// factor and their other nodes, and the load stays within 1.
func TestPlanRemoveNode(t *testing.T) {
	h := newHarness(t)
	h.nodes(5)
	for i := range 20 {
		h.must(stream(fmt.Sprint("s", i), 1+i%7, 1+i%3))
	}
	before := h.f.View()
	h.must(RemoveNode{ID: "n3"})
	plan, err := h.f.View().PlanRemoveNode("n3")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != len(before.PartitionsOnNode("n3")) || len(plan) == 0 {
		t.Fatalf("%d commands for %d partitions", len(plan), len(before.PartitionsOnNode("n3")))
	}
	applyPlan(t, h, plan)
	v := h.f.View()
	if len(v.PartitionsOnNode("n3")) != 0 {
		t.Fatal("replicas left on n3")
	}
	for _, s := range v.Streams() {
		for _, p := range s.Partitions {
			old := before.Partition(p.ID)
			if len(p.Replicas) != s.ReplicationFactor {
				t.Fatalf("%s: %v, rf %d", p.ID, p.Replicas, s.ReplicationFactor)
			}
			for _, id := range old.Replicas {
				if id != "n3" && !slices.Contains(p.Replicas, id) {
					t.Fatalf("%s: %v lost %s of %v", p.ID, p.Replicas, id, old.Replicas)
				}
			}
			if old.Replicas[0] != "n3" && p.Replicas[0] != old.Replicas[0] {
				t.Fatalf("%s: preferred leader moved from %s to %s", p.ID, old.Replicas[0], p.Replicas[0])
			}
		}
	}
	r, l := loadOf(v)
	if spread(r) > 1 || spread(l) > 1 {
		t.Fatalf("replicas %v, leaders %v", r, l)
	}
	if again, err := v.PlanRemoveNode("n3"); err != nil || len(again) != 0 {
		t.Fatalf("plan after the moves: %v, %v", again, err)
	}
}

// TestPlanRemoveNodeShrinks: with fewer active nodes than the replication
// factor the sets shrink, and a partition whose only node goes has
// nowhere to go.
func TestPlanRemoveNodeShrinks(t *testing.T) {
	h := newHarness(t)
	h.nodes(3)
	h.must(stream("a", 3, 3))
	plan, err := h.f.View().PlanRemoveNode("n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan {
		if len(c.Replicas) != 2 || slices.Contains(c.Replicas, "n1") {
			t.Fatalf("plan %+v", c)
		}
	}
	applyPlan(t, h, plan)

	h = newHarness(t)
	h.nodes(1)
	h.must(stream("b", 1, 1))
	if _, err := h.f.View().PlanRemoveNode("n1"); !errors.Is(err, ErrNotEnoughNodes) {
		t.Fatalf("plan = %v, want ErrNotEnoughNodes", err)
	}
	if _, err := h.f.View().PlanRemoveNode("n9"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("plan = %v, want ErrNodeNotFound", err)
	}
}

// TestPlanRemoveNodeRefills: a set shrunk by an earlier removal is filled
// up to its replication factor again once a node is there to take it.
func TestPlanRemoveNodeRefills(t *testing.T) {
	h := newHarness(t)
	h.nodes(3)
	h.must(stream("a", 2, 3))
	h.must(RemoveNode{ID: "n1"})
	applyPlan(t, h, plan(t, h.f.View(), "n1"))
	h.must(node("n4", NodeActive))
	h.must(node("n5", NodeActive))
	h.must(RemoveNode{ID: "n2"})
	applyPlan(t, h, plan(t, h.f.View(), "n2"))
	for _, p := range h.f.View().Stream("a").Partitions {
		if len(p.Replicas) != 3 || slices.Contains(p.Replicas, "n1") || slices.Contains(p.Replicas, "n2") {
			t.Fatalf("%s: %v", p.ID, p.Replicas)
		}
	}
}

func plan(t *testing.T, v *View, id string) []ReassignPartition {
	t.Helper()
	p, err := v.PlanRemoveNode(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
