package consumergroup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory, with a switch to fail puts.
type memStore struct {
	mu      sync.Mutex
	groups  map[string]*GroupState
	nextInc uint64
	version uint64
	counts  map[string]int32
	fail    error
	puts    int
}

func newMemStore(counts map[string]int32) *memStore {
	return &memStore{groups: map[string]*GroupState{}, nextInc: 1, counts: counts}
}

func (s *memStore) PutGroup(_ context.Context, g *GroupState, expect uint64) (*GroupState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	cur := s.groups[g.Name]
	st := g.Clone()
	switch {
	case expect == 0 && cur != nil:
		return nil, fmt.Errorf("group %q exists", g.Name)
	case expect == 0:
		st.Incarnation = s.nextInc
		s.nextInc++
	case cur == nil || cur.Version != expect:
		return nil, fmt.Errorf("version conflict")
	}
	s.version++
	st.Version = s.version
	s.groups[g.Name] = st
	s.puts++
	// Round trip through the encoding, as the metadata group does.
	b, err := st.AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	out, rest, err := DecodeGroupState(b)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("round trip: %v, %d left", err, len(rest))
	}
	return out, nil
}

func (s *memStore) DeleteGroup(_ context.Context, name string, inc uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[name]; g == nil || g.Incarnation != inc {
		return ErrUnknownGroup
	}
	delete(s.groups, name)
	return nil
}

func (s *memStore) Groups() []*GroupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*GroupState
	for _, g := range s.groups {
		out = append(out, g.Clone())
	}
	return out
}

func (s *memStore) PartitionCounts(streams []string) map[string]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int32{}
	for _, st := range streams {
		if n, ok := s.counts[st]; ok {
			out[st] = n
		}
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type coordFixture struct {
	t     *testing.T
	store *memStore
	clock *fakeClock
	c     *Coordinator
}

func newCoordFixture(t *testing.T, counts map[string]int32) *coordFixture {
	f := &coordFixture{t: t, store: newMemStore(counts), clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}}
	f.c = NewCoordinator(CoordinatorConfig{Store: f.store, Now: f.clock.Now, Logger: quiet})
	f.c.Activate()
	return f
}

func (f *coordFixture) join(group, instance, strategy string, streams ...string) MemberView {
	f.t.Helper()
	v, err := f.c.Join(context.Background(), JoinRequest{Group: group, InstanceID: instance, Strategy: strategy, Streams: streams})
	if err != nil {
		f.t.Fatalf("join: %v", err)
	}
	return v
}

// hb heartbeats without waiting, reporting owned.
func (f *coordFixture) hb(group string, v MemberView, owned []TopicPartition) MemberView {
	f.t.Helper()
	out, err := f.c.Heartbeat(context.Background(), group, v.MemberID, v.Generation, owned, 0)
	if err != nil {
		f.t.Fatalf("heartbeat %s: %v", v.MemberID, err)
	}
	return out
}

// settle heartbeats every member, each reporting what it was last told,
// until nothing changes; it returns the final views by member id.
func (f *coordFixture) settle(group string, views map[string]MemberView) map[string]MemberView {
	f.t.Helper()
	for range 20 {
		changed := false
		for _, id := range slices.Sorted(maps.Keys(views)) {
			v := views[id]
			nv := f.hb(group, v, v.Assigned)
			if nv.Generation != v.Generation || !slices.Equal(nv.Assigned, v.Assigned) || nv.Pending {
				changed = true
			}
			views[id] = nv
		}
		if !changed {
			return views
		}
	}
	f.t.Fatalf("group %s did not settle: %v", group, views)
	return nil
}

// checkDisjointCover checks that the views' assignments are disjoint and
// cover every partition of the streams.
func checkDisjointCover(t *testing.T, views map[string]MemberView, counts map[string]int32) {
	t.Helper()
	seen := map[TopicPartition]string{}
	for id, v := range views {
		if v.Pending {
			t.Errorf("member %s still pending", id)
		}
		for _, tp := range v.Assigned {
			if o, dup := seen[tp]; dup {
				t.Errorf("%v held by %s and %s", tp, o, id)
			}
			seen[tp] = id
		}
	}
	for s, n := range counts {
		for p := range n {
			if _, ok := seen[TopicPartition{s, p}]; !ok {
				t.Errorf("%s/%d unassigned", s, p)
			}
		}
	}
}

