package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// newTestGroup joins a group with a short session (the fake's heartbeat
// interval is a third of it) and short fetch waits. The member is closed
// when the test ends.
func newTestGroup(t *testing.T, c *Client, cfg GroupConfig) *GroupConsumer {
	t.Helper()
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 3 * time.Second
	}
	if cfg.Consumer.MaxWait == 0 {
		cfg.Consumer.MaxWait = 20 * time.Millisecond
	}
	g, err := c.NewGroupConsumer(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// drive polls g with short contexts until cond holds (assignment changes
// are applied by Poll) and returns the records it got meanwhile.
func drive(t *testing.T, g *GroupConsumer, what string, cond func() bool) []Record {
	t.Helper()
	ctx := testCtx(t)
	var out []Record
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		recs, err := g.Poll(pctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Poll while waiting for %s: %v", what, err)
		}
		out = append(out, recs...)
	}
	return out
}

// pollGroup polls until it has n records.
func pollGroup(t *testing.T, g *GroupConsumer, n int) []Record {
	t.Helper()
	ctx := testCtx(t)
	var out []Record
	for len(out) < n {
		recs, err := g.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	return out
}

// byPartition splits records by partition.
func byPartition(recs []Record) map[int32][]Record {
	out := map[int32][]Record{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// callbacks records the calls of a member's callbacks.
type callbacks struct {
	mu    sync.Mutex
	calls []string
}

func (cb *callbacks) record(kind string) func(context.Context, []StreamPartition) {
	return func(_ context.Context, parts []StreamPartition) {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		cb.calls = append(cb.calls, fmt.Sprint(kind, " ", parts))
	}
}

func (cb *callbacks) get() []string {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return slices.Clone(cb.calls)
}

func TestGroupConfigValidate(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	c := newTestClient(t, fc, nil)
	ok := GroupConfig{Group: "g", Streams: []string{"s"}}
	tests := []struct {
		name string
		mod  func(*GroupConfig)
	}{
		{"no group", func(g *GroupConfig) { g.Group = "" }},
		{"no streams", func(g *GroupConfig) { g.Streams = nil }},
		{"empty stream", func(g *GroupConfig) { g.Streams = []string{"s", ""} }},
		{"stream twice", func(g *GroupConfig) { g.Streams = []string{"s", "t", "s"} }},
		{"negative session timeout", func(g *GroupConfig) { g.SessionTimeout = -time.Second }},
		{"tiny session timeout", func(g *GroupConfig) { g.SessionTimeout = time.Millisecond }},
		{"huge session timeout", func(g *GroupConfig) { g.SessionTimeout = time.Duration(math.MaxInt64) }},
		{"negative rebalance timeout", func(g *GroupConfig) { g.RebalanceTimeout = -1 }},
		{"negative auto-commit interval", func(g *GroupConfig) { g.AutoCommitInterval = -1 }},
		{"negative start offset", func(g *GroupConfig) { g.StartAt = Offset(-1) }},
		{"unknown leave mode", func(g *GroupConfig) { g.LeaveOnClose = 7 }},
		{"unknown offset reset", func(g *GroupConfig) { g.Consumer.OffsetReset = 9 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			cfg.Streams = slices.Clone(ok.Streams)
			tt.mod(&cfg)
			g, err := c.NewGroupConsumer(testCtx(t), cfg)
			if !errors.Is(err, ErrInvalidArgument) || g != nil {
				t.Fatalf("NewGroupConsumer: %v, %v", g, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidArgument || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not a one-line *Error with CodeInvalidArgument", err)
			}
		})
	}
	if n := fc.calls("JoinGroup"); n != 0 {
		t.Errorf("%d JoinGroup calls for configurations that do not validate", n)
	}
}

// TestGroupJoinConsume joins a group with committed offsets for one
// partition: it starts there, and at StartAt for the others.
func TestGroupJoinConsume(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	fc.createStream("s", 3)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(3) {
		produceN(t, p, "s", part, 0, 10)
	}
	fc.setCommitted("g", StreamPartition{"s", 1}, 4)
	var cb callbacks
	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"},
		OnAssigned: cb.record("assigned"), OnRevoked: cb.record("revoked")})
	if g.MemberID() == "" || g.Generation() <= 0 {
		t.Errorf("member %q generation %d", g.MemberID(), g.Generation())
	}
	got := byPartition(pollGroup(t, g, 26))
	checkSequence(t, got[0], 0)
	checkSequence(t, got[1], 4)
	checkSequence(t, got[2], 0)
	if len(got[0]) != 10 || len(got[1]) != 6 || len(got[2]) != 10 {
		t.Errorf("records per partition: %d %d %d", len(got[0]), len(got[1]), len(got[2]))
	}
	want := []StreamPartition{{"s", 0}, {"s", 1}, {"s", 2}}
	if a := g.Assignment(); !slices.Equal(a, want) {
		t.Errorf("Assignment = %v", a)
	}
	if calls := cb.get(); !slices.Equal(calls, []string{"assigned [s/0 s/1 s/2]"}) {
		t.Errorf("callbacks %q", calls)
	}
	// The heartbeat reported what the member owns.
	fc.waitGroup(testCtx(t), "g", "the member to report its partitions", func(fg *fakeGroup) bool {
		return len(fg.members) == 1 && len(fg.members[0].owned) == 3
	})
	produceN(t, p, "s", 2, 10, 5)
	checkSequence(t, pollGroup(t, g, 5), 10)
}

// TestGroupRebalance adds a member: the first releases a partition only
// after committing its position (and calling OnRevoked), reports the
// release with its next heartbeat, and the new member starts there.
func TestGroupRebalance(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(2) {
		produceN(t, p, "s", part, 0, 20)
	}
	var cbA callbacks
	var committedAtRevoke []int64
	a := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true,
		AutoCommitInterval: time.Hour, OnAssigned: cbA.record("assigned"),
		OnRevoked: func(ctx context.Context, parts []StreamPartition) {
			cbA.record("revoked")(ctx, parts)
			for _, sp := range parts {
				committedAtRevoke = append(committedAtRevoke, fc.committed("g", sp))
			}
		}})
	first := byPartition(pollGroup(t, a, 40))
	checkSequence(t, first[0], 0)
	checkSequence(t, first[1], 0)

	b := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true})
	if len(b.Assignment()) != 0 {
		t.Fatalf("b owns %v before polling", b.Assignment())
	}
	// The fake hands out round robin in join order: b gets partition 1.
	moved := StreamPartition{"s", 1}
	drive(t, a, "a to release a partition", func() bool { return len(a.Assignment()) == 1 })
	if calls := cbA.get(); !slices.Equal(calls, []string{"assigned [s/0 s/1]", "revoked [s/1]"}) {
		t.Errorf("a's callbacks %q", calls)
	}
	if !slices.Equal(committedAtRevoke, []int64{20}) {
		t.Errorf("committed offsets when OnRevoked ran: %v, want [20]", committedAtRevoke)
	}
	produceN(t, p, "s", 1, 20, 5)
	got := drive(t, b, "b to read the moved partition", func() bool { return len(b.Assignment()) == 1 })
	got = append(got, pollGroup(t, b, 5-len(got))...)
	checkSequence(t, got, 20)
	if got[0].Partition != 1 {
		t.Errorf("b reads partition %d", got[0].Partition)
	}

	// Order at the coordinator: a committed, then released, then b got it.
	ev := fc.groupEvents("g")
	idx := func(e string) int {
		i := slices.Index(ev, e)
		if i < 0 {
			t.Fatalf("no event %q in %q", e, ev)
		}
		return i
	}
	commit := idx(fmt.Sprintf("commit %s %s=20", a.MemberID(), moved))
	release := idx(fmt.Sprintf("release %s %s", a.MemberID(), moved))
	assign := idx(fmt.Sprintf("assign %s %s", b.MemberID(), moved))
	if !(commit < release && release < assign) {
		t.Errorf("events %q: commit %d, release %d, assign %d", ev, commit, release, assign)
	}
	// a keeps reading its other partition.
	produceN(t, p, "s", 0, 20, 3)
	checkSequence(t, pollGroup(t, a, 3), 20)
}

