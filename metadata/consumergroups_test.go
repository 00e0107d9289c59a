package metadata

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/replication"
)

// stored returns the state of group name in h's View, failing the test if
// there is none.
func stored(t *testing.T, h *harness, name string) *consumergroup.GroupState {
	t.Helper()
	g, ok := h.f.View().Group(name)
	if !ok {
		t.Fatalf("group %q not in the view", name)
	}
	return g
}

// update is a PutGroup that replaces version expect of incarnation inc
// with group(name, generation, members).
func update(name string, generation int32, members int, inc, expect uint64, ts int64) PutGroup {
	g := group(name, generation, members)
	g.Incarnation = inc
	return putGroup(g, expect, ts)
}

func TestApplyGroupCommands(t *testing.T) {
	// withGroup: g created at index 1 (incarnation 1, version 1, generation
	// 1, created at 1000).
	withGroup := func(h *harness) { h.must(putGroup(group("g", 1, 2), 0, 1000)) }
	// reborn: g created (incarnation 1), deleted, and created again at
	// index 3 (incarnation 2).
	reborn := func(h *harness) {
		withGroup(h)
		h.must(DeleteGroup{Name: "g"})
		h.must(putGroup(group("g", 0, 1), 0, 3000))
	}

	tests := []struct {
		name  string
		setup func(h *harness)
		cmd   any
		err   error  // nil: success
		field string // for ErrInvalidArgument: the *ValidationError field
		check func(t *testing.T, h *harness, resp any)
	}{
		// PutGroup, create.
		{name: "create", cmd: func() PutGroup {
			g := group("g", 0, 2)
			g.Incarnation, g.Version, g.CreatedAt, g.UpdatedAt = 77, 99, 3, 4 // ignored
			return putGroup(g, 0, 5000)
		}(), check: func(t *testing.T, h *harness, resp any) {
			g := resp.(*consumergroup.GroupState)
			if g.Incarnation != 1 || g.Version != h.index || g.CreatedAt != 5000 || g.UpdatedAt != 5000 {
				t.Fatalf("group %+v", g)
			}
			if want := group("g", 0, 2); !reflect.DeepEqual(g.Members, want.Members) || g.Strategy != want.Strategy {
				t.Fatalf("members %+v, want %+v", g.Members, want.Members)
			}
			v := h.f.View()
			if stored(t, h, "g") != g || v.nextGroupIncarnation != 2 || v.Version() != h.index {
				t.Fatalf("view: next incarnation %d, version %d", v.nextGroupIncarnation, v.Version())
			}
		}},
		{name: "create another", setup: withGroup, cmd: putGroup(group("another \u00fc", 0, 0), 0, 2000),
			check: func(t *testing.T, h *harness, resp any) {
				if g := resp.(*consumergroup.GroupState); g.Incarnation != 2 || g.Version != 2 || len(g.Members) != 0 {
					t.Fatalf("group %+v", g)
				}
				if gs := h.f.View().Groups(); len(gs) != 2 || gs[0].Name != "another \u00fc" || gs[1].Name != "g" {
					t.Fatalf("Groups() = %v", gs)
				}
			}},
		{name: "create exists", setup: withGroup, cmd: putGroup(group("g", 0, 1), 0, 2000), err: ErrGroupExists},
		{name: "create exists whatever the incarnation", setup: withGroup, cmd: update("g", 5, 1, 1, 0, 2000), err: ErrGroupExists},
		{name: "create negative timestamp", cmd: putGroup(group("g", 0, 1), 0, -1), err: ErrInvalidArgument, field: "timestamp"},
		{name: "create after delete gets a new incarnation", setup: func(h *harness) { withGroup(h); h.must(DeleteGroup{Name: "g"}) },
			cmd: putGroup(group("g", 0, 1), 0, 3000), check: func(t *testing.T, h *harness, resp any) {
				if g := resp.(*consumergroup.GroupState); g.Incarnation != 2 || g.CreatedAt != 3000 || g.Generation != 0 {
					t.Fatalf("group %+v", g)
				}
			}},

		// PutGroup, update.
		{name: "update", setup: withGroup, cmd: update("g", 2, 3, 1, 1, 6000), check: func(t *testing.T, h *harness, resp any) {
			g := resp.(*consumergroup.GroupState)
			if g.Incarnation != 1 || g.Version != 2 || g.Generation != 2 || len(g.Members) != 3 ||
				g.CreatedAt != 1000 || g.UpdatedAt != 6000 {
				t.Fatalf("group %+v", g)
			}
			if v := h.f.View(); stored(t, h, "g") != g || v.nextGroupIncarnation != 2 {
				t.Fatalf("next incarnation %d, want 2 (an update takes none)", v.nextGroupIncarnation)
			}
		}},
		{name: "update same generation", setup: withGroup, cmd: update("g", 1, 1, 1, 1, 6000),
			check: func(t *testing.T, h *harness, resp any) {
				if g := resp.(*consumergroup.GroupState); g.Generation != 1 || len(g.Members) != 1 || g.Version != 2 {
					t.Fatalf("group %+v", g)
				}
			}},
		{name: "update twice", setup: func(h *harness) { withGroup(h); h.must(update("g", 2, 2, 1, 1, 2000)) },
			cmd: update("g", 3, 2, 1, 2, 3000), check: func(t *testing.T, h *harness, resp any) {
				if g := resp.(*consumergroup.GroupState); g.Version != 3 || g.Generation != 3 || g.CreatedAt != 1000 {
					t.Fatalf("group %+v", g)
				}
			}},
		{name: "update stale version", setup: func(h *harness) { withGroup(h); h.must(update("g", 2, 2, 1, 1, 2000)) },
			cmd: update("g", 3, 2, 1, 1, 3000), err: ErrGroupVersionConflict},
		{name: "update future version", setup: withGroup, cmd: update("g", 2, 2, 1, 2, 2000), err: ErrGroupVersionConflict},
		{name: "update wrong incarnation", setup: withGroup, cmd: update("g", 2, 2, 2, 1, 2000), err: ErrGroupVersionConflict},
		{name: "update incarnation 0", setup: withGroup, cmd: update("g", 2, 2, 0, 1, 2000), err: ErrGroupVersionConflict},
		{name: "update an older life at the right version", setup: reborn, cmd: update("g", 1, 1, 1, 3, 4000),
			err: ErrGroupVersionConflict},
		{name: "update the new life", setup: reborn, cmd: update("g", 1, 1, 2, 3, 4000)},
		{name: "update unknown", cmd: update("g", 1, 1, 1, 1, 1000), err: ErrUnknownGroup},
		{name: "update deleted", setup: func(h *harness) { withGroup(h); h.must(DeleteGroup{Name: "g"}) },
			cmd: update("g", 2, 1, 1, 1, 3000), err: ErrUnknownGroup},
		{name: "update generation goes down", setup: withGroup, cmd: update("g", 0, 2, 1, 1, 2000),
			err: ErrInvalidArgument, field: "generation"},
		{name: "update negative timestamp", setup: withGroup, cmd: update("g", 1, 2, 1, 1, -5),
			err: ErrInvalidArgument, field: "timestamp"},

		// DeleteGroup.
		{name: "delete any incarnation", setup: withGroup, cmd: DeleteGroup{Name: "g"}, check: func(t *testing.T, h *harness, resp any) {
			g := resp.(*consumergroup.GroupState)
			v := h.f.View()
			if g.Name != "g" || g.Incarnation != 1 || len(v.Groups()) != 0 || v.nextGroupIncarnation != 2 {
				t.Fatalf("deleted %+v, %d groups left", g, len(v.Groups()))
			}
			if _, ok := v.Group("g"); ok {
				t.Fatal("deleted group still there")
			}
		}},
		{name: "delete the incarnation", setup: reborn, cmd: DeleteGroup{Name: "g", Incarnation: 2},
			check: func(t *testing.T, h *harness, resp any) {
				if _, ok := h.f.View().Group("g"); ok || resp.(*consumergroup.GroupState).Incarnation != 2 {
					t.Fatal("group not deleted")
				}
			}},
		{name: "delete an older life", setup: reborn, cmd: DeleteGroup{Name: "g", Incarnation: 1}, err: ErrUnknownGroup},
		{name: "delete a future life", setup: withGroup, cmd: DeleteGroup{Name: "g", Incarnation: 2}, err: ErrUnknownGroup},
		{name: "delete unknown", setup: withGroup, cmd: DeleteGroup{Name: "h"}, err: ErrUnknownGroup},
		{name: "delete deleted", setup: func(h *harness) { withGroup(h); h.must(DeleteGroup{Name: "g"}) },
			cmd: DeleteGroup{Name: "g"}, err: ErrUnknownGroup},
		{name: "delete empty name", cmd: DeleteGroup{Name: ""}, err: ErrInvalidArgument, field: "name"},
		{name: "delete control character", cmd: DeleteGroup{Name: "a\x01"}, err: ErrInvalidArgument, field: "name"},
		{name: "delete name too long", cmd: DeleteGroup{Name: strings.Repeat("g", consumergroup.MaxGroupNameLen+1)},
			err: ErrInvalidArgument, field: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			before := h.f.View()
			resp := h.do(tt.cmd)
			if h.f.AppliedIndex() != h.index {
				t.Fatalf("applied %d, want %d", h.f.AppliedIndex(), h.index)
			}
			if err := checkView(h.f.View()); err != nil {
				t.Fatal(err)
			}
			err, _ := resp.(error)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Apply = %v", err)
				}
				if tt.check != nil {
					tt.check(t, h, resp)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Apply = %v, want %v", resp, tt.err)
			}
			var fe *replication.FatalError
			if errors.As(err, &fe) {
				t.Fatalf("a refused command must not be fatal: %v", err)
			}
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Fatalf("Apply = %v, want a *ValidationError on %q", err, tt.field)
				}
			}
			if h.f.View() != before {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

func TestGroupVersionConflictError(t *testing.T) {
	h := newHarness(t)
	h.must(putGroup(group("g", 0, 1), 0, 1))
	h.must(putGroup(group("h", 0, 1), 0, 1))
	h.must(update("g", 1, 1, 1, 1, 2))
	err, _ := h.do(update("g", 2, 1, 2, 1, 3)).(error)
	var ce *GroupVersionConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrGroupVersionConflict) {
		t.Fatalf("Apply = %v, want a *GroupVersionConflictError", err)
	}
	if want := (GroupVersionConflictError{Group: "g", Want: 1, Got: 3, WantIncarnation: 2, GotIncarnation: 1}); *ce != want {
		t.Fatalf("%+v, want %+v", *ce, want)
	}
	if errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrUnknownGroup) || !strings.HasPrefix(err.Error(), "metadata: ") {
		t.Fatalf("%v", err)
	}
}

