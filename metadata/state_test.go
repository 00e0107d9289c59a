package metadata

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicedb/sluice/consumergroup"
)

func TestPartitionID(t *testing.T) {
	for _, c := range []struct {
		stream uint64
		index  int
		want   string
	}{{1, 0, "s1-p0"}, {7, 9999, "s7-p9999"}, {1<<64 - 1, MaxPartitions - 1, "s18446744073709551615-p9999"}} {
		id := PartitionID(c.stream, c.index)
		if id != c.want {
			t.Fatalf("PartitionID(%d, %d) = %q, want %q", c.stream, c.index, id, c.want)
		}
		if s, i, ok := parsePartitionID(id); !ok || s != c.stream || i != c.index {
			t.Fatalf("parsePartitionID(%q) = %d, %d, %v", id, s, i, ok)
		}
	}
	for _, id := range []string{"", "s", "s1", "s1-p", "x1-p0", "s01-p0", "s1-p00", "s1-p-1", "s-1-p0", "s1-p0 ", "s1-q0", "s+1-p0"} {
		if _, _, ok := parsePartitionID(id); ok {
			t.Fatalf("parsePartitionID(%q) accepted", id)
		}
	}
}

func TestViewAccessors(t *testing.T) {
	h := scripted(t)
	v := h.f.View()
	nodes := v.Nodes()
	if !slices.IsSortedFunc(nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) }) || len(nodes) != 6 {
		t.Fatalf("Nodes() = %v", nodes)
	}
	for _, n := range nodes {
		if v.Node(n.ID) != n {
			t.Fatalf("Node(%s)", n.ID)
		}
	}
	if v.Node("nope") != nil || v.Stream("nope") != nil {
		t.Fatal("unknown names found")
	}
	streams := v.Streams()
	if !slices.IsSortedFunc(streams, func(a, b *Stream) int { return strings.Compare(a.Name, b.Name) }) || len(streams) == 0 {
		t.Fatalf("Streams() not sorted")
	}
	onNode := map[string][]*Partition{}
	for _, s := range streams {
		if v.Stream(s.Name) != s {
			t.Fatalf("Stream(%s)", s.Name)
		}
		for i := range s.Partitions {
			p := &s.Partitions[i]
			if v.Partition(p.ID) != p {
				t.Fatalf("Partition(%s)", p.ID)
			}
			for _, id := range p.Replicas {
				onNode[id] = append(onNode[id], p)
			}
		}
		if v.Partition(PartitionID(s.ID, len(s.Partitions))) != nil {
			t.Fatal("a partition past the end was found")
		}
	}
	for _, n := range nodes {
		if got := v.PartitionsOnNode(n.ID); !slices.Equal(got, onNode[n.ID]) {
			t.Fatalf("PartitionsOnNode(%s): %d partitions, want %d", n.ID, len(got), len(onNode[n.ID]))
		}
	}
	groups := v.Groups()
	if !slices.IsSortedFunc(groups, func(a, b *consumergroup.GroupState) int { return strings.Compare(a.Name, b.Name) }) || len(groups) != 3 {
		t.Fatalf("Groups() = %v", groups)
	}
	for _, g := range groups {
		if got, ok := v.Group(g.Name); !ok || got != g {
			t.Fatalf("Group(%q)", g.Name)
		}
	}
	if g, ok := v.Group("nope"); ok || g != nil {
		t.Fatal("an unknown group found")
	}
	for _, id := range []string{"s999-p0", "garbage", ""} {
		if v.Partition(id) != nil {
			t.Fatalf("Partition(%q) found", id)
		}
	}
}

// TestViewImmutable: a View taken earlier does not change when commands
// are applied later.
func TestViewImmutable(t *testing.T) {
	h := newHarness(t)
	h.nodes(3)
	h.must(stream("a", 3, 3))
	old := h.f.View()
	oldSnap := encodeView(t, old, 0)
	h.must(stream("b", 2, 2))
	h.must(AlterStream{Name: "a", RetentionMs: 5})
	h.must(DeleteStream{Name: "a"})
	h.must(RemoveNode{ID: "n1"})
	h.must(node("n4", NodeActive))
	h.must(AllocateProducerIDs{Count: 4})
	if !slices.Equal(encodeView(t, old, 0), oldSnap) {
		t.Fatal("an old View changed")
	}
	if old.Stream("a").RetentionMs != DefaultRetentionMs || old.Stream("b") != nil || old.Node("n1").State != NodeActive || old.Version() != 4 {
		t.Fatal("an old View changed")
	}
}