// TestGroupLost removes the member as a session timeout would: its
// partitions are lost, nothing is committed, OnLost (or OnRevoked when
// there is none) runs, and it joins again, reading from the last commit.
func TestGroupLost(t *testing.T) {
	t.Parallel()
	for _, withOnLost := range []bool{true, false} {
		t.Run(fmt.Sprint("OnLost=", withOnLost), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 1)
			fc.createStream("s", 1)
			c := newTestClient(t, fc, nil)
			p := newTestProducer(t, c, ProducerConfig{})
			produceN(t, p, "s", 0, 0, 10)
			var cb callbacks
			cfg := GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true, AutoCommitInterval: time.Hour,
				OnAssigned: cb.record("assigned"), OnRevoked: cb.record("revoked")}
			if withOnLost {
				cfg.OnLost = cb.record("lost")
			}
			g := newTestGroup(t, c, cfg)
			first := pollGroup(t, g, 10)
			checkSequence(t, first, 0)
			if err := g.CommitOffsets(testCtx(t), map[StreamPartition]int64{{"s", 0}: 3}); err != nil {
				t.Fatal(err)
			}
			old := g.MemberID()
			commits := fc.calls("CommitOffsets")
			fc.expireMember("g", old)

			again := drive(t, g, "the member to join again", func() bool {
				id := g.MemberID()
				return id != "" && id != old && len(g.Assignment()) == 1
			})
			again = append(again, pollGroup(t, g, 7-len(again))...)
			checkSequence(t, again, 3) // from the last commit: read again, not skipped
			if n := fc.calls("CommitOffsets"); n != commits {
				t.Errorf("%d commits after the membership was lost", n-commits)
			}
			if n := fc.calls("JoinGroup"); n != 2 {
				t.Errorf("%d JoinGroup calls, want 2", n)
			}
			kind := "lost"
			if !withOnLost {
				kind = "revoked"
			}
			want := []string{"assigned [s/0]", kind + " [s/0]", "assigned [s/0]"}
			if calls := cb.get(); !slices.Equal(calls, want) {
				t.Errorf("callbacks %q, want %q", calls, want)
			}
		})
	}
}