// TestApplyPutGroupInvalidState: Apply refuses a state that does not
// validate (a command built by other code than EncodePutGroup; the bytes
// of one do not decode, see TestCommandInvalidGroupState), and
// EncodePutGroup refuses to encode it.
func TestApplyPutGroupInvalidState(t *testing.T) {
	h := newHarness(t)
	h.must(putGroup(group("g", 1, 2), 0, 1000))
	for name, mod := range map[string]func(g *consumergroup.GroupState){
		"empty name":        func(g *consumergroup.GroupState) { g.Name = "" },
		"unknown strategy":  func(g *consumergroup.GroupState) { g.Strategy = "nope" },
		"negative gen":      func(g *consumergroup.GroupState) { g.Generation = -1 },
		"members unsorted":  func(g *consumergroup.GroupState) { g.Members[0], g.Members[1] = g.Members[1], g.Members[0] },
		"session too short": func(g *consumergroup.GroupState) { g.Members[0].SessionTimeoutMs = 1 },
		"assigned twice": func(g *consumergroup.GroupState) {
			g.Members[1].Assigned = append(g.Members[1].Assigned, g.Members[0].Assigned[0])
			slices.SortFunc(g.Members[1].Assigned, func(a, b consumergroup.TopicPartition) int { return int(a.Partition - b.Partition) })
		},
	} {
		for _, expect := range []uint64{0, 1} {
			g := group("g", 1, 2)
			g.Incarnation = 1
			mod(&g)
			c := putGroup(g, expect, 2000)
			v := h.f.View()
			nv, resp := v.applyPutGroup(c, 2)
			var ve *ValidationError
			if err, _ := resp.(error); nv != nil || !errors.As(err, &ve) || ve.Field != "group state" {
				t.Fatalf("%s, expect %d: Apply = %v, %v; want a *ValidationError on the group state", name, expect, nv, resp)
			}
			if b, err := EncodePutGroup(c); b != nil || !errors.As(err, &ve) || ve.Field != "group state" {
				t.Fatalf("%s: EncodePutGroup = %x, %v", name, b, err)
			}
		}
	}
}

