// Package testcluster starts Sluice clusters inside a test process: n
// nodes on loopback TCP, each with its client API server, for tests of
// packages above the server (drivers, tools) that need a real cluster.
// Everything stops when the test ends.
package testcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/server"
	"github.com/sluicedb/sluice/server/rpc"
)

// Cluster is a running in-process cluster.
type Cluster struct {
	// Addrs are the nodes' client API addresses.
	Addrs []string
	nodes []*server.Node // nil while stopped
	srvs  []*rpc.Server
	cfgs  []server.Config
	lg    *slog.Logger
}

// Timing is raft timing for tests: fast elections, slow enough for three
// nodes in one process on a small, busy machine.
func Timing() replication.Timing {
	return replication.Timing{
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 2 * time.Millisecond,
	}
}

// Start starts n nodes that bootstrap a cluster and waits until every node
// is registered as active. The nodes log to stderr when SLUICE_TEST_LOG
// is set.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		out = os.Stderr
	}
	lg := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	type lns struct{ raft, client net.Listener }
	var ls []lns
	var peers []server.Peer
	c := &Cluster{}
	for i := range n {
		l := lns{raft: listen(), client: listen()}
		ls = append(ls, l)
		peers = append(peers, server.Peer{ID: fmt.Sprint("n", i+1),
			RaftAddr: l.raft.Addr().String(), ClientAddr: l.client.Addr().String()})
		c.Addrs = append(c.Addrs, l.client.Addr().String())
	}
	base := t.TempDir() // before the Cleanup below, which runs first
	t.Cleanup(func() { c.stop(t) })
	c.lg = lg
	for i, p := range peers {
		cfg := server.Config{
			ID: p.ID, DataDir: filepath.Join(base, p.ID), RaftListener: ls[i].raft,
			RaftAddr: p.RaftAddr, ClientAddr: p.ClientAddr, Bootstrap: peers, Timing: Timing(),
			BalanceInterval: 100 * time.Millisecond, Logger: lg.With("node", p.ID),
		}
		node, err := server.Start(cfg)
		if err != nil {
			_ = ls[i].client.Close()
			t.Fatal(err)
		}
		cfg.RaftListener, cfg.Bootstrap = nil, nil // a restart listens again and rejoins
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, node)
		srv, err := rpc.Start(rpc.Config{Node: node, Listener: ls[i].client, Logger: lg.With("node", p.ID)})
		if err != nil {
			t.Fatal(err)
		}
		c.srvs = append(c.srvs, srv)
	}
	c.waitActive(t, n)
	return c
}

// Node returns node i (from 0), or nil while it is stopped.
func (c *Cluster) Node(i int) *server.Node { return c.nodes[i] }

// Stop stops node i as a crash would look to the others: its client API
// and its node close at once (its data stays for Restart).
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	if c.nodes[i] == nil {
		return
	}
	if err := c.srvs[i].Close(); err != nil {
		t.Error(err)
	}
	if err := c.nodes[i].Close(); err != nil {
		t.Error(err)
	}
	c.nodes[i], c.srvs[i] = nil, nil
}

// Restart starts a stopped node i again on its data and addresses.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	if c.nodes[i] != nil {
		t.Fatalf("testcluster: node %d is running", i)
	}
	node, err := server.Start(c.cfgs[i])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.cfgs[i].ClientAddr)
	if err != nil {
		_ = node.Close()
		t.Fatal(err)
	}
	srv, err := rpc.Start(rpc.Config{Node: node, Listener: ln, Logger: c.lg.With("node", c.cfgs[i].ID)})
	if err != nil {
		_ = node.Close()
		t.Fatal(err)
	}
	c.nodes[i], c.srvs[i] = node, srv
}

// MetadataLeader returns the index of the running node that leads the
// metadata group and runs the group coordinator, waiting up to 20 s.
func (c *Cluster) MetadataLeader(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.MetadataLeader() && n.Groups().Active() {
				return i
			}
		}
		<-tick.C
	}
	t.Fatal("testcluster: no metadata leader with an active coordinator after 20 s")
	return -1
}

// PartitionLeader returns the index of the running node that leads
// partition id (a raft group id), waiting up to 20 s.
func (c *Cluster) PartitionLeader(t testing.TB, id string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n == nil {
				continue
			}
			if _, g := n.Partition(id); g != nil && g.Ready() {
				return i
			}
		}
		<-tick.C
	}
	t.Fatalf("testcluster: no leader of %s after 20 s", id)
	return -1
}

// waitActive waits until the cluster lists n active nodes.
func (c *Cluster) waitActive(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Servers: c.Addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if info, err := cl.Cluster(ctx); err == nil && info.MetadataLeaderID != "" {
			active := 0
			for _, nd := range info.Nodes {
				if nd.State == "active" {
					active++
				}
			}
			if active == n {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testcluster: %d nodes not active after 30 s", n)
		case <-tick.C:
		}
	}
}

func (c *Cluster) stop(t testing.TB) {
	for i := range c.srvs {
		if c.srvs[i] != nil {
			if err := c.srvs[i].Close(); err != nil {
				t.Error(err)
			}
		}
	}
	for i := range c.nodes {
		if c.nodes[i] != nil {
			if err := c.nodes[i].Close(); err != nil {
				t.Error(err)
			}
		}
	}
}