// TestGroupFenced starts a second member with the same instance id: the
// first is fenced, loses its partitions, and does not join again.
func TestGroupFenced(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	var cb callbacks
	a := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, InstanceID: "i1",
		OnAssigned: cb.record("assigned"), OnLost: cb.record("lost")})
	drive(t, a, "a to start its partition", func() bool { return len(a.Assignment()) == 1 })
	b := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, InstanceID: "i1"})
	drive(t, b, "b to start its partition", func() bool { return len(b.Assignment()) == 1 })

	ctx := testCtx(t)
	for {
		_, err := a.Poll(ctx)
		if errors.Is(err, ErrFencedInstance) {
			break
		}
		if err != nil {
			t.Fatalf("Poll of the fenced member: %v", err)
		}
	}
	if _, err := a.Poll(ctx); !errors.Is(err, ErrFencedInstance) {
		t.Errorf("second Poll: %v", err)
	}
	if err := a.CommitOffsets(ctx, map[StreamPartition]int64{{"s", 0}: 1}); !errors.Is(err, ErrFencedInstance) {
		t.Errorf("CommitOffsets: %v", err)
	}
	if calls := cb.get(); !slices.Equal(calls, []string{"assigned [s/0]", "lost [s/0]"}) {
		t.Errorf("callbacks %q", calls)
	}
	if len(a.Assignment()) != 0 || a.MemberID() != "" {
		t.Errorf("fenced member owns %v as %q", a.Assignment(), a.MemberID())
	}
	if n := fc.calls("JoinGroup"); n != 2 {
		t.Errorf("%d JoinGroup calls, want 2", n)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestGroupStaleGeneration commits with a generation the group has moved
// past: the member learns the new one with a heartbeat and commits again,
// whether the coordinator refuses the call or each partition.
func TestGroupStaleGeneration(t *testing.T) {
	t.Parallel()
	for _, perPartition := range []bool{false, true} {
		t.Run(fmt.Sprint("perPartition=", perPartition), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 1)
			fc.createStream("s", 1)
			c := newTestClient(t, fc, nil)
			p := newTestProducer(t, c, ProducerConfig{})
			produceN(t, p, "s", 0, 0, 10)
			g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}})
			pollGroup(t, g, 10)
			fc.setStalePerPartition("g", perPartition)
			gen := fc.bumpGeneration("g")
			commits := fc.calls("CommitOffsets")
			if err := g.Commit(testCtx(t)); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := fc.committed("g", StreamPartition{"s", 0}); got != 10 {
				t.Errorf("committed %d, want 10", got)
			}
			if n := fc.calls("CommitOffsets") - commits; n != 2 {
				t.Errorf("%d CommitOffsets calls, want 2", n)
			}
			if g.Generation() != gen {
				t.Errorf("generation %d, want %d", g.Generation(), gen)
			}
			// A generation that moves again between the attempts fails the
			// commit: it is retried once.
			fc.setHook(func(call fakeCall) fault {
				if call.Method == "CommitOffsets" {
					return fault{Before: sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION}
				}
				return fault{}
			})
			err := g.CommitOffsets(testCtx(t), map[StreamPartition]int64{{"s", 0}: 5})
			if !errors.Is(err, ErrStaleGeneration) {
				t.Errorf("commit with the generation always stale: %v", err)
			}
		})
	}
}

