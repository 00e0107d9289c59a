package replication

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestFaultNetFaults(t *testing.T) {
	fn := NewFaultNet(1)
	a, b, c := fn.Transport("g", "a"), fn.Transport("g", "b"), fn.Transport("g", "c")
	answerVotes(t, a, 1)
	answerVotes(t, b, 2)
	answerVotes(t, c, 3)
	other := fn.Transport("h", "b") // the same node in another group
	answerVotes(t, other, 4)
	if fn.Transport("g", "a") != a {
		t.Fatalf("Transport returned a new transport for a registered node")
	}
	if a.LocalAddr() != "a/g" {
		t.Fatalf("LocalAddr = %q, want a/g", a.LocalAddr())
	}
	errBoom := errors.New("boom")

	type call struct {
		from raft.Transport
		to   raft.ServerAddress
		want error // nil: the vote succeeds
	}
	steps := []struct {
		name  string
		setup func()
		calls []call
	}{
		{"healthy", func() {}, []call{{a, "b/g", nil}, {b, "c/g", nil}, {c, "a/g", nil}}},
		{"other group", func() {}, []call{{a, "b/h", ErrUnreachable}, {a, "nobody/g", ErrUnreachable}}},
		{"partition", func() { fn.Partition("a") }, []call{{a, "b/g", ErrUnreachable}, {b, "a/g", ErrUnreachable}, {b, "c/g", nil}}},
		{"heal", fn.Heal, []call{{a, "b/g", nil}, {b, "a/g", nil}}},
		{"isolate", func() { fn.Isolate("b") }, []call{{a, "b/g", ErrUnreachable}, {c, "b/g", ErrUnreachable}, {a, "c/g", nil}}},
		{"isolate two", func() { fn.Isolate("c") }, []call{{a, "c/g", ErrUnreachable}, {b, "c/g", ErrUnreachable}}},
		{"heal again", fn.Heal, []call{{a, "b/g", nil}, {a, "c/g", nil}, {b, "c/g", nil}}},
		{"drop all", func() { fn.SetDrop(1) }, []call{{a, "b/g", ErrDropped}, {b, "c/g", ErrDropped}}},
		{"drop none", func() { fn.SetDrop(0) }, []call{{a, "b/g", nil}}},
		{"hook", func() {
			fn.SetHook(func(rpc RPCInfo) error {
				if rpc.To == "b" {
					return errBoom
				}
				return nil
			})
		}, []call{{a, "b/g", errBoom}, {a, "c/g", nil}}},
		{"no hook", func() { fn.SetHook(nil) }, []call{{a, "b/g", nil}}},
		{"remove", func() { fn.Remove("g", "b") }, []call{{a, "b/g", ErrUnreachable}, {b, "a/g", raft.ErrTransportShutdown}, {a, "c/g", nil}}},
	}
	for _, step := range steps {
		step.setup()
		for _, cl := range step.calls {
			_, err := vote(cl.from, cl.to)
			if cl.want == nil && err != nil || !errors.Is(err, cl.want) {
				t.Errorf("%s: vote %s -> %s = %v, want %v", step.name, cl.from.LocalAddr(), cl.to, err, cl.want)
			}
		}
	}

	// A restarted node gets a fresh transport that is reachable again.
	b2 := fn.Transport("g", "b")
	if b2 == b {
		t.Fatalf("Transport after Remove returned the removed transport")
	}
	answerVotes(t, b2, 22)
	if term, err := vote(a, "b/g"); err != nil || term != 22 {
		t.Fatalf("vote to restarted b = %d, %v", term, err)
	}
	// Closing a transport (raft.Shutdown does) removes the node too.
	if err := c.(raft.WithClose).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := vote(a, "c/g"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("vote to closed c = %v, want ErrUnreachable", err)
	}
}

func TestFaultNetDelayEndsOnClose(t *testing.T) {
	fn := NewFaultNet(2)
	a, b := fn.Transport("g", "a"), fn.Transport("g", "b")
	answerVotes(t, b, 1)
	fn.SetDelay(time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := vote(a, b.LocalAddr())
		done <- err
	}()
	// The vote is asleep in its delay or about to be; closing a must end it.
	if err := a.(raft.WithClose).Close(); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, raft.ErrTransportShutdown) {
			t.Fatalf("delayed vote = %v, want ErrTransportShutdown", err)
		}
	case <-timer.C:
		t.Fatalf("a delayed RPC outlived its transport's Close")
	}

	fn.SetDelay(20 * time.Millisecond)
	c := fn.Transport("g", "c")
	start := time.Now()
	if _, err := vote(c, b.LocalAddr()); err != nil {
		t.Fatalf("delayed vote: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a vote delayed by at most 20ms took %s", d)
	}
}

// dropOutcomes records which of n votes the FaultNet drops.
func dropOutcomes(t *testing.T, seed uint64, p float64, n int) []bool {
	fn := NewFaultNet(seed)
	a, b := fn.Transport("g", "a"), fn.Transport("g", "b")
	answerVotes(t, b, 1)
	fn.SetDrop(p)
	out := make([]bool, n)
	failed := 0
	for i := range out {
		// Faults are rolled before delivery, so an RPC that fails on its
		// own (the in-memory transport times out on a starved machine)
		// does not shift the sequence.
		_, err := vote(a, b.LocalAddr())
		out[i] = errors.Is(err, ErrDropped)
		if err != nil && !out[i] {
			failed++
		}
	}
	if failed > n/20 {
		t.Fatalf("%d of %d votes failed without being dropped", failed, n)
	}
	return out
}

