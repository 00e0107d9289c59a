package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fastTiming() replication.Timing {
	return replication.Timing{
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 2 * time.Millisecond,
	}
}

type cluster struct {
	t     *testing.T
	base  string
	opts  []func(*Config)
	peers []Peer
	cfgs  []Config
	nodes []*Node
}

// startCluster starts n nodes n1..n<n> that bootstrap a cluster together;
// each opt changes every node's Config.
func startCluster(t *testing.T, n int, opts ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, base: t.TempDir(), opts: opts}
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln := c.listen()
		lns = append(lns, ln)
		c.peers = append(c.peers, Peer{ID: fmt.Sprint("n", i+1), RaftAddr: ln.Addr().String(), ClientAddr: fmt.Sprint("127.0.0.1:", 19000+i)})
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				_ = n.Close()
			}
		}
	})
	for i := 0; i < n; i++ {
		c.start(i, lns[i], c.peers)
	}
	return c
}

func (c *cluster) listen() net.Listener {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	return ln
}

// start starts node i (of c.peers) on ln with the bootstrap list.
func (c *cluster) start(i int, ln net.Listener, bootstrap []Peer) {
	c.t.Helper()
	p := c.peers[i]
	cfg := Config{
		ID: p.ID, DataDir: filepath.Join(c.base, p.ID), RaftListener: ln,
		RaftAddr: p.RaftAddr, ClientAddr: p.ClientAddr, Bootstrap: bootstrap, Timing: fastTiming(),
		SegmentBytes: 16 << 10, BalanceInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testLogOut, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", c.t.Name()),
	}
	for _, o := range c.opts {
		o(&cfg)
	}
	node, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.cfgs = append(c.cfgs, cfg)
	c.nodes = append(c.nodes, node)
}

// add starts one more node with an empty bootstrap list: it waits to be
// added. It returns its index.
func (c *cluster) add() int {
	c.t.Helper()
	ln := c.listen()
	i := len(c.peers)
	c.peers = append(c.peers, Peer{ID: fmt.Sprint("n", i+1), RaftAddr: ln.Addr().String(), ClientAddr: fmt.Sprint("127.0.0.1:", 19000+i)})
	c.start(i, ln, nil)
	return i
}

// restart closes node i and starts it again on its data directory.
func (c *cluster) restart(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = nil
	cfg := c.cfgs[i]
	cfg.RaftListener = nil // listen again on the same address
	node, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = node
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-time.After(10 * time.Millisecond)
	}
}

func (c *cluster) metaLeader() *Node {
	for _, n := range c.nodes {
		if n != nil && n.MetadataLeader() {
			return n
		}
	}
	return nil
}

// leaderOf returns the node that leads partition id, or nil.
func (c *cluster) leaderOf(id string) (*Node, *partition.Replica) {
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		if r, g := n.Partition(id); g != nil && g.Ready() {
			return n, r
		}
	}
	return nil, nil
}

// waitLeaderOf waits with a deadline for a node leading the partition: on
// a loaded machine leadership can be in flux for a moment after any write.
func (c *cluster) waitLeaderOf(id string) (*Node, *partition.Replica) {
	c.t.Helper()
	var (
		n *Node
		r *partition.Replica
	)
	waitFor(c.t, 20*time.Second, "a leader of "+id, func() bool {
		n, r = c.leaderOf(id)
		return r != nil
	})
	return n, r
}

