package consumergroup

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestAssignorByNameReturnsEachStrategy(t *testing.T) {
	for _, a := range allAssignors() {
		got, err := AssignorByName(a.Name())
		if err != nil || got.Name() != a.Name() || got.Cooperative() != a.Cooperative() {
			t.Errorf("AssignorByName(%q) = %v, %v", a.Name(), got, err)
		}
	}
	if !CooperativeSticky().Cooperative() || Range().Cooperative() || RoundRobin().Cooperative() {
		t.Error("only cooperative-sticky is cooperative")
	}
}

func TestAssignorByNameUnknownListsKnownNames(t *testing.T) {
	for _, name := range []string{"", "sticky", "Range", "round-robin"} {
		_, err := AssignorByName(name)
		var unknown *UnknownStrategyError
		if !errors.Is(err, ErrUnknownStrategy) || !errors.As(err, &unknown) || unknown.Name != name {
			t.Fatalf("AssignorByName(%q) error = %v", name, err)
		}
		for _, known := range StrategyNames() {
			if !strings.Contains(err.Error(), known) {
				t.Errorf("error %q does not list %q", err, known)
			}
		}
	}
}

func TestAssignRejectsInvalidInput(t *testing.T) {
	ok := map[string]int32{"a": 3}
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       error
		index      int // for a *MemberError, the members index reported
	}{
		{"empty member id", []Member{{ID: "x"}, {ID: ""}}, ok, ErrEmptyMemberID, 1},
		{"duplicate member id", []Member{{ID: "x"}, {ID: "y"}, {ID: "x"}}, ok, ErrDuplicateMemberID, 2},
		{"duplicate instance id", []Member{{ID: "x", InstanceID: "i"}, {ID: "y", InstanceID: "i"}}, ok, ErrDuplicateInstanceID, 1},
		{"negative partition count", []Member{{ID: "x", Streams: []string{"a"}}}, map[string]int32{"a": 1, "b": -1}, ErrInvalidPartitionCount, 0},
		{"negative count of an unsubscribed stream", nil, map[string]int32{"b": -5}, ErrInvalidPartitionCount, 0},
		{"too many partitions", []Member{{ID: "x", Streams: []string{"a", "b"}}}, map[string]int32{"a": MaxPartitions, "b": 1}, ErrTooManyPartitions, 0},
	}
	for _, tt := range tests {
		for _, a := range allAssignors() {
			t.Run(tt.name+"/"+a.Name(), func(t *testing.T) {
				got, err := a.Assign(tt.members, tt.partitions)
				if !errors.Is(err, tt.want) || got != nil {
					t.Fatalf("Assign = %v, %v; want error %v", got, err, tt.want)
				}
				var me *MemberError
				if errors.As(err, &me) && me.Index != tt.index {
					t.Errorf("MemberError.Index = %d, want %d", me.Index, tt.index)
				}
				var pe *PartitionCountError
				if errors.As(err, &pe) && (pe.Stream != "b" || pe.Count >= 0) {
					t.Errorf("PartitionCountError = %+v, want stream b", pe)
				}
				var te *TooManyPartitionsError
				if errors.As(err, &te) && (te.Total != MaxPartitions+1 || te.Max != MaxPartitions) {
					t.Errorf("TooManyPartitionsError = %+v", te)
				}
			})
		}
	}
}

func TestAssignEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       Assignment
	}{
		{"no members", nil, map[string]int32{"a": 4}, Assignment{}},
		{"no streams", []Member{{ID: "x", Streams: []string{"a"}}}, nil, Assignment{"x": {}}},
		{
			"unknown stream is ignored for the member",
			[]Member{{ID: "x", Streams: []string{"gone", "a"}}, {ID: "y", Streams: []string{"gone"}}},
			map[string]int32{"a": 2},
			Assignment{"x": tps("a/0", "a/1"), "y": {}},
		},
		{
			"stream with no partitions",
			[]Member{{ID: "x", Streams: []string{"a", "e"}}},
			map[string]int32{"a": 1, "e": 0},
			Assignment{"x": tps("a/0")},
		},
		{
			"unsubscribed stream is not assigned",
			[]Member{{ID: "x", Streams: []string{"a"}}},
			map[string]int32{"a": 1, "b": 7},
			Assignment{"x": tps("a/0")},
		},
		{
			"stream listed twice by a member",
			[]Member{{ID: "x", Streams: []string{"a", "a"}}},
			map[string]int32{"a": 2},
			Assignment{"x": tps("a/0", "a/1")},
		},
		{
			"member subscribed to nothing",
			[]Member{{ID: "x"}, {ID: "y", Streams: []string{"a"}}},
			map[string]int32{"a": 2},
			Assignment{"x": {}, "y": tps("a/0", "a/1")},
		},
	}
	for _, tt := range tests {
		for _, a := range allAssignors() {
			t.Run(tt.name+"/"+a.Name(), func(t *testing.T) {
				got := mustAssign(t, a, tt.members, tt.partitions)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got\n%swant\n%s", format(got), format(tt.want))
				}
			})
		}
	}
}

// TestAssignProperties checks every strategy on generated inputs: validity
// (each partition of a subscribed stream assigned once, only to
// subscribers), determinism under shuffles of members, streams and owned
// partitions, and the balance each strategy documents.
func TestAssignProperties(t *testing.T) {
	configs := []struct {
		name string
		cfg  genConfig
	}{
		{"fresh", genConfig{}},
		{"fresh uniform", genConfig{uniform: true}},
		{"owned", genConfig{owned: true}},
		{"owned uniform", genConfig{owned: true, uniform: true}},
		{"owned stale", genConfig{owned: true, stale: true}},
		{"owned stale uniform", genConfig{owned: true, stale: true, uniform: true}},
	}
	for _, c := range configs {
		for _, a := range allAssignors() {
			t.Run(c.name+"/"+a.Name(), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
				for range 300 {
					members, partitions := gen(r, c.cfg)
					out := mustAssign(t, a, members, partitions)
					checkValid(t, members, partitions, out)
					again := mustAssign(t, a, shuffled(r, members), partitions)
					if !reflect.DeepEqual(out, again) {
						t.Fatalf("shuffled input changed the result:\n%s---\n%s", format(out), format(again))
					}
					checkBalance(t, a, members, partitions, out)
				}
			})
		}
	}
}

// checkBalance checks the balance a strategy documents.
func checkBalance(t *testing.T, a Assignor, members []Member, partitions map[string]int32, out Assignment) {
	t.Helper()
	uniform := uniformSubscriptions(members, partitions)
	switch a.Name() {
	case RangeName:
		if want := referenceRange(members, partitions); !reflect.DeepEqual(out, want) {
			t.Fatalf("range differs from the reference:\n%s---\n%s", format(out), format(want))
		}
	case RoundRobinName:
		if want := referenceRoundRobin(members, partitions); !reflect.DeepEqual(out, want) {
			t.Fatalf("roundrobin differs from the reference:\n%s---\n%s", format(out), format(want))
		}
		if lo, hi := countRange(members, partitions, out); uniform && hi-lo > 1 {
			t.Fatalf("uniform subscriptions, counts from %d to %d:\n%s", lo, hi, format(out))
		}
	case CooperativeStickyName:
		if lo, hi := countRange(members, partitions, out); uniform && hi-lo > 1 {
			t.Fatalf("uniform subscriptions, counts from %d to %d:\n%s", lo, hi, format(out))
		}
		if chain := findChain(members, partitions, out); chain != "" {
			t.Fatalf("unbalanced: %s:\n%s", chain, format(out))
		}
	}
}
