package grouptest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// TestGroupSplitLeaveAndCount: three members split 12 partitions
// disjointly; one leaves and the other two cover everything again; every
// record is delivered and the committed offsets reach the end.
func TestGroupSplitLeaveAndCount(t *testing.T) {
	for _, strategy := range []string{"range", "roundrobin", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) {
			f := newFixture(t, 12)
			f.produce(0, 3000)
			tr := newTracker()
			var ms []*member
			for _, name := range []string{"a", "b", "c"} {
				ms = append(ms, f.start(name, tr, client.GroupConfig{Strategy: strategy}))
			}
			_, got := f.waitCover(ms, 20*time.Second)
			for name, parts := range got {
				if len(parts) != 4 {
					t.Errorf("%s has %d partitions, want 4: %v", name, len(parts), parts)
				}
			}
			ms[0].stop() // leaves
			took, _ := f.waitCover(ms[1:], 20*time.Second)
			t.Logf("%s: full assignment again %v after a leave", strategy, took)
			f.produce(3000, 1000)
			hw := f.highWatermarks()
			f.waitConsumed(tr, hw, 30*time.Second)
			f.waitCommitted("g", hw, 30*time.Second)
		})
	}
}

// TestGroupCrashedMemberReplaced: a member that stops without leaving is
// removed after its session timeout, and its partitions move.
func TestGroupCrashedMemberReplaced(t *testing.T) {
	f := newFixture(t, 6)
	f.produce(0, 600)
	tr := newTracker()
	session := 1500 * time.Millisecond
	a := f.start("a", tr, client.GroupConfig{SessionTimeout: session, LeaveOnClose: client.LeaveNever})
	b := f.start("b", tr, client.GroupConfig{SessionTimeout: session})
	f.waitCover([]*member{a, b}, 20*time.Second)
	crashed := time.Now()
	a.stop() // no leave: a crash as the coordinator sees it
	f.waitCover([]*member{b}, 20*time.Second)
	if took := time.Since(crashed); took < session/2 {
		t.Errorf("partitions moved %v after the crash, before the session timeout could pass (%v)", took, session)
	} else {
		t.Logf("a crashed member's partitions moved after %v (session timeout %v)", took, session)
	}
	hw := f.highWatermarks()
	f.waitConsumed(tr, hw, 30*time.Second)
	f.waitCommitted("g", hw, 30*time.Second)
}

// TestGroupCooperativeRevokesOnlyMoved: with cooperative-sticky, a new
// member makes the others revoke only the partitions that move to it;
// range revokes nothing it keeps either (the protocol is incremental for
// every strategy), but moves more.
func TestGroupCooperativeRevokesOnlyMoved(t *testing.T) {
	f := newFixture(t, 12)
	f.produce(0, 1200)
	tr := newTracker()
	a := f.start("a", tr, client.GroupConfig{})
	b := f.start("b", tr, client.GroupConfig{})
	_, before := f.waitCover([]*member{a, b}, 20*time.Second)
	tr.mu.Lock()
	clear(tr.revoked) // a gave b half when b joined
	tr.mu.Unlock()
	c := f.start("c", tr, client.GroupConfig{})
	_, after := f.waitCover([]*member{a, b, c}, 20*time.Second)
	tr.mu.Lock()
	for _, name := range []string{"a", "b"} {
		var moved []sp
		for _, p := range before[name] {
			if !slices.Contains(after[name], p) {
				moved = append(moved, p)
			}
		}
		if got := sortedSPs(tr.revoked[name]); !slices.Equal(got, sortedSPs(moved)) {
			t.Errorf("%s revoked %v; only the moved %v should pause", name, got, moved)
		}
		for _, p := range after[name] {
			if !slices.Contains(before[name], p) {
				t.Errorf("%s was given %v it did not have: a cooperative join only takes from the others", name, p)
			}
		}
	}
	tr.mu.Unlock()
	if len(after["c"]) != 4 {
		t.Errorf("c has %v", after["c"])
	}
	f.produce(1200, 600)
	hw := f.highWatermarks()
	f.waitConsumed(tr, hw, 30*time.Second)
	f.waitCommitted("g", hw, 30*time.Second)
}

// TestGroupStaticMemberRestart: a static member that comes back within its
// session timeout gets its partitions back, and the generation does not
// move (no rebalance).
func TestGroupStaticMemberRestart(t *testing.T) {
	f := newFixture(t, 6)
	f.produce(0, 600)
	tr := newTracker()
	cfg := func(id string) client.GroupConfig {
		return client.GroupConfig{InstanceID: id, SessionTimeout: 10 * time.Second}
	}
	a := f.start("a", tr, cfg("inst-a"))
	b := f.start("b", tr, cfg("inst-b"))
	_, before := f.waitCover([]*member{a, b}, 20*time.Second)
	gen := b.g.Generation()
	tr.mu.Lock()
	clear(tr.revoked) // a gave b half when b joined
	tr.mu.Unlock()
	a.stop() // a static member does not leave on close
	a2 := f.start("a2", tr, cfg("inst-a"))
	_, after := f.waitCover([]*member{a2, b}, 20*time.Second)
	if !slices.Equal(sortedSPs(after["a2"]), sortedSPs(before["a"])) {
		t.Errorf("restarted static member got %v, had %v", after["a2"], before["a"])
	}
	if g := a2.g.Generation(); g != gen {
		t.Errorf("generation %d after the static restart, was %d", g, gen)
	}
	tr.mu.Lock()
	if len(tr.revoked["b"]) != 0 || len(tr.lost["b"]) != 0 {
		t.Errorf("b was disturbed by a's restart: revoked %v lost %v", tr.revoked["b"], tr.lost["b"])
	}
	tr.mu.Unlock()
	f.produce(600, 600)
	hw := f.highWatermarks()
	f.waitConsumed(tr, hw, 30*time.Second)
	f.waitCommitted("g", hw, 30*time.Second)
}