func TestCoordinatorMembersSplitPartitions(t *testing.T) {
	for _, strategy := range StrategyNames() {
		t.Run(strategy, func(t *testing.T) {
			counts := map[string]int32{"orders": 12}
			f := newCoordFixture(t, counts)
			views := map[string]MemberView{}
			for range 3 {
				v := f.join("g", "", strategy, "orders")
				views[v.MemberID] = v
				views = f.settle("g", views)
			}
			checkDisjointCover(t, views, counts)
			for id, v := range views {
				if len(v.Assigned) != 4 {
					t.Errorf("%s has %d partitions, want 4", id, len(v.Assigned))
				}
			}
			// A member leaves: the others take its partitions.
			var leaver string
			for id := range views {
				leaver = id
				break
			}
			if err := f.c.Leave(context.Background(), "g", leaver); err != nil {
				t.Fatal(err)
			}
			delete(views, leaver)
			views = f.settle("g", views)
			checkDisjointCover(t, views, counts)
		})
	}
}

func TestCoordinatorPartitionMovesOnlyAfterRelease(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 4})
	a := f.join("g", "", "", "s")
	a = f.hb("g", a, a.Assigned)
	if len(a.Assigned) != 4 {
		t.Fatalf("a has %v", a.Assigned)
	}
	b := f.join("g", "", "", "s")
	if len(b.Assigned) != 0 || !b.Pending {
		t.Fatalf("b got %v (pending %v) while a owns everything", b.Assigned, b.Pending)
	}
	// a learns its smaller target but has not released yet.
	a2 := f.hb("g", a, a.Assigned)
	if len(a2.Assigned) != 2 {
		t.Fatalf("a's new assignment %v", a2.Assigned)
	}
	if b2 := f.hb("g", b, nil); len(b2.Assigned) != 0 {
		t.Fatalf("b got %v before a released", b2.Assigned)
	}
	// a releases: b gets the rest; a kept its two (cooperative).
	f.hb("g", a2, a2.Assigned)
	b3 := f.hb("g", b, nil)
	if len(b3.Assigned) != 2 || b3.Pending {
		t.Fatalf("b after release: %v pending %v", b3.Assigned, b3.Pending)
	}
	for _, tp := range a2.Assigned {
		if !slices.Contains(a.Assigned, tp) {
			t.Errorf("a was given %v, which it did not own: a cooperative move revokes only", tp)
		}
	}
}

func TestCoordinatorSessionTimeout(t *testing.T) {
	counts := map[string]int32{"s": 6}
	f := newCoordFixture(t, counts)
	a := f.join("g", "", "", "s")
	b := f.join("g", "", "", "s")
	views := f.settle("g", map[string]MemberView{a.MemberID: a, b.MemberID: b})
	gen := views[a.MemberID].Generation
	// b goes silent; a keeps heartbeating.
	for range 11 {
		f.clock.Add(time.Second)
		views[a.MemberID] = f.hb("g", views[a.MemberID], views[a.MemberID].Assigned)
		if err := f.c.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.c.Heartbeat(context.Background(), "g", b.MemberID, gen, nil, 0); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("heartbeat of an expired member: %v, want ErrUnknownMember", err)
	}
	delete(views, b.MemberID)
	views = f.settle("g", views)
	checkDisjointCover(t, views, counts)
	if views[a.MemberID].Generation <= gen {
		t.Errorf("generation %d after the expiry, was %d", views[a.MemberID].Generation, gen)
	}
}

func TestCoordinatorStaticRejoinKeepsPartitions(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 6})
	a := f.join("g", "inst-a", "", "s")
	b := f.join("g", "inst-b", "", "s")
	views := f.settle("g", map[string]MemberView{a.MemberID: a, b.MemberID: b})
	before := views[a.MemberID]
	// a restarts within its session timeout: it joins again under its
	// instance id.
	f.clock.Add(2 * time.Second)
	a2 := f.join("g", "inst-a", "", "s")
	if a2.MemberID == a.MemberID {
		t.Fatal("static rejoin kept the member id")
	}
	if a2.Generation != before.Generation {
		t.Errorf("generation moved %d -> %d on a static rejoin", before.Generation, a2.Generation)
	}
	if !slices.Equal(a2.Assigned, before.Assigned) {
		t.Errorf("static rejoin got %v, had %v", a2.Assigned, before.Assigned)
	}
	if _, err := f.c.Heartbeat(context.Background(), "g", a.MemberID, before.Generation, before.Assigned, 0); !errors.Is(err, ErrFencedInstance) {
		t.Errorf("old member id: %v, want ErrFencedInstance", err)
	}
	// b saw no change.
	if bv := f.hb("g", views[b.MemberID], views[b.MemberID].Assigned); !slices.Equal(bv.Assigned, views[b.MemberID].Assigned) || bv.Generation != before.Generation {
		t.Errorf("b changed: %v gen %d", bv.Assigned, bv.Generation)
	}
}