func TestFaultNetDropIsSeeded(t *testing.T) {
	const n = 1000
	first, again := dropOutcomes(t, 7, 0.3, n), dropOutcomes(t, 7, 0.3, n)
	dropped := 0
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("seed 7: vote %d dropped %v then %v", i, first[i], again[i])
		}
		if first[i] {
			dropped++
		}
	}
	if dropped < n*2/10 || dropped > n*4/10 {
		t.Fatalf("SetDrop(0.3) dropped %d of %d votes", dropped, n)
	}
}

// faultCluster starts a bootstrapped raft group of nodes n0..n(size-1)
// over fn.
func faultCluster(t *testing.T, fn *FaultNet, size int, configure func(*raft.Config)) *raftCluster {
	t.Helper()
	c := &raftCluster{}
	for i := range size {
		id := fmt.Sprintf("n%d", i)
		c.add(t, id, fn.Transport("g", id), configure)
	}
	c.bootstrap(t)
	return c
}

func TestFaultNetReplicates(t *testing.T) {
	c := faultCluster(t, NewFaultNet(3), 3, nil)
	c.applyN(t, nil, "cmd", 25)
	waitConverged(t, c.nodes, 25)
}

func TestFaultNetIsolateLeader(t *testing.T) {
	fn := NewFaultNet(4)
	c := faultCluster(t, fn, 3, nil)
	c.applyN(t, nil, "before", 10)
	waitConverged(t, c.nodes, 10)

	old := c.waitLeader(t, nil)
	fn.Isolate(old.id)
	// The isolated leader may still believe it leads for a moment, but it
	// cannot commit: the command fails once it steps down.
	if err := old.raft.Apply([]byte("lost"), time.Second).Error(); err == nil {
		t.Fatalf("isolated leader %s committed a command", old.id)
	}
	c.applyN(t, old, "after", 5)
	var majority []*raftNode
	for _, n := range c.nodes {
		if n != old {
			majority = append(majority, n)
		}
	}
	waitConverged(t, majority, 15)
	if count, _ := old.fsm.state(); count != 10 {
		t.Fatalf("isolated node applied %d commands, want 10", count)
	}

	fn.Heal()
	waitConverged(t, c.nodes, 15) // "lost" is applied nowhere
	c.applyN(t, nil, "healed", 3)
	waitConverged(t, c.nodes, 18)
}

func TestFaultNetDropStillProgresses(t *testing.T) {
	fn := NewFaultNet(5)
	fn.SetDrop(0.3) // from the first election on
	c := faultCluster(t, fn, 3, nil)
	c.applyN(t, nil, "cmd", 20)
	fn.SetDrop(0)
	waitConverged(t, c.nodes, 20)
}

func TestFaultNetHookSeesEveryKind(t *testing.T) {
	fn := NewFaultNet(6)
	var mu sync.Mutex
	seen := map[RPCKind]int{}
	entries := 0
	var bad []RPCInfo
	fn.SetHook(func(rpc RPCInfo) error {
		mu.Lock()
		defer mu.Unlock()
		seen[rpc.Kind]++
		entries += rpc.Entries
		if rpc.Group != "g" || rpc.From == rpc.To || rpc.From == "" || rpc.To == "" {
			bad = append(bad, rpc)
		}
		return nil
	})
	// Few trailing logs, so that a snapshot compacts the log and a new
	// voter needs InstallSnapshot.
	short := func(cfg *raft.Config) { cfg.TrailingLogs = 2 }
	c := faultCluster(t, fn, 3, short)
	c.applyN(t, nil, "first", 5)
	c.onLeader(t, nil, "leadership transfer", func(l *raftNode) error { // TimeoutNow
		return l.raft.LeadershipTransfer().Error()
	})
	c.applyN(t, nil, "second", 10)
	waitConverged(t, c.nodes, 15)
	for _, n := range c.nodes { // whoever leads next has compacted its log
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot %s: %v", n.id, err)
		}
	}
	joiner := c.add(t, "n3", fn.Transport("g", "n3"), short)
	c.onLeader(t, nil, "add voter", func(l *raftNode) error {
		return l.raft.AddVoter("n3", joiner.trans.LocalAddr(), 0, time.Second).Error()
	})
	waitConverged(t, c.nodes, 15)

	mu.Lock()
	defer mu.Unlock()
	for _, k := range []RPCKind{RPCAppendEntries, RPCRequestVote, RPCRequestPreVote, RPCInstallSnapshot, RPCTimeoutNow} {
		if seen[k] == 0 {
			t.Errorf("hook saw no %s (saw %v)", k, seen)
		}
	}
	if entries < 15 {
		t.Errorf("hook saw %d log entries in AppendEntries, want at least 15", entries)
	}
	if len(bad) > 0 {
		t.Errorf("hook saw malformed RPCInfo: %+v", bad)
	}
}
