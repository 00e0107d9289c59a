package consumergroup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestCooperativeRebalanceRounds(t *testing.T) {
	s := []string{"s"}
	tests := []struct {
		name    string
		count   int32 // partitions of stream s
		members []Member
		next    Assignment // what cooperative-sticky must return
		revoked Assignment
		first   Assignment
	}{
		{
			// c left; its partitions have no owner and go out at once.
			"a member leaves", 6,
			[]Member{
				{ID: "a", Streams: s, Owned: tps("s/0", "s/1")},
				{ID: "b", Streams: s, Owned: tps("s/2", "s/3")},
			},
			Assignment{"a": tps("s/0", "s/1", "s/4"), "b": tps("s/2", "s/3", "s/5")},
			Assignment{},
			Assignment{"a": tps("s/0", "s/1", "s/4"), "b": tps("s/2", "s/3", "s/5")},
		},
		{
			// c's share is still owned by a and b: they revoke it, and c
			// gets it only in the second round.
			"a member joins", 6,
			[]Member{
				{ID: "a", Streams: s, Owned: tps("s/0", "s/1", "s/2")},
				{ID: "b", Streams: s, Owned: tps("s/3", "s/4", "s/5")},
				{ID: "c", Streams: s},
			},
			Assignment{"a": tps("s/0", "s/1"), "b": tps("s/3", "s/4"), "c": tps("s/2", "s/5")},
			Assignment{"a": tps("s/2"), "b": tps("s/5")},
			Assignment{"a": tps("s/0", "s/1"), "b": tps("s/3", "s/4"), "c": {}},
		},
		{
			// s/0 is claimed by both; b, the new owner, keeps it from the
			// first round, and a revokes its stale claim.
			"stale double ownership", 4,
			[]Member{
				{ID: "a", Streams: s, Owned: tps("s/0", "s/1", "s/2")},
				{ID: "b", Streams: s, Owned: tps("s/0", "s/3")},
			},
			Assignment{"a": tps("s/1", "s/2"), "b": tps("s/0", "s/3")},
			Assignment{"a": tps("s/0")},
			Assignment{"a": tps("s/1", "s/2"), "b": tps("s/0", "s/3")},
		},
		{
			// A stream was deleted and a partition count shrank: their
			// owners revoke them, and nobody else is involved.
			"deleted stream and shrunk stream", 4,
			[]Member{
				{ID: "a", Streams: []string{"s", "gone"}, Owned: tps("gone/0", "s/0", "s/9")},
				{ID: "b", Streams: s, Owned: tps("s/1", "s/1")},
			},
			Assignment{"a": tps("s/0", "s/2"), "b": tps("s/1", "s/3")},
			Assignment{"a": tps("gone/0", "s/9")},
			Assignment{"a": tps("s/0", "s/2"), "b": tps("s/1", "s/3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := mustAssign(t, CooperativeSticky(), tt.members, map[string]int32{"s": tt.count})
			if !reflect.DeepEqual(next, tt.next) {
				t.Fatalf("next:\n%swant\n%s", format(next), format(tt.next))
			}
			if got := Revoked(tt.members, next); !reflect.DeepEqual(got, tt.revoked) {
				t.Errorf("Revoked:\n%swant\n%s", format(got), format(tt.revoked))
			}
			if got := CooperativeFirstRound(tt.members, next); !reflect.DeepEqual(got, tt.first) {
				t.Errorf("CooperativeFirstRound:\n%swant\n%s", format(got), format(tt.first))
			}
			checkRounds(t, tt.members, next)
		})
	}
}

// TestCooperativeRoundsProperties checks the two-round protocol on
// generated groups with churn and stale claims, for every strategy (an
// eager strategy's assignment can still be rolled out in two rounds).
func TestCooperativeRoundsProperties(t *testing.T) {
	for _, cfg := range []genConfig{{owned: true}, {owned: true, uniform: true}, {owned: true, stale: true}} {
		for _, a := range allAssignors() {
			t.Run(fmt.Sprintf("%+v/%s", cfg, a.Name()), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(4, 0))
				for range 300 {
					members, partitions := gen(r, cfg)
					next := mustAssign(t, a, members, partitions)
					hands := checkRounds(t, members, next)
					if a.Name() != CooperativeStickyName {
						continue
					}
					// The second round of cooperative-sticky revokes
					// nothing: the protocol settles in two rounds. (This is
					// proven for identical subscriptions; for differing
					// ones it is what these inputs show.)
					second := withOwned(members, hands)
					if again := Revoked(second, mustAssign(t, a, second, partitions)); len(again) > 0 {
						t.Fatalf("second round revokes\n%s", format(again))
					}
				}
			})
		}
	}
}

// checkRounds checks Revoked and CooperativeFirstRound against their
// definitions and returns what each member holds between the rounds:
// what it owned minus what it revoked, plus its first-round partitions.
// No partition may be in two members' hands then.
func checkRounds(t *testing.T, members []Member, next Assignment) Assignment {
	t.Helper()
	revoked := Revoked(members, next)
	first := CooperativeFirstRound(members, next)
	owners := make(map[TopicPartition]map[string]bool)
	for _, m := range members {
		for _, p := range m.Owned {
			if owners[p] == nil {
				owners[p] = make(map[string]bool)
			}
			owners[p][m.ID] = true
		}
	}
	hands := make(Assignment)
	holder := make(map[TopicPartition]string)
	for _, m := range members {
		given, gone := setOf(next[m.ID]), setOf(revoked[m.ID])
		if list, ok := revoked[m.ID]; ok && len(list) == 0 {
			t.Fatalf("Revoked has an empty entry for %s", m.ID)
		}
		for _, p := range m.Owned {
			_, kept := given[p]
			if _, rev := gone[p]; rev == kept {
				t.Fatalf("%s owns %v, next gives it %v, revoked %v", m.ID, p, kept, rev)
			}
		}
		for p := range gone {
			if !owners[p][m.ID] {
				t.Fatalf("%s revokes %v, which it does not own", m.ID, p)
			}
		}
		firstSet := setOf(first[m.ID])
		for _, p := range next[m.ID] {
			_, got := firstSet[p]
			free := len(owners[p]) == 0 || owners[p][m.ID]
			if got != free {
				t.Fatalf("%s: %v in the first round %v, but owned by %v", m.ID, p, got, owners[p])
			}
		}
		if len(firstSet) != len(first[m.ID]) || len(firstSet) > len(next[m.ID]) {
			t.Fatalf("%s: first round %v, next %v", m.ID, first[m.ID], next[m.ID])
		}
		var held []TopicPartition
		for _, p := range m.Owned {
			if _, rev := gone[p]; !rev {
				held = append(held, p)
			}
		}
		held = sortedSet(append(held, first[m.ID]...))
		for _, p := range held {
			if other, ok := holder[p]; ok && other != m.ID {
				t.Fatalf("%v in the hands of %s and %s between the rounds", p, other, m.ID)
			}
			holder[p] = m.ID
		}
		hands[m.ID] = held
	}
	return hands
}