func TestCoordinatorFailoverKeepsGroup(t *testing.T) {
	counts := map[string]int32{"s": 6}
	f := newCoordFixture(t, counts)
	a := f.join("g", "", "", "s")
	b := f.join("g", "", "", "s")
	views := f.settle("g", map[string]MemberView{a.MemberID: a, b.MemberID: b})
	gen := views[a.MemberID].Generation
	// Another node's coordinator takes over from the same store.
	c2 := NewCoordinator(CoordinatorConfig{Store: f.store, Now: f.clock.Now, Logger: quiet})
	f.c.Deactivate()
	c2.Activate()
	if _, err := f.c.Heartbeat(context.Background(), "g", a.MemberID, gen, nil, 0); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("old coordinator: %v, want ErrNotCoordinator", err)
	}
	f.c = c2
	// Until b reports, a keeps only what it owns, and both keep theirs.
	va := f.hb("g", views[a.MemberID], views[a.MemberID].Assigned)
	if va.Generation != gen || !slices.Equal(va.Assigned, views[a.MemberID].Assigned) {
		t.Fatalf("after failover a got %v gen %d, had %v gen %d", va.Assigned, va.Generation, views[a.MemberID].Assigned, gen)
	}
	views = f.settle("g", views)
	checkDisjointCover(t, views, counts)
}

func TestCoordinatorRecoveringWithholdsUnownedPartitions(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 4})
	a := f.join("g", "", "", "s")
	a = f.hb("g", a, a.Assigned) // a owns all 4
	b := f.join("g", "", "", "s")
	// a learns its target (2) but crashes over to a new coordinator before
	// releasing: the stored target says b gets 2 that a still holds.
	c2 := NewCoordinator(CoordinatorConfig{Store: f.store, Now: f.clock.Now, Logger: quiet})
	f.c.Deactivate()
	c2.Activate()
	f.c = c2
	if vb := f.hb("g", b, nil); len(vb.Assigned) != 0 {
		t.Fatalf("b got %v before a reported after the failover", vb.Assigned)
	}
	f.hb("g", a, a.Assigned) // a reports all 4
	if vb := f.hb("g", b, nil); len(vb.Assigned) != 0 {
		t.Fatalf("b got %v while a still holds them", vb.Assigned)
	}
}

func TestCoordinatorCommitChecks(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 2})
	a := f.join("g", "", "", "s")
	a = f.hb("g", a, a.Assigned)
	tests := []struct {
		name   string
		group  string
		member string
		gen    int32
		parts  []TopicPartition
		err    error
		perErr []error
	}{
		{"ok", "g", a.MemberID, a.Generation, tps("s/0", "s/1"), nil, []error{nil, nil}},
		{"old generation", "g", a.MemberID, a.Generation - 1, tps("s/0"), ErrStaleGeneration, nil},
		{"unknown member", "g", "nobody", a.Generation, tps("s/0"), ErrUnknownMember, nil},
		{"unknown group", "nope", a.MemberID, a.Generation, tps("s/0"), ErrUnknownGroup, nil},
		{"not assigned", "g", a.MemberID, a.Generation, tps("s/0", "s/7"), nil, []error{nil, ErrNotAssigned}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chk, err := f.c.CheckCommit(tt.group, tt.member, tt.gen, tt.parts)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				if msg := err.Error(); !strings.Contains(msg, tt.group) {
					t.Errorf("message %q does not name the group", msg)
				}
				return
			}
			for i, want := range tt.perErr {
				if !errors.Is(chk.Errs[i], want) || (want == nil) != (chk.Errs[i] == nil) {
					t.Errorf("partition %v: %v, want %v", tt.parts[i], chk.Errs[i], want)
				}
			}
			if chk.Incarnation == 0 {
				t.Error("no incarnation")
			}
		})
	}
}

