package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// onMetaLeader runs op on the metadata leader until its answer is other
// than a leadership lost or moved (as a client retries), and returns that
// answer. op must be safe to repeat: its outcome may be unknown.
func onMetaLeader[T any](c *cluster, what string, op func(*Node) (T, error)) (T, error) {
	c.t.Helper()
	var (
		v   T
		err error
	)
	waitFor(c.t, 30*time.Second, what, func() bool {
		v, err = op(c.leader())
		return !errors.Is(err, replication.ErrOutcomeUnknown) && !errors.Is(err, replication.ErrNotLeader) &&
			!errors.Is(err, replication.ErrTimeout)
	})
	return v, err
}

// snapshotTiming is fastTiming with raft snapshots only on demand and a
// short log kept after one, so that a test can make a new replica catch up
// through a snapshot.
func snapshotTiming(cfg *Config) {
	cfg.Timing = fastTiming()
	cfg.Timing.SnapshotInterval = time.Hour
	cfg.Timing.SnapshotThreshold = 1 << 30
	cfg.Timing.TrailingLogs = 4
}

// leader waits for a metadata leader and returns it.
func (c *cluster) leader() *Node {
	c.t.Helper()
	waitFor(c.t, 10*time.Second, "a metadata leader", func() bool { return c.metaLeader() != nil })
	return c.metaLeader()
}

// follower returns a node that does not lead the metadata group.
func (c *cluster) follower() *Node {
	for _, n := range c.nodes {
		if n != nil && !n.MetadataLeader() {
			return n
		}
	}
	c.t.Fatal("no metadata follower")
	return nil
}

// producer produces 10-record batches to one partition as one idempotent
// producer, retrying (with the same sequence) until the batch is written.
type producer struct {
	c   *cluster
	id  string
	pid int64
	seq int32
}

func (p *producer) produce(n int) {
	p.c.t.Helper()
	for range n {
		recs := make([]batch.Record, 10)
		for k := range recs {
			recs[k] = batch.Record{Timestamp: 1, Key: []byte(fmt.Sprint(p.seq + int32(k))), Value: bytes.Repeat([]byte{byte(p.seq)}, 100)}
		}
		b, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: p.pid, BaseSequence: p.seq})
		if err != nil {
			p.c.t.Fatal(err)
		}
		waitFor(p.c.t, 20*time.Second, "a produce to "+p.id, func() bool {
			_, r := p.c.leaderOf(p.id)
			if r == nil {
				return false
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := r.Produce(ctx, b)
			return err == nil
		})
		p.seq += 10
	}
}

// readAll returns every batch of r from its log start to its high
// watermark, as stored.
func readAll(r *partition.Replica) ([]byte, error) {
	var out []byte
	off := r.LogStartOffset()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	for off < r.HighWatermark() {
		n := len(out)
		var err error
		if out, err = r.Fetch(ctx, out, off, 1<<20); err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("no data at %d below %d", off, r.HighWatermark())
		}
		for b := out[n:]; len(b) > 0; {
			h, err := batch.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				return nil, fmt.Errorf("bad batch at offset %d: %v", off, err)
			}
			off = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	return out, nil
}

