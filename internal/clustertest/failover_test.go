package clustertest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/replication"
)

// panicPebbleLogger is the Pebble logger of test nodes: it drops info
// logs, prints errors, and panics on Fatalf, since Pebble carries on after
// a failed WAL write or fsync if Fatalf returns (see replication.Store).
type panicPebbleLogger struct{}

func (panicPebbleLogger) Infof(string, ...any) {}
func (panicPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (panicPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: fatal: "+format, args...))
}

// TestFailover kills the leader of a partition under steady produce load,
// ten times, and measures how long it takes until a produce is acknowledged
// by a new leader, counted from the kill. The cluster runs on the real disk
// over loopback TCP with replication.DefaultTiming. The median must be
// under 3 s (issue 3, "Done when").
func TestFailover(t *testing.T) {
	const (
		trials = 10
		id     = "failover"
		limit  = 3 * time.Second
	)
	c := NewTCP(t, TCPConfig{Dir: t.TempDir(), Timing: replication.DefaultTiming(), PebbleLogger: panicPebbleLogger{}})
	c.CreateGroups(id)
	if _, _, err := c.Leader(id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b := batchtest.Make(t, batchtest.Spec{Records: 8, ValueSize: 100, Timestamp: 1, Tag: "f"})

	// Steady load: two producers that follow the leader. Their errors during
	// a failover are expected; they count acknowledgements only.
	ctx, stopLoad := context.WithCancel(context.Background())
	var acked atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := produceAnywhere(ctx, c, id, b, nil); err == nil {
					acked.Add(1)
				}
			}
		}()
	}
	defer func() {
		stopLoad()
		wg.Wait()
	}()

	var took []time.Duration
	for trial := range trials {
		leader, _, err := c.Leader(id, 10*time.Second)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		waitAcked(t, &acked, acked.Load()+5, 10*time.Second)

		start := time.Now()
		c.Kill(leader)
		killed := time.Since(start)
		by, d, err := firstProduce(c, id, b, leader, start, 20*time.Second)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		took = append(took, d)
		t.Logf("trial %d: killed %s (the kill took %v); %s acknowledged a produce %v after the kill began",
			trial, leader.ID, killed.Round(time.Millisecond), by.ID, d.Round(time.Millisecond))

		// Bring the node back and let it catch up, so that every trial
		// starts with three replicas in sync.
		c.Restart(leader)
		catchUp(t, c, id, leader, 20*time.Second)
	}
	stopLoad()
	wg.Wait()

	slices.Sort(took)
	p50 := (took[trials/2-1] + took[trials/2]) / 2
	t.Logf("failover over %d trials: p50 %v, max %v, min %v (%d produces acknowledged in all)",
		trials, p50.Round(time.Millisecond), took[trials-1].Round(time.Millisecond), took[0].Round(time.Millisecond), acked.Load())
	if p50 > limit {
		t.Errorf("median failover %v, want at most %v", p50, limit)
	}
}

// firstProduce is a client that retries a produce on every live node but
// skip, every few milliseconds, until one is acknowledged, and returns the
// node that acknowledged it and the time from start.
func firstProduce(c *TCPCluster, id string, b []byte, skip *TCPNode, start time.Time, timeout time.Duration) (*TCPNode, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		n, err := produceAnywhere(ctx, c, id, b, skip)
		if err == nil {
			return n, time.Since(start), nil
		}
		if !retriable(err) || ctx.Err() != nil {
			return nil, 0, fmt.Errorf("no produce acknowledged %v after the kill: %w", time.Since(start), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Millisecond):
		}
	}
}

// produceAnywhere tries b once on each live node but skip, the leader (by
// its own account) first, and returns the node that acknowledged it, or
// the last error. Each attempt is bounded by a second.
func produceAnywhere(ctx context.Context, c *TCPCluster, id string, b []byte, skip *TCPNode) (*TCPNode, error) {
	var nodes []*TCPNode
	for _, n := range c.Nodes {
		if m := n.Member(id); n != skip && m != nil {
			if m.Group.IsLeader() {
				nodes = slices.Insert(nodes, 0, n)
			} else {
				nodes = append(nodes, n)
			}
		}
	}
	err := error(replication.ErrStopped)
	for _, n := range nodes {
		m := n.Member(id)
		if m == nil {
			continue // killed meanwhile
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = m.Replica.Produce(actx, b)
		cancel()
		if err == nil {
			return n, nil
		}
		if !retriable(err) {
			return nil, err
		}
	}
	return nil, err
}

// waitAcked waits until the load has n acknowledgements.
func waitAcked(t *testing.T, acked *atomic.Int64, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("load stalled: %d produces acknowledged, want %d", acked.Load(), n)
		}
		waitTick()
	}
}

// catchUp waits until node n's replica of id has applied everything the
// leader had when catchUp started.
func catchUp(t *testing.T, c *TCPCluster, id string, n *TCPNode, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	_, lm, err := c.Leader(id, timeout)
	if err != nil {
		t.Fatal(err)
	}
	want := lm.Replica.HighWatermark()
	for {
		m := n.Member(id)
		if m != nil && m.Replica.HighWatermark() >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %s did not reach the leader's high watermark %d within %v", n.ID, want, timeout)
		}
		waitTick()
	}
}