// TestGroupFailovers: committed offsets survive the failover of the
// coordinator (the metadata leader) and of a partition's leader, and the
// members carry on through both without skipping a record.
func TestGroupFailovers(t *testing.T) {
	f := newFixture(t, 6)
	f.produce(0, 1200)
	tr := newTracker()
	a := f.start("a", tr, client.GroupConfig{})
	b := f.start("b", tr, client.GroupConfig{})
	f.waitCover([]*member{a, b}, 20*time.Second)
	hw := f.highWatermarks()
	f.waitConsumed(tr, hw, 30*time.Second)
	before := f.waitCommitted("g", hw, 30*time.Second)

	// The coordinator's node goes down.
	coord := f.c.MetadataLeader(t)
	f.c.Stop(t, coord)
	if next := f.c.MetadataLeader(t); next == coord {
		t.Fatal("the stopped node still leads")
	}
	after := f.waitCommitted("g", hw, 30*time.Second)
	for i := range before {
		if before[i].Committed != after[i].Committed {
			t.Errorf("%v: committed %d before the coordinator failover, %d after", before[i].StreamPartition, before[i].Committed, after[i].Committed)
		}
	}
	f.produce(1200, 600)
	hw = f.highWatermarks()
	f.waitConsumed(tr, hw, 60*time.Second)
	f.waitCommitted("g", hw, 60*time.Second)
	f.c.Restart(t, coord)

	// A partition leader's node goes down.
	info, err := f.cl.DescribeStream(context.Background(), f.stream)
	if err != nil {
		t.Fatal(err)
	}
	lead := f.c.PartitionLeader(t, info.Partitions[0].GroupID)
	f.c.Stop(t, lead)
	f.waitCommitted("g", hw, 60*time.Second)
	f.produce(1800, 600)
	hw = f.highWatermarks()
	f.waitConsumed(tr, hw, 60*time.Second)
	f.waitCommitted("g", hw, 60*time.Second)
	n, dups := tr.total()
	t.Logf("%d records delivered, %d duplicates", n, dups)
}

// TestGroupChurnUnderLoad: records are produced the whole time while
// members join, leave, crash and restart statically, and the
// coordinator's node goes down and comes back; at the end every record
// was delivered and the committed offsets reached the end.
func TestGroupChurnUnderLoad(t *testing.T) {
	f := newFixture(t, 12)
	tr := newTracker()
	stop := make(chan struct{})
	produced := make(chan int, 1)
	go func() {
		n := 0
		defer func() { produced <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f.produce(n, 100)
			n += 100
		}
	}()
	session := 1500 * time.Millisecond
	a := f.start("a", tr, client.GroupConfig{})
	b := f.start("b", tr, client.GroupConfig{SessionTimeout: session, LeaveOnClose: client.LeaveNever})
	c := f.start("c", tr, client.GroupConfig{InstanceID: "inst-c"})
	f.waitCover([]*member{a, b, c}, 30*time.Second)
	d := f.start("d", tr, client.GroupConfig{})
	f.waitCover([]*member{a, b, c, d}, 30*time.Second)
	a.stop() // leaves
	f.waitCover([]*member{b, c, d}, 30*time.Second)
	b.stop() // crashes: removed after its session timeout
	f.waitCover([]*member{c, d}, 30*time.Second)
	c.stop() // static: comes back under its instance id
	c2 := f.start("c2", tr, client.GroupConfig{InstanceID: "inst-c"})
	f.waitCover([]*member{c2, d}, 30*time.Second)
	coord := f.c.MetadataLeader(t)
	f.c.Stop(t, coord)
	e := f.start("e", tr, client.GroupConfig{})
	f.waitCover([]*member{c2, d, e}, 30*time.Second)
	f.c.Restart(t, coord)
	close(stop)
	n := <-produced
	hw := f.highWatermarks()
	var total int64
	for _, end := range hw {
		total += end
	}
	if total < int64(n) {
		t.Fatalf("the partitions hold %d records, %d were acknowledged", total, n)
	}
	f.waitConsumed(tr, hw, 60*time.Second)
	f.waitCommitted("g", hw, 60*time.Second)
	got, dups := tr.total()
	t.Logf("%d records produced during the churn, %d delivered, %d delivered twice", n, got, dups)
}