func TestEncodeGroupCommands(t *testing.T) {
	h := newHarness(t)
	enc := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := putGroup(group("g", 0, 3), 0, 10)
	b := enc(EncodePutGroup(put))
	if c, err := decodeCommand(b); err != nil || !reflect.DeepEqual(c, put) {
		t.Fatalf("decoded %+v, %v; want %+v", c, err, put)
	}
	g := h.apply(b).(*consumergroup.GroupState)
	up := g.Clone() // the stored state is shared: change a copy
	up.Generation++
	up.Members = up.Members[:1]
	h.apply(enc(EncodePutGroup(PutGroup{State: *up, ExpectVersion: g.Version, Timestamp: 11})))
	if got := stored(t, h, "g"); got.Generation != 1 || len(got.Members) != 1 || len(g.Members) != 3 || got.UpdatedAt != 11 {
		t.Fatalf("stored %+v (the old state %+v)", got, g)
	}
	del := enc(EncodeDeleteGroup(DeleteGroup{Name: "g", Incarnation: g.Incarnation}))
	if resp := h.apply(del); resp.(*consumergroup.GroupState).Generation != 1 {
		t.Fatalf("DeleteGroup = %v", resp)
	}

	var ve *ValidationError
	if b, err := EncodePutGroup(putGroup(group("g", 0, 1), 0, -1)); b != nil || !errors.As(err, &ve) || ve.Field != "timestamp" {
		t.Fatalf("EncodePutGroup negative timestamp = %x, %v", b, err)
	}
	if b, err := EncodeDeleteGroup(DeleteGroup{Name: "\x7f"}); b != nil || !errors.As(err, &ve) || ve.Field != "name" {
		t.Fatalf("EncodeDeleteGroup bad name = %x, %v", b, err)
	}
}