func TestCoordinatorBadJoins(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 2})
	f.join("g", "", "range", "s")
	tests := []struct {
		name string
		req  JoinRequest
		err  error
	}{
		{"unknown strategy", JoinRequest{Group: "h", Streams: []string{"s"}, Strategy: "fifo"}, ErrUnknownStrategy},
		{"inconsistent strategy", JoinRequest{Group: "g", Streams: []string{"s"}, Strategy: "roundrobin"}, ErrInconsistentStrategy},
		{"no streams", JoinRequest{Group: "g", Strategy: "range"}, ErrInvalidRequest},
		{"empty group", JoinRequest{Streams: []string{"s"}}, ErrInvalidRequest},
		{"control char", JoinRequest{Group: "a\x01", Streams: []string{"s"}}, ErrInvalidRequest},
		{"session too short", JoinRequest{Group: "g", Strategy: "range", Streams: []string{"s"}, SessionTimeout: time.Millisecond}, ErrInvalidRequest},
		{"unknown member id", JoinRequest{Group: "g", Strategy: "range", Streams: []string{"s"}, MemberID: "ghost"}, ErrUnknownMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.c.Join(context.Background(), tt.req)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
}

func TestCoordinatorAdmin(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 2})
	ctx := context.Background()
	if _, err := f.c.Delete(ctx, "nope"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("delete unknown: %v", err)
	}
	if _, err := f.c.PrepareReset(ctx, "nope", "s"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("reset unknown: %v", err)
	}
	a := f.join("g", "", "", "s")
	if _, err := f.c.PrepareReset(ctx, "g", "s"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("reset live group: %v", err)
	}
	if _, err := f.c.Delete(ctx, "g"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Errorf("delete live group: %v", err)
	}
	if err := f.c.Leave(ctx, "g", a.MemberID); err != nil {
		t.Fatal(err)
	}
	st, err := f.c.PrepareReset(ctx, "g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Streams, []string{"s", "t"}) {
		t.Errorf("streams %v after a reset on t", st.Streams)
	}
	infos, err := f.c.List()
	if err != nil || len(infos) != 1 || infos[0].State.Name != "g" {
		t.Fatalf("list: %v %v", infos, err)
	}
	old, err := f.c.Delete(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Describe("g"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("describe deleted: %v", err)
	}
	again := f.join("g", "", "", "s")
	st2, _ := f.c.State("g")
	if st2.Incarnation <= old.Incarnation {
		t.Errorf("incarnation %d after delete, was %d", st2.Incarnation, old.Incarnation)
	}
	_ = again
}

func TestCoordinatorHeartbeatLongPollWakesOnChange(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 4})
	a := f.join("g", "", "", "s")
	a = f.hb("g", a, a.Assigned)
	done := make(chan MemberView, 1)
	go func() {
		v, err := f.c.Heartbeat(context.Background(), "g", a.MemberID, a.Generation, a.Assigned, 3*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	f.join("g", "", "", "s") // a's target shrinks
	select {
	case v := <-done:
		if len(v.Assigned) != 2 {
			t.Errorf("woken with %v", v.Assigned)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not woken by the join")
	}
}

func TestCoordinatorStoreFailureChangesNothing(t *testing.T) {
	f := newCoordFixture(t, map[string]int32{"s": 4})
	a := f.join("g", "", "", "s")
	f.store.fail = errors.New("disk on fire")
	if _, err := f.c.Join(context.Background(), JoinRequest{Group: "g", Streams: []string{"s"}}); err == nil {
		t.Fatal("join stored nothing but succeeded")
	}
	if _, err := f.c.Join(context.Background(), JoinRequest{Group: "new", Streams: []string{"s"}}); err == nil {
		t.Fatal("first join of a group stored nothing but succeeded")
	}
	f.store.fail = nil
	if _, err := f.c.Describe("new"); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("a group whose creation failed: %v", err)
	}
	info, err := f.c.Describe("g")
	if err != nil || len(info.State.Members) != 1 || info.State.Members[0].ID != a.MemberID {
		t.Errorf("group after a failed join: %+v %v", info, err)
	}
}