// TestGroupAutoCommit checks that an auto-commit commits only what
// earlier Polls returned, and Close what every Poll returned.
func TestGroupAutoCommit(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{BatchBytes: 200})
	sp := StreamPartition{"s", 0}
	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true,
		AutoCommitInterval: time.Nanosecond, // every Poll
		Consumer:           ConsumerConfig{FetchBytes: 100, MaxWait: 20 * time.Millisecond}})
	ctx := testCtx(t)
	pos := int64(-1) // after what the Polls so far returned
	var all []Record
	for round := range 4 {
		produceN(t, p, "s", 0, 10*round, 10)
		for len(all) < 10*(round+1) {
			before := pos
			recs, err := g.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := fc.committed("g", sp); got != before {
				t.Fatalf("after a Poll: committed %d, want %d (what earlier Polls returned)", got, before)
			}
			all = append(all, recs...)
			pos = all[len(all)-1].Offset + 1
		}
	}
	checkSequence(t, all, 0)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fc.committed("g", sp); got != 40 {
		t.Errorf("committed %d after Close, want 40", got)
	}
}

// TestGroupClose checks who leaves the group on Close.
func TestGroupClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		instance string
		mode     LeaveMode
		leaves   bool
	}{
		{"dynamic", "", LeaveDefault, true},
		{"static", "i1", LeaveDefault, false},
		{"static, leave always", "i1", LeaveAlways, true},
		{"dynamic, leave never", "", LeaveNever, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 1)
			fc.createStream("s", 1)
			c := newTestClient(t, fc, nil)
			var cb callbacks
			g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, InstanceID: tt.instance,
				LeaveOnClose: tt.mode, OnRevoked: cb.record("revoked")})
			drive(t, g, "the partition to start", func() bool { return len(g.Assignment()) == 1 })
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Poll(testCtx(t)); !errors.Is(err, ErrClosed) {
				t.Errorf("Poll after Close: %v", err)
			}
			if n := fc.calls("LeaveGroup"); (n == 1) != tt.leaves || n > 1 {
				t.Errorf("%d LeaveGroup calls", n)
			}
			if n := len(fc.memberIDs("g")); (n == 0) != tt.leaves {
				t.Errorf("%d members after Close", n)
			}
			if calls := cb.get(); !slices.Equal(calls, []string{"revoked [s/0]"}) {
				t.Errorf("callbacks %q", calls)
			}
		})
	}
}

// TestGroupPollWaits checks that Poll with nothing assigned waits rather
// than fails, returns when its ctx ends, and is woken by an assignment.
func TestGroupPollWaits(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 10)
	a := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true})
	pollGroup(t, a, 10)
	b := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}})
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	start := time.Now()
	recs, err := b.Poll(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
		t.Fatalf("Poll with nothing assigned: %d records, %v", len(recs), err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Poll returned %v after its ctx ended", d)
	}
	// One Poll, waiting before the partition is free: a's Close commits
	// and leaves, and the assignment wakes it.
	type result struct {
		recs []Record
		err  error
	}
	done := make(chan result, 1)
	pctx := testCtx(t)
	go func() {
		recs, err := b.Poll(pctx)
		done <- result{recs, err}
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	produceN(t, p, "s", 0, 10, 5)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	recs = append(r.recs, pollGroup(t, b, 5-len(r.recs))...)
	checkSequence(t, recs, 10) // from a's commit on Close
}

// TestGroupCloseDuringPoll closes a member while Poll waits.
func TestGroupCloseDuringPoll(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}})
	done := make(chan error, 1)
	go func() {
		_, err := g.Poll(testCtx(t))
		done <- err
	}()
	start := time.Now()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Poll during Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}

// TestGroupCommitErrors checks the per-partition errors of a commit and
// the argument checks.
func TestGroupCommitErrors(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	fc.createStream("t", 1)
	c := newTestClient(t, fc, nil)
	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}})
	drive(t, g, "the partition to start", func() bool { return len(g.Assignment()) == 1 })
	ctx := testCtx(t)
	err := g.CommitOffsets(ctx, map[StreamPartition]int64{{"s", 0}: 2, {"t", 0}: 1})
	if !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("commit of a partition not owned: %v", err)
	}
	if !strings.Contains(err.Error(), `stream "t" partition 0`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("message %q", err)
	}
	if got := fc.committed("g", StreamPartition{"s", 0}); got != 2 {
		t.Errorf("the owned partition: committed %d, want 2", got)
	}
	if err := g.CommitOffsets(ctx, map[StreamPartition]int64{{"s", 0}: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative offset: %v", err)
	}
	if err := g.Commit(ctx); err != nil { // nothing polled: nothing to commit
		t.Errorf("Commit: %v", err)
	}
}

