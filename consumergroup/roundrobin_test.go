package consumergroup

import (
	"maps"
	"reflect"
	"slices"
	"testing"
)

// referenceRoundRobin is Kafka's RoundRobinAssignor loop, transcribed: a
// circular iterator over the sorted members, skipping members not
// subscribed to the partition's stream.
func referenceRoundRobin(members []Member, partitions map[string]int32) Assignment {
	out := make(Assignment)
	for _, m := range members {
		out[m.ID] = []TopicPartition{}
	}
	subs := subscriptions(members, partitions)
	order := sortedMembers(members)
	next := 0
	for _, s := range slices.Sorted(maps.Keys(partitions)) {
		subscribed := false
		for _, m := range members {
			subscribed = subscribed || subs[m.ID][s]
		}
		if !subscribed {
			continue
		}
		for p := range partitions[s] {
			for !subs[order[next].ID][s] {
				next = (next + 1) % len(order)
			}
			out[order[next].ID] = append(out[order[next].ID], tp(s, p))
			next = (next + 1) % len(order)
		}
	}
	return out
}

func TestRoundRobinExamples(t *testing.T) {
	tests := []struct {
		name       string
		members    []Member
		partitions map[string]int32
		want       Assignment
	}{
		{
			// The first example of Kafka's RoundRobinAssignor documentation.
			"kafka: two consumers, two topics of three",
			[]Member{{ID: "C1", Streams: []string{"t0", "t1"}}, {ID: "C0", Streams: []string{"t1", "t0"}}},
			map[string]int32{"t0": 3, "t1": 3},
			Assignment{"C0": tps("t0/0", "t0/2", "t1/1"), "C1": tps("t0/1", "t1/0", "t1/2")},
		},
		{
			// The second example: differing subscriptions, where round
			// robin is far from balanced.
			"kafka: three consumers, differing subscriptions",
			[]Member{
				{ID: "C2", Streams: []string{"t0", "t1", "t2"}},
				{ID: "C0", Streams: []string{"t0"}},
				{ID: "C1", Streams: []string{"t0", "t1"}},
			},
			map[string]int32{"t0": 1, "t1": 2, "t2": 3},
			Assignment{"C0": tps("t0/0"), "C1": tps("t1/0"), "C2": tps("t1/1", "t2/0", "t2/1", "t2/2")},
		},
		{
			"the deal carries over from one stream to the next",
			[]Member{{ID: "a", Streams: []string{"s", "t"}}, {ID: "b", Streams: []string{"s", "t"}}, {ID: "c", Streams: []string{"s", "t"}}},
			map[string]int32{"s": 2, "t": 2},
			Assignment{"a": tps("s/0", "t/1"), "b": tps("s/1"), "c": tps("t/0")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAssign(t, RoundRobin(), tt.members, tt.partitions)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", format(got), format(tt.want))
			}
		})
	}
}