// TestViewConcurrentReaders reads Views on several goroutines while
// commands are applied; run with -race. Every View a reader sees must be
// internally consistent, and versions must only grow.
func TestViewConcurrentReaders(t *testing.T) {
	h := newHarness(t)
	h.nodes(5)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			var last uint64
			for !stop.Load() {
				v := h.f.View()
				if err := checkView(v); err != nil {
					errs <- err
					return
				}
				if v.Version() < last {
					errs <- fmt.Errorf("version went back from %d to %d", last, v.Version())
					return
				}
				last = v.Version()
			}
		})
	}
	for i := range 300 {
		h.must(stream(fmt.Sprint("s", i), 1+i%9, 1+i%3))
		h.must(AllocateProducerIDs{Count: 1})
		if i%3 == 0 {
			h.must(AlterStream{Name: fmt.Sprint("s", i), MaxRecordBytes: int32(100 + i)})
		}
		if i%4 == 0 {
			h.must(DeleteStream{Name: fmt.Sprint("s", i/2)})
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkView checks a View's internal consistency.
func checkView(v *View) error {
	if len(v.names) != len(v.streams) || len(v.byID) != len(v.streams) || !slices.IsSorted(v.names) {
		return fmt.Errorf("version %d: %d names, %d streams, %d ids", v.version, len(v.names), len(v.streams), len(v.byID))
	}
	if len(v.nodeIDs) != len(v.nodes) || !slices.IsSorted(v.nodeIDs) {
		return fmt.Errorf("version %d: node index inconsistent", v.version)
	}
	if len(v.groupNames) != len(v.groups) || !slices.IsSorted(v.groupNames) || v.nextGroupIncarnation < 1 {
		return fmt.Errorf("version %d: group index inconsistent", v.version)
	}
	for _, g := range v.Groups() {
		if g == nil || g.Incarnation == 0 || g.Incarnation >= v.nextGroupIncarnation || g.Version == 0 || g.Version > v.version {
			return fmt.Errorf("version %d: group %+v (next incarnation %d)", v.version, g, v.nextGroupIncarnation)
		}
		if err := g.Validate(); err != nil {
			return fmt.Errorf("version %d: %w", v.version, err)
		}
	}
	if len(v.queueNames) != len(v.queues) || !slices.IsSorted(v.queueNames) || v.nextQueueIncarnation < 1 {
		return fmt.Errorf("version %d: queue index inconsistent", v.version)
	}
	incarnations := map[uint64]bool{}
	for _, q := range v.Queues() {
		if q == nil || q.Incarnation == 0 || q.Incarnation >= v.nextQueueIncarnation || incarnations[q.Incarnation] {
			return fmt.Errorf("version %d: queue %+v (next incarnation %d)", v.version, q, v.nextQueueIncarnation)
		}
		incarnations[q.Incarnation] = true
		if v.streams[q.Stream] == nil || q.DeadLetterStream != "" && v.streams[q.DeadLetterStream] == nil {
			return fmt.Errorf("version %d: queue %q names a stream that does not exist", v.version, q.Name)
		}
		if err := validQueueSettings(q.VisibilityTimeoutMs, q.MaxReceives, q.DeadLetterStream, q.DelayMs); err != nil ||
			q.DeadLetterStream == q.Stream || q.CreatedAt < 0 {
			return fmt.Errorf("version %d: queue %+v: %v", v.version, q, err)
		}
	}
	for _, s := range v.Streams() {
		if v.byID[s.ID] != s || s.ID >= v.nextStreamID {
			return fmt.Errorf("version %d: stream %s id %d", v.version, s.Name, s.ID)
		}
		for i := range s.Partitions {
			if v.Partition(s.Partitions[i].ID) != &s.Partitions[i] {
				return fmt.Errorf("version %d: partition %s", v.version, s.Partitions[i].ID)
			}
		}
	}
	return nil
}
