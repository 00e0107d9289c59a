package replication

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// countSM counts the commands it applies; its state is not needed here.
type countSM struct{}

func (countSM) Apply(Entry) any             { return nil }
func (countSM) Snapshot() (Snapshot, error) { return countSnap{}, nil }
func (countSM) Restore(io.Reader) error     { return nil }

type countSnap struct{}

func (countSnap) Persist(io.Writer) error { return nil }
func (countSnap) Release()                {}

// TestDemoteVoter: a demoted member stays in the configuration as a
// non-voter, learns its demotion and that it is committed (the leader
// keeps replicating to it), and the group commits without it.
func TestDemoteVoter(t *testing.T) {
	net := NewFaultNet(1)
	ids := []string{"n1", "n2", "n3"}
	groups := map[string]*Group{}
	var peers []Peer
	for _, id := range ids {
		db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: &storeLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		gs, err := NewStore(db).Group("g")
		if err != nil {
			t.Fatal(err)
		}
		tr := net.Transport("g", id)
		g, err := StartGroup(GroupConfig{ID: "g", NodeID: id, Store: gs, Snapshots: NewMemSnapshots(), Transport: tr,
			StateMachine: countSM{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Timing: Timing{HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
				LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 2 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Stop() })
		groups[id] = g
		peers = append(peers, Peer{ID: id, Addr: string(tr.LocalAddr())})
	}
	for _, g := range groups {
		if err := g.Bootstrap(peers); err != nil {
			t.Fatal(err)
		}
	}
	var leader *Group
	waitFor(t, 10*time.Second, func() bool {
		for _, g := range groups {
			if g.Ready() {
				leader = g
				return true
			}
		}
		return false
	})
	victim := ""
	for id, g := range groups {
		if g != leader {
			victim = id
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.DemoteVoter(ctx, victim); err != nil {
		t.Fatal(err)
	}
	members, err := leader.Configuration()
	if err != nil || len(members) != 3 {
		t.Fatalf("Configuration = %v, %v", members, err)
	}
	for _, m := range members {
		if m.Voter == (m.ID == victim) {
			t.Fatalf("member %+v after demoting %s", m, victim)
		}
	}
	// The demoted member learns it: the leader still replicates to it.
	v := groups[victim]
	waitFor(t, 10*time.Second, func() bool {
		members, err := v.Configuration()
		if err != nil {
			return false
		}
		for _, m := range members {
			if m.ID == victim {
				return !m.Voter
			}
		}
		return false
	})
	// Demoting again changes nothing; the group commits without it.
	if err := leader.DemoteVoter(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := leader.RemoveMember(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if members, err := leader.Configuration(); err != nil || len(members) != 2 {
		t.Fatalf("after removal: %v, %v", members, err)
	}
	// A replica that is not the leader refuses to demote.
	for id, g := range groups {
		if g != leader && id != victim {
			if err := g.DemoteVoter(ctx, victim); err == nil {
				t.Fatal("a follower demoted a member")
			}
		}
	}
}