// TestGroupRetries checks that group calls ride out elections and that
// heartbeats failing for the whole session timeout end the membership.
func TestGroupRetries(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	var down sync.Mutex // held while heartbeats fail
	heartbeatsFail := false
	fc.setHook(func(call fakeCall) fault {
		switch {
		case call.Method == "JoinGroup" && call.N < 2, call.Method == "FetchOffsets" && call.N < 2:
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_NO_LEADER}
		case call.Method == "GroupHeartbeat":
			down.Lock()
			defer down.Unlock()
			if heartbeatsFail {
				return fault{Before: sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE}
			}
		}
		return fault{}
	})
	var cb callbacks
	g := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, SessionTimeout: 300 * time.Millisecond,
		OnAssigned: cb.record("assigned"), OnLost: cb.record("lost")})
	if n := fc.calls("JoinGroup"); n != 3 {
		t.Errorf("%d JoinGroup calls, want 3", n)
	}
	drive(t, g, "the partition to start", func() bool { return len(g.Assignment()) == 1 })
	old := g.MemberID()
	down.Lock()
	heartbeatsFail = true
	down.Unlock()
	drive(t, g, "the membership to be lost", func() bool { return len(cb.get()) == 2 })
	down.Lock()
	heartbeatsFail = false
	down.Unlock()
	fc.expireMember("g", old) // the coordinator's session timeout
	drive(t, g, "the member to join again", func() bool { return g.MemberID() != "" && len(g.Assignment()) == 1 })
	if g.MemberID() == old {
		t.Errorf("member id %q unchanged", old)
	}
	if calls := cb.get(); !slices.Equal(calls, []string{"assigned [s/0]", "lost [s/0]", "assigned [s/0]"}) {
		t.Errorf("callbacks %q", calls)
	}
}

// TestGroupJoinErrors checks that the coordinator's refusals come back
// from NewGroupConsumer.
func TestGroupJoinErrors(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	fc.createStream("s", 1)
	c := newTestClient(t, fc, nil)
	_, err := c.NewGroupConsumer(testCtx(t), GroupConfig{Group: "g", Streams: []string{"s"}, Strategy: "bogus"})
	if !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown strategy: %v", err)
	}
	newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, Strategy: "range"})
	_, err = c.NewGroupConsumer(testCtx(t), GroupConfig{Group: "g", Streams: []string{"s"}, Strategy: "roundrobin"})
	if !errors.Is(err, ErrInconsistentStrategy) {
		t.Errorf("another strategy: %v", err)
	}
	if want := `group "g": join: sluice: inconsistent assignment strategy: group "g" uses range`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// A join that cannot get through ends with its ctx.
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "JoinGroup" {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_NO_LEADER}
		}
		return fault{}
	})
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	_, err = c.NewGroupConsumer(ctx, GroupConfig{Group: "h", Streams: []string{"s"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("join through a long election: %v", err)
	}
}

// TestGroupNoGoroutinesAfterClose runs two members through a rebalance,
// closes them while their heartbeats long-poll and checks that no
// goroutine is left. Not parallel, like TestNoGoroutinesAfterClose.
func TestGroupNoGoroutinesAfterClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the servers stop
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 2)
	c := newTestClient(t, fc, nil)
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(2) {
		produceN(t, p, "s", part, 0, 10)
	}
	a := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true})
	pollGroup(t, a, 20)
	b := newTestGroup(t, c, GroupConfig{Group: "g", Streams: []string{"s"}, AutoCommit: true,
		Consumer: ConsumerConfig{Follow: true}})
	drive(t, a, "a to release a partition", func() bool { return len(a.Assignment()) == 1 })
	drive(t, b, "b to start a partition", func() bool { return len(b.Assignment()) == 1 })
	fc.waitGroup(testCtx(t), "g", "both members to report their partitions", func(fg *fakeGroup) bool {
		return len(fg.members) == 2 && len(fg.members[0].owned) == 1 && len(fg.members[1].owned) == 1
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