// placed reports, with a reason when not, whether partition id lives on
// exactly the nodes replicas: each of them has a replica that is a member
// of a group whose members are replicas, with a leader among them, all
// holding the same bytes up to a high watermark of at least hw; and every
// other live node has neither the replica nor its files nor its raft log.
func (c *cluster) placed(id string, replicas []string, hw int64) (bool, string) {
	var want []byte
	led := false
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		r, g := n.Partition(id)
		if !slices.Contains(replicas, n.cfg.ID) {
			if r != nil {
				members, err := g.Members()
				gs, _ := n.store.Group(id)
				last, _ := gs.LastIndex()
				first, _ := gs.FirstIndex()
				info := ""
				for _, o := range c.nodes {
					if _, og := o.Partition(id); og != nil {
						ogs, _ := o.store.Group(id)
						ol, _ := ogs.LastIndex()
						info += fmt.Sprintf(" %s:applied=%d,last=%d,term=%d,leader=%v", o.cfg.ID, og.AppliedIndex(), ol, og.Term(), og.Ready())
					}
				}
				return false, fmt.Sprintf("%s still has a replica (members %v, %v; leader %v; log %d..%d)%s", n.cfg.ID, members, err, g.Leader(), first, last, info)
			}
			if _, err := os.Stat(n.logDir(id)); err == nil {
				return false, n.cfg.ID + " still has the replica's files"
			}
			if gs, err := n.store.Group(id); err != nil {
				return false, err.Error()
			} else if last, _ := gs.LastIndex(); last != 0 {
				return false, n.cfg.ID + " still has the group's raft log"
			}
			continue
		}
		if r == nil {
			return false, n.cfg.ID + " has no replica"
		}
		members, err := g.Members()
		if err != nil || !sameMembers(members, replicas) {
			return false, fmt.Sprintf("%s: members %v, %v", n.cfg.ID, members, err)
		}
		led = led || g.Ready()
		if r.HighWatermark() < hw {
			return false, fmt.Sprintf("%s: high watermark %d < %d", n.cfg.ID, r.HighWatermark(), hw)
		}
		got, err := readAll(r)
		if err != nil {
			return false, err.Error()
		}
		if want == nil {
			want = got
		} else if !bytes.Equal(got, want) {
			return false, fmt.Sprintf("%s serves %d bytes that differ from %d", n.cfg.ID, len(got), len(want))
		}
	}
	if !led {
		return false, "no leader among the replicas"
	}
	return true, ""
}

// waitPlaced waits until placed(id, replicas, hw) holds.
func (c *cluster) waitPlaced(id string, replicas []string, hw int64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := c.placed(id, replicas, hw)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s on %v: %s", timeout, id, replicas, why)
		}
		<-time.After(10 * time.Millisecond)
	}
}

// waitStable waits until every node's metadata is at least the leader's
// version, so that nodes act on the same state.
func (c *cluster) waitStable() {
	c.t.Helper()
	v := c.leader().Metadata().Version()
	waitFor(c.t, 10*time.Second, "metadata to reach every node", func() bool {
		for _, n := range c.nodes {
			if n != nil && n.Metadata().Version() < v {
				return false
			}
		}
		return true
	})
}

// metaMembers returns the ids of the metadata group's members as the
// leader knows them.
func (c *cluster) metaMembers() []string {
	c.t.Helper()
	members, err := c.leader().metaG.Members()
	if err != nil {
		c.t.Fatal(err)
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitActive waits until node id is active in the leader's metadata.
func (c *cluster) waitActive(ids ...string) {
	c.t.Helper()
	waitFor(c.t, 10*time.Second, fmt.Sprint("nodes ", ids, " active"), func() bool {
		l := c.metaLeader()
		if l == nil {
			return false
		}
		for _, id := range ids {
			if n := l.Metadata().Node(id); n == nil || n.State != metadata.NodeActive {
				return false
			}
		}
		return true
	})
}

// addNode, reassign and removeNode call the metadata leader's AddNode,
// ReassignPartition and RemoveNode as onMetaLeader does: each is safe to
// repeat.
func (c *cluster) addNode(ctx context.Context, p Peer) (*metadata.Node, error) {
	c.t.Helper()
	return onMetaLeader(c, "AddNode "+p.ID, func(l *Node) (*metadata.Node, error) { return l.AddNode(ctx, p) })
}

func (c *cluster) reassign(ctx context.Context, id string, replicas []string) (*metadata.Partition, error) {
	c.t.Helper()
	return onMetaLeader(c, "ReassignPartition "+id, func(l *Node) (*metadata.Partition, error) {
		return l.ReassignPartition(ctx, id, replicas)
	})
}

func (c *cluster) removeNode(ctx context.Context, id string) error {
	c.t.Helper()
	_, err := onMetaLeader(c, "RemoveNode "+id, func(l *Node) (struct{}, error) { return struct{}{}, l.RemoveNode(ctx, id) })
	return err
}
