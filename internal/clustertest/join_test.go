package clustertest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicedb/sluice/replication"
)

func produceN(t *testing.T, c *Cluster, id string, pid int64, seq *int32, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Produce(ctx, id, recordsBatch(t, pid, *seq, 3))
		cancel()
		if err != nil {
			t.Fatalf("produce seq %d: %v", *seq, err)
		}
		*seq += 3
	}
}

// TestNewNodeJoinsThroughSnapshot adds a fourth node to a partition whose
// raft log was compacted: it can only catch up through a snapshot (the
// producer table and the segment bytes), after which it must serve the same
// bytes as the others and answer an idempotent retry as a duplicate.
func TestNewNodeJoinsThroughSnapshot(t *testing.T) {
	timing := FastTiming()
	timing.TrailingLogs = 4
	c := New(t, Config{Seed: 1, Timing: timing, SegmentBytes: 2 << 10, CheckpointEvery: 4})
	const id = "p"
	c.CreatePartition(id)
	seq := int32(0)
	produceN(t, c, id, 1, &seq, 60)
	_, m, err := c.Leader(id, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Group.Snapshot(); err != nil {
		t.Fatal(err)
	}
	produceN(t, c, id, 1, &seq, 10)

	n4 := c.AddNode()
	if err := c.AddReplica(n4, id, 10*time.Second); err != nil {
		t.Fatalf("add replica: %v", err)
	}
	members, err := c.Converge(id, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 4 {
		t.Fatalf("%d members, want 4", len(members))
	}
	first, err := n4.FirstRaftIndex(id)
	if err != nil {
		t.Fatal(err)
	}
	if first <= 1 {
		t.Fatalf("new replica's raft log starts at %d: it was not seeded by a snapshot", first)
	}
	want, err := ReadAll(members[0].Replica)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(n4.Member(id).Replica)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("new replica serves %d bytes, others %d: they differ", len(got), len(want))
	}
	// The new replica can lead and dedups a retry of the last batch.
	if err := c.TransferTo(id, n4, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := n4.Member(id).Replica.Produce(ctx, recordsBatch(t, 1, seq-3, 3))
	if err != nil || !res.Duplicate {
		t.Fatalf("retry on the new leader: %+v, %v", res, err)
	}
	t.Logf("new replica's raft log starts at %d; %d bytes served identically", first, len(got))
}

// TestUndecodableEntryStopsReplicas proposes a command that does not
// decode: every replica must stop applying (fail-stop, ErrFailed), never
// skip it, and keep what it had.
func TestUndecodableEntryStopsReplicas(t *testing.T) {
	c := New(t, Config{Seed: 2, SegmentBytes: 2 << 10, CheckpointEvery: 4})
	const id = "p"
	c.CreatePartition(id)
	seq := int32(0)
	produceN(t, c, id, 1, &seq, 5)
	members, err := c.Converge(id, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hw := members[0].Replica.HighWatermark()
	_, m, err := c.Leader(id, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.Group.Propose(ctx, []byte{0xde, 0xad, 0xbe, 0xef}); !errors.Is(err, replication.ErrFailed) {
		t.Fatalf("Propose(garbage) = %v, want ErrFailed", err)
	}
	// The replicas that learn the entry is committed apply it and stop. A
	// leader that stops takes the commit news with it, so the last follower
	// may never learn it: it must then simply not have applied it (and,
	// alone, it cannot elect itself). Either way nothing is skipped.
	deadline := time.Now().Add(5 * time.Second)
	failed := func() int {
		n := 0
		for _, mm := range members {
			if errors.Is(mm.Group.Err(), replication.ErrFailed) {
				n++
			}
		}
		return n
	}
	for failed() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d replicas fail-stopped, want a quorum", failed())
		}
		waitTick()
	}
	applied := members[0].Replica.AppliedIndex()
	for i, mm := range members {
		if mm.Group.Err() == nil {
			if mm.Group.IsLeader() {
				t.Fatalf("replica %d went on past the bad entry", i)
			}
		} else if _, err := mm.Group.Propose(ctx, nil); !errors.Is(err, replication.ErrFailed) {
			t.Fatalf("Propose after fail-stop = %v", err)
		}
		if got := mm.Replica.AppliedIndex(); got != applied {
			t.Fatalf("replica %d applied index %d, want %d: the bad entry was skipped", i, got, applied)
		}
		if got := mm.Replica.HighWatermark(); got != hw {
			t.Fatalf("high watermark %d after fail-stop, want %d", got, hw)
		}
		if _, err := ReadAll(mm.Replica); err != nil {
			t.Fatalf("a stopped replica must still serve what it has: %v", err)
		}
	}
}
