package client

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

func TestGroupAdmin(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 10)
	produceN(t, p, "s", 1, 0, 4)

	if gs, err := c.ListGroups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups with no groups: %+v, %v", gs, err)
	}
	if _, err := c.DescribeGroup(ctx, "g"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("DescribeGroup of no group: %v", err)
	}

	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, InstanceID: "i1",
		SessionTimeout: 6 * time.Second, LeaveOnClose: LeaveAlways})
	pollGroup(t, g, 14)
	if err := g.CommitOffsets(ctx, map[StreamPartition]int64{{"s", 0}: 7}); err != nil {
		t.Fatal(err)
	}
	fc.waitGroup(ctx, "g", "the member to report its partitions", func(fg *fakeGroup) bool {
		return len(fg.members) == 1 && len(fg.members[0].owned) == 2
	})

	gs, err := c.ListGroups(ctx)
	want := GroupInfo{Group: "g", State: "stable", Members: 1, Generation: g.Generation(),
		Strategy: "cooperative-sticky", Streams: []string{"s"}}
	if err != nil || len(gs) != 1 || !equalGroupInfo(gs[0], want) {
		t.Errorf("ListGroups: %+v, %v; want %+v", gs, err, want)
	}
	d, err := c.DescribeGroup(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	all := []StreamPartition{{"s", 0}, {"s", 1}}
	if !equalGroupInfo(d.GroupInfo, want) || len(d.Members) != 1 {
		t.Fatalf("DescribeGroup: %+v", d)
	}
	m := d.Members[0]
	if m.MemberID != g.MemberID() || m.InstanceID != "i1" || !slices.Equal(m.Streams, []string{"s"}) ||
		!slices.Equal(m.Assigned, all) || !slices.Equal(m.Owned, all) || m.SessionTimeout != 6*time.Second ||
		m.LastHeartbeat.IsZero() {
		t.Errorf("member %+v", m)
	}
	if len(d.Offsets) != 1 || d.Offsets[0].StreamPartition != all[0] || d.Offsets[0].Committed != 7 ||
		d.Offsets[0].HighWatermark != 10 || d.Offsets[0].Lag != 3 || d.Offsets[0].CommitTime.IsZero() {
		t.Errorf("offsets %+v", d.Offsets)
	}

	offs, err := c.FetchGroupOffsets(ctx, "g", nil)
	if err != nil || len(offs) != 2 || offs[0].Committed != 7 || offs[1].Committed != -1 || offs[1].Lag != -1 ||
		offs[1].HighWatermark != 4 || offs[1].LogStartOffset != 0 {
		t.Errorf("FetchGroupOffsets(nil): %+v, %v", offs, err)
	}
	offs, err = c.FetchGroupOffsets(ctx, "g", []StreamPartition{{"s", 1}, {"s", 9}})
	if err != nil || len(offs) != 2 || offs[0].Committed != -1 || !errors.Is(offs[1].Err, ErrUnknownPartition) {
		t.Errorf("FetchGroupOffsets(s/1, s/9): %+v, %v", offs, err)
	}

	if _, err := c.ResetGroupOffsets(ctx, "g", "s", nil, Earliest()); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("ResetGroupOffsets with a member: %v", err)
	}
	if err := c.DeleteGroup(ctx, "g"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("DeleteGroup with a member: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		to    StartAt
		parts []int32
		want  []int64
	}{
		{Latest(), nil, []int64{10, 4}},
		{Earliest(), []int32{1}, []int64{0}},
		{Offset(5), []int32{0}, []int64{5}},
		{Time(time.UnixMilli(0)), []int32{1}, []int64{4}}, // the fake resets by time to the end
	} {
		offs, err := c.ResetGroupOffsets(ctx, "g", "s", tt.parts, tt.to)
		var got []int64
		for _, o := range offs {
			got = append(got, o.Committed)
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ResetGroupOffsets(%v, %v): %v, %v; want %v", tt.parts, tt.to, got, err, tt.want)
		}
	}
	if _, err := c.ResetGroupOffsets(ctx, "g", "s", nil, Offset(-1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("ResetGroupOffsets to a negative offset: %v", err)
	}
	if got := fc.committed("g", StreamPartition{"s", 0}); got != 5 {
		t.Errorf("committed %d after the resets, want 5", got)
	}

	// Admin calls ride out an election.
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "DeleteGroup" && call.N == 0 {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_NO_LEADER}
		}
		return fault{}
	})
	if err := c.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, "g"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("second DeleteGroup: %v", err)
	}
}

func equalGroupInfo(a, b GroupInfo) bool {
	return a.Group == b.Group && a.State == b.State && a.Members == b.Members && a.Generation == b.Generation &&
		a.Strategy == b.Strategy && slices.Equal(a.Streams, b.Streams)
}
