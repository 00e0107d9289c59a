package consumergroup

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sortedMembers returns members in the documented order: static members by
// instance id, then dynamic members by member id. It is written apart from
// compareMembers on purpose.
func sortedMembers(members []Member) []Member {
	var static, dynamic []Member
	for _, m := range members {
		if m.InstanceID != "" {
			static = append(static, m)
		} else {
			dynamic = append(dynamic, m)
		}
	}
	slices.SortFunc(static, func(a, b Member) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	slices.SortFunc(dynamic, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return append(static, dynamic...)
}

// referenceRange is the range strategy written as plainly as possible.
func referenceRange(members []Member, partitions map[string]int32) Assignment {
	out := make(Assignment)
	for _, m := range members {
		out[m.ID] = []TopicPartition{}
	}
	subs := subscriptions(members, partitions)
	for _, s := range slices.Sorted(maps.Keys(partitions)) {
		var consumers []string
		for _, m := range sortedMembers(members) {
			if subs[m.ID][s] {
				consumers = append(consumers, m.ID)
			}
		}
		p := int32(0)
		for i, id := range consumers {
			n := partitions[s] / int32(len(consumers))
			if int32(i) < partitions[s]%int32(len(consumers)) {
				n++
			}
			for range n {
				out[id] = append(out[id], tp(s, p))
				p++
			}
		}
	}
	return out
}

func TestRangeExamples(t *testing.T) {
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       Assignment
	}{
		{
			// The example of Kafka's RangeAssignor documentation.
			"kafka: two consumers, two topics of three",
			[]Member{{ID: "C1", Streams: []string{"t0", "t1"}}, {ID: "C0", Streams: []string{"t0", "t1"}}},
			map[string]int32{"t0": 3, "t1": 3},
			Assignment{"C0": tps("t0/0", "t0/1", "t1/0", "t1/1"), "C1": tps("t0/2", "t1/2")},
		},
		{
			"more members than partitions",
			[]Member{{ID: "a", Streams: []string{"s"}}, {ID: "b", Streams: []string{"s"}}, {ID: "c", Streams: []string{"s"}}},
			map[string]int32{"s": 2},
			Assignment{"a": tps("s/0"), "b": tps("s/1"), "c": {}},
		},
		{
			"ranges per stream among its subscribers",
			[]Member{{ID: "a", Streams: []string{"s", "t"}}, {ID: "b", Streams: []string{"t"}}},
			map[string]int32{"s": 2, "t": 5},
			Assignment{"a": tps("s/0", "s/1", "t/0", "t/1", "t/2"), "b": tps("t/3", "t/4")},
		},
		{
			"static members first, by instance id",
			[]Member{
				{ID: "a", Streams: []string{"s"}},
				{ID: "z", InstanceID: "i2", Streams: []string{"s"}},
				{ID: "y", InstanceID: "i1", Streams: []string{"s"}},
			},
			map[string]int32{"s": 6},
			Assignment{"y": tps("s/0", "s/1"), "z": tps("s/2", "s/3"), "a": tps("s/4", "s/5")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAssign(t, Range(), tt.members, tt.partitions)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", format(got), format(tt.want))
			}
		})
	}
}

// TestRangeStaticMembersKeepPartitionsAcrossRestarts restarts every static
// member with a new member id (ids that sort in another order) and checks
// that each instance gets the same partitions, while dynamic members come
// and go.
func TestRangeStaticMembersKeepPartitionsAcrossRestarts(t *testing.T) {
	partitions := map[string]int32{"orders": 10, "payments": 4}
	streams := []string{"orders", "payments"}
	before := []Member{
		{ID: "a-1", InstanceID: "host-3", Streams: streams},
		{ID: "b-1", InstanceID: "host-1", Streams: streams},
		{ID: "c-1", InstanceID: "host-2", Streams: streams},
		{ID: "dyn-1", Streams: streams},
	}
	after := []Member{
		{ID: "dyn-2", Streams: streams},
		{ID: "z-2", InstanceID: "host-2", Streams: streams},
		{ID: "a-2", InstanceID: "host-1", Streams: streams},
		{ID: "0-2", InstanceID: "host-3", Streams: streams},
	}
	old := mustAssign(t, Range(), before, partitions)
	cur := mustAssign(t, Range(), after, partitions)
	for _, b := range before {
		if b.InstanceID == "" {
			continue
		}
		for _, a := range after {
			if a.InstanceID == b.InstanceID && !reflect.DeepEqual(old[b.ID], cur[a.ID]) {
				t.Errorf("instance %s: %v before the restart, %v after", b.InstanceID, old[b.ID], cur[a.ID])
			}
		}
	}
	if !reflect.DeepEqual(old["dyn-1"], cur["dyn-2"]) {
		t.Errorf("the dynamic member sorts last either way: %v, then %v", old["dyn-1"], cur["dyn-2"])
	}
}
