package suite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/chaos/netproxy"
	"github.com/sluicedb/sluice/internal/chaos/proccluster"
)

// meshCluster starts a cluster whose nodes reach each other's raft and
// client ports only through a netproxy mesh.
func meshCluster(t *testing.T, ctx context.Context) (*proccluster.Cluster, *netproxy.Mesh) {
	t.Helper()
	addrs, err := proccluster.Allocate(3)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]map[string]string{}
	for _, a := range addrs {
		targets[a.ID] = map[string]string{"raft": a.Raft, "client": a.Client}
	}
	mesh, err := netproxy.StartMesh(netproxy.MeshConfig{Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mesh.Close() })
	dir := t.TempDir()
	if *chaosOut != "" {
		// Keep the nodes' data and logs with the history of a failed run.
		dir = filepath.Join(*chaosOut, t.Name()+"-cluster")
	}
	c, err := proccluster.Start(ctx, proccluster.Config{Binary: binary, Dir: dir, Addrs: addrs,
		DialVia: func(i int, nodes []proccluster.Addrs) map[string]string {
			via := map[string]string{}
			for j, peer := range nodes {
				if j == i {
					continue
				}
				for kind, real := range map[string]string{"raft": peer.Raft, "client": peer.Client} {
					proxy, err := mesh.Addr(nodes[i].ID, peer.ID, kind)
					if err != nil {
						t.Error(err)
						continue
					}
					via[real] = proxy
				}
			}
			return via
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, mesh
}

// TestIsolateLeaderThroughProxies: nodes talk only through the mesh, so
// isolating a partition's leader there makes the other two elect a new
// one, which a client (connected to every node directly) produces to;
// after healing, the old leader catches up.
func TestIsolateLeaderThroughProxies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, mesh := meshCluster(t, ctx)
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "s", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	produce := func(what string) time.Duration {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := p.ProduceSync(pctx, client.Record{Stream: "s", Value: []byte(what)}); err != nil {
			t.Fatalf("produce %s: %v (faults: %s)", what, err, mesh)
		}
		return time.Since(start)
	}
	produce("before")
	var leader string
	deadline := time.Now().Add(30 * time.Second)
	for leader == "" && time.Now().Before(deadline) {
		info, err := cl.DescribeStream(ctx, "s")
		if err == nil && info.Partitions[0].LeaderID != "" {
			leader = info.Partitions[0].LeaderID
		}
	}
	if leader == "" {
		t.Fatal("no leader")
	}
	// A client that knows the leader's node first (and asked it last)
	// must not keep trusting it once it is cut off: it answers metadata
	// with what it knew before.
	first := []string{}
	for _, a := range c.Addrs() {
		if a.ID == leader {
			first = append([]string{a.Client}, first...)
		} else {
			first = append(first, a.Client)
		}
	}
	cl2, err := client.New(ctx, client.Config{Servers: first})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	p2, err := cl2.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(ctx)
	if _, err := p2.ProduceSync(ctx, client.Record{Stream: "s", Value: []byte("leader first")}); err != nil {
		t.Fatal(err)
	}
	p = p2
	if err := mesh.Isolate(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("isolated the leader %s; produce took %v", leader, produce("isolated").Round(time.Millisecond))
	// The node that answers may be the isolated one, which knows no
	// leader now (""), or one that has not heard of the election yet:
	// wait until a node names the new leader.
	var now string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		info, err := cl.DescribeStream(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if now = info.Partitions[0].LeaderID; now != leader && now != "" {
			break
		}
		<-time.After(50 * time.Millisecond)
	}
	if now == leader || now == "" {
		t.Errorf("leader after isolating %s: %q", leader, now)
	}
	if err := mesh.HealAll(); err != nil {
		t.Fatal(err)
	}
	t.Logf("healed; produce took %v", produce("healed").Round(time.Millisecond))
}