// TestGroupIncarnationsNeverReused: a group deleted and created again,
// under its name or another, always gets an incarnation no group had.
func TestGroupIncarnationsNeverReused(t *testing.T) {
	h := newHarness(t)
	var last uint64
	names := []string{"a", "b", "a", "c", "a", "b", "a"}
	for _, name := range names {
		if g, ok := h.f.View().Group(name); ok {
			h.must(DeleteGroup{Name: name, Incarnation: g.Incarnation})
		}
		g := h.must(putGroup(group(name, 0, 1), 0, 1)).(*consumergroup.GroupState)
		if g.Incarnation <= last {
			t.Fatalf("%s: incarnation %d after %d", name, g.Incarnation, last)
		}
		last = g.Incarnation
		if err, _ := h.do(putGroup(group(name, 0, 1), 0, 2)).(error); !errors.Is(err, ErrGroupExists) {
			t.Fatalf("create of an existing group: %v", err)
		}
	}
	// A refused create takes no incarnation.
	if last != uint64(len(names)) {
		t.Fatalf("last incarnation %d, want %d", last, len(names))
	}
	// A snapshot carries the counter: a restored replica goes on with it.
	f := NewFSM()
	if err := f.Restore(strings.NewReader(string(snapshotOf(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	r := &harness{t: t, f: f, index: h.index}
	r.must(DeleteGroup{Name: "a"})
	if g := r.must(putGroup(group("a", 0, 1), 0, 0)).(*consumergroup.GroupState); g.Incarnation != last+1 {
		t.Fatalf("incarnation %d after a restore, want %d", g.Incarnation, last+1)
	}
}

// TestGroupChangesNotify: group changes wake Changed like any change; a
// refused one does not.
func TestGroupChangesNotify(t *testing.T) {
	h := newHarness(t)
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for _, step := range []struct {
		cmd     any
		changes bool
	}{
		{putGroup(group("g", 0, 1), 0, 1), true},
		{putGroup(group("g", 0, 1), 0, 1), false}, // exists
		{update("g", 1, 2, 1, 1, 2), true},
		{update("g", 1, 2, 1, 1, 2), false}, // stale
		{DeleteGroup{Name: "g", Incarnation: 2}, false},
		{DeleteGroup{Name: "g", Incarnation: 1}, true},
	} {
		ch := h.f.Changed()
		h.do(step.cmd)
		if closed(ch) != step.changes {
			t.Fatalf("%+v: Changed closed %v, want %v", step.cmd, closed(ch), step.changes)
		}
	}
}

// TestGroupViewImmutable: a View taken earlier keeps its groups when they
// are updated and deleted later.
func TestGroupViewImmutable(t *testing.T) {
	h := newHarness(t)
	h.must(putGroup(group("g", 1, 2), 0, 1))
	h.must(putGroup(group("h", 1, 2), 0, 1))
	old := h.f.View()
	oldSnap := encodeView(t, old, 0)
	og, _ := old.Group("g")
	h.must(update("g", 2, 3, 1, 1, 2))
	h.must(DeleteGroup{Name: "h"})
	h.must(putGroup(group("i", 0, 1), 0, 3))
	if !slices.Equal(encodeView(t, old, 0), oldSnap) {
		t.Fatal("an old View changed")
	}
	if g, _ := old.Group("g"); g != og || g.Generation != 1 || len(g.Members) != 2 || len(old.Groups()) != 2 {
		t.Fatal("an old View's group changed")
	}
	if g := stored(t, h, "g"); g.Generation != 2 || len(h.f.View().Groups()) != 2 {
		t.Fatalf("new view: %+v", g)
	}
}