func TestClusterLifecycle(t *testing.T) {
	c := startCluster(t, 3)
	waitFor(t, 10*time.Second, "the metadata leader to register every node", func() bool {
		l := c.metaLeader()
		return l != nil && len(l.Metadata().Nodes()) == 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.metaLeader().CreateStream(ctx, metadata.CreateStream{Name: "orders", Partitions: 6, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Metadata on a follower is refused with a leader hint.
	for _, n := range c.nodes {
		if !n.MetadataLeader() {
			_, err := n.CreateStream(ctx, metadata.CreateStream{Name: "other", Partitions: 1})
			var nl *replication.NotLeaderError
			if !errors.As(err, &nl) {
				t.Fatalf("CreateStream on a follower = %v, want NotLeaderError", err)
			}
			break
		}
	}
	ids := make([]string, len(s.Partitions))
	for i, p := range s.Partitions {
		ids[i] = p.ID
	}
	// Every partition gets a leader, and leaders move to the preferred ones,
	// which the metadata spread evenly: two per node.
	waitFor(t, 20*time.Second, "balanced partition leaders", func() bool {
		count := map[string]int{}
		for _, p := range s.Partitions {
			n, _ := c.leaderOf(p.ID)
			if n == nil || n.cfg.ID != p.Replicas[0] {
				return false
			}
			count[n.cfg.ID]++
		}
		return count["n1"] == 2 && count["n2"] == 2 && count["n3"] == 2
	})
	// Idempotent producers, one per partition: a retry after an unknown
	// outcome (a leader moving) is written once.
	seqs := map[string]int32{}
	produce := func(i int, id string) partition.ProduceResult {
		t.Helper()
		recs := make([]batch.Record, 10)
		for k := range recs {
			recs[k] = batch.Record{Timestamp: 1, Value: make([]byte, 100)}
		}
		b, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: int64(i + 1), BaseSequence: seqs[id]})
		if err != nil {
			t.Fatal(err)
		}
		var res partition.ProduceResult
		waitFor(t, 10*time.Second, "a produce to "+id, func() bool {
			_, r := c.leaderOf(id)
			if r == nil {
				return false
			}
			res, err = r.Produce(ctx, b)
			return err == nil
		})
		seqs[id] += 10
		return res
	}
	for i, id := range ids {
		for j := 0; j < 5; j++ {
			if res := produce(i, id); res.BaseOffset != int64(j*10) {
				t.Fatalf("%s batch %d at offset %d", id, j, res.BaseOffset)
			}
		}
	}
	// A restarted node reopens its replicas from disk and catches up.
	c.restart(1)
	for i, id := range ids {
		produce(i, id)
	}
	for _, id := range ids {
		waitFor(t, 10*time.Second, "replicas of "+id+" to agree", func() bool {
			var hws []int64
			for _, n := range c.nodes {
				r, _ := n.Partition(id)
				if r == nil {
					return false
				}
				hws = append(hws, r.HighWatermark())
			}
			return hws[0] == 60 && hws[1] == 60 && hws[2] == 60
		})
	}
	// Deleting the stream removes every replica and its files.
	waitFor(t, 10*time.Second, "a metadata leader", func() bool { return c.metaLeader() != nil })
	if err := c.metaLeader().DeleteStream(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	defer func() { t.Logf("stream removed from every node in %s", time.Since(deleted)) }()
	waitFor(t, 30*time.Second, "replicas to be removed", func() bool {
		for _, n := range c.nodes {
			for _, id := range ids {
				if r, _ := n.Partition(id); r != nil {
					return false
				}
				if _, err := os.Stat(n.logDir(id)); err == nil {
					return false
				}
			}
		}
		return true
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ID: "a", DataDir: "d", RaftAddr: "x:1"}
	bad := []Config{
		{DataDir: "d", RaftAddr: "x:1"},
		{ID: "a", RaftAddr: "x:1"},
		{ID: "a", DataDir: "d"},
		{ID: "a", DataDir: "d", RaftAddr: "x:1", Bootstrap: []Peer{{ID: "b", RaftAddr: "y:1"}}},
		{ID: "a", DataDir: "d", RaftAddr: "x:1", Bootstrap: []Peer{{ID: "a", RaftAddr: "x:1"}, {ID: "a", RaftAddr: "x:1"}}},
		{ID: "a", DataDir: "d", RaftAddr: "x:1", Bootstrap: []Peer{{ID: "a"}}},
		{ID: "a", DataDir: "d", RaftAddr: "x:1", BalanceInterval: -1},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range bad {
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v", cfg, err)
		}
	}
}

// testLogOut receives the nodes' logs: set SLUICE_TEST_LOG to see them.
var testLogOut io.Writer = func() io.Writer {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}()
