package rpc

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

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogOut receives the nodes' logs: set SLUICE_TEST_LOG to see them.
var testLogOut io.Writer = func() io.Writer {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}()

// fastTiming is raft timing for tests: fast failover, yet slow enough
// that three nodes in one process on a small, busy machine do not hold
// elections all the time (the tests also retry what an election refuses).
func fastTiming() replication.Timing {
	return replication.Timing{
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 2 * time.Millisecond,
	}
}

// nothingDone reports whether err is an answer that says nothing was done
// and a retry may succeed: an election, a leader that moved, a node
// stopping. OUTCOME_UNKNOWN is not one.
func nothingDone(err error) bool {
	switch detailOf(err).GetCode() {
	case sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER,
		sluicev1.ErrorCode_ERROR_CODE_TIMEOUT, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE:
		return true
	}
	return false
}

// retry calls fn until it answers something else than nothingDone (for up
// to 20 s) and returns that answer.
func retry(t *testing.T, fn func() error) error {
	t.Helper()
	var err error
	waitFor(t, 20*time.Second, "an answer other than an election's", func() bool {
		err = fn()
		return !nothingDone(err)
	})
	return err
}

// onLeader calls fn with the client of the current leader of the
// partition, retrying as retry does.
func (c *tcluster) onLeader(stream string, part int, fn func(sluicev1.SluiceClient) error) error {
	c.t.Helper()
	return retry(c.t, func() error { return fn(c.api(c.partitionLeader(stream, part))) })
}

// tcluster is n nodes on loopback TCP, each with its client API server.
type tcluster struct {
	t     *testing.T
	nodes []*server.Node // nil once killed
	srvs  []*Server
	ids   []string
	addrs []string // client addresses
	https []string // HTTP addresses
	conns map[int]*grpc.ClientConn
	base  string
	mod   func(*Config)
}

// startCluster starts n nodes n1..n<n> that bootstrap a cluster together,
// each with an rpc.Server; mod may change each server's Config. Everything
// stops when the test ends.
func startCluster(t *testing.T, n int, mod func(*Config)) *tcluster {
	t.Helper()
	c := &tcluster{t: t}
	base := t.TempDir()
	var raftLns, clientLns, httpLns []net.Listener
	var peers []server.Peer
	for i := range n {
		raftLn, clientLn, httpLn := listen(t), listen(t), listen(t)
		raftLns, clientLns, httpLns = append(raftLns, raftLn), append(clientLns, clientLn), append(httpLns, httpLn)
		id := fmt.Sprint("n", i+1)
		c.ids = append(c.ids, id)
		c.addrs = append(c.addrs, clientLn.Addr().String())
		c.https = append(c.https, httpLn.Addr().String())
		peers = append(peers, server.Peer{ID: id, RaftAddr: raftLn.Addr().String(), ClientAddr: clientLn.Addr().String()})
	}
	c.base, c.mod = base, mod
	t.Cleanup(c.stopAll)
	for i := range n {
		c.start(peers[i], raftLns[i], clientLns[i], httpLns[i], peers)
	}
	return c
}

// start starts node p with its server and appends them to c.
func (c *tcluster) start(p server.Peer, raftLn, clientLn, httpLn net.Listener, bootstrap []server.Peer) {
	c.t.Helper()
	lg := slog.New(slog.NewTextHandler(testLogOut, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", c.t.Name())
	node, err := server.Start(server.Config{
		ID: p.ID, DataDir: filepath.Join(c.base, p.ID), RaftListener: raftLn,
		RaftAddr: p.RaftAddr, ClientAddr: p.ClientAddr, Bootstrap: bootstrap, Timing: fastTiming(),
		SegmentBytes: 1 << 20, BalanceInterval: 100 * time.Millisecond, Logger: lg,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes = append(c.nodes, node)
	cfg := Config{Node: node, Listener: clientLn, HTTPListener: httpLn, Logger: lg}
	if c.mod != nil {
		c.mod(&cfg)
	}
	srv, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.srvs = append(c.srvs, srv)
}

// addNode starts one more node, with an empty bootstrap list (it waits to
// be added with server.Node.AddNode), and returns its index and peer.
func (c *tcluster) addNode() (int, server.Peer) {
	c.t.Helper()
	raftLn, clientLn, httpLn := listen(c.t), listen(c.t), listen(c.t)
	i := len(c.nodes)
	p := server.Peer{ID: fmt.Sprint("n", i+1), RaftAddr: raftLn.Addr().String(), ClientAddr: clientLn.Addr().String()}
	c.ids = append(c.ids, p.ID)
	c.addrs = append(c.addrs, p.ClientAddr)
	c.https = append(c.https, httpLn.Addr().String())
	c.start(p, raftLn, clientLn, httpLn, nil)
	return i, p
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (c *tcluster) stopAll() {
	for i := range c.nodes {
		c.kill(i)
	}
}

// kill stops node i and its server.
func (c *tcluster) kill(i int) {
	if c.nodes[i] == nil {
		return
	}
	if err := c.srvs[i].Close(); err != nil {
		c.t.Error(err)
	}
	if err := c.nodes[i].Close(); err != nil {
		c.t.Error(err)
	}
	c.nodes[i] = nil
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

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// index returns the index of node id.
func (c *tcluster) index(id string) int {
	for i, x := range c.ids {
		if x == id {
			return i
		}
	}
	c.t.Fatalf("no node %s", id)
	return -1
}

// metaLeader waits for a metadata leader and returns its index.
func (c *tcluster) metaLeader() int {
	c.t.Helper()
	at := -1
	waitFor(c.t, 10*time.Second, "a metadata leader", func() bool {
		for i, n := range c.nodes {
			if n != nil && n.MetadataLeader() {
				at = i
				return true
			}
		}
		return false
	})
	return at
}

// metaFollower returns the index of a live node that does not lead the
// metadata group.
func (c *tcluster) metaFollower() int {
	l := c.metaLeader()
	for i, n := range c.nodes {
		if n != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no metadata follower")
	return -1
}

// waitReady waits until every live node is ready (registered, a metadata
// leader known, its partitions open) and knows every node as active.
func (c *tcluster) waitReady() {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, "every node ready", func() bool {
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			if n.CheckReady() != nil {
				return false
			}
			for _, id := range c.ids {
				if m := n.Metadata().Node(id); m == nil || m.State != metadata.NodeActive {
					return false
				}
			}
		}
		return true
	})
}

// partitionLeader waits until a node leads (Ready) the partition part of
// stream and returns its index.
func (c *tcluster) partitionLeader(stream string, part int) int {
	c.t.Helper()
	at := -1
	waitFor(c.t, 20*time.Second, fmt.Sprintf("a leader of %s/%d", stream, part), func() bool {
		for i, n := range c.nodes {
			if n == nil {
				continue
			}
			st := n.Metadata().Stream(stream)
			if st == nil || part >= len(st.Partitions) {
				continue
			}
			if _, g := n.Partition(st.Partitions[part].ID); g != nil && g.Ready() {
				at = i
				return true
			}
		}
		return false
	})
	return at
}

// conn returns a gRPC connection to node i, closed when the test ends.
func (c *tcluster) conn(i int) *grpc.ClientConn {
	c.t.Helper()
	if c.conns == nil {
		c.conns = map[int]*grpc.ClientConn{}
	}
	if cc := c.conns[i]; cc != nil {
		return cc
	}
	cc, err := grpc.NewClient(c.addrs[i], grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cc.Close() })
	c.conns[i] = cc
	return cc
}

// api returns a raw client of node i.
func (c *tcluster) api(i int) sluicev1.SluiceClient { return sluicev1.NewSluiceClient(c.conn(i)) }

// createStream creates a stream through node i and waits until every
// partition has a ready leader and every node is ready.
// rf is the replication factor (0: the default). A partition with one
// replica never changes leader: tests that count on one node use it.
func (c *tcluster) createStream(i int, name string, parts, rf int) {
	c.t.Helper()
	ctx := testCtx(c.t, 20*time.Second)
	var err error
	waitFor(c.t, 20*time.Second, "CreateStream "+name, func() bool {
		_, err = c.api(i).CreateStream(ctx, &sluicev1.CreateStreamRequest{Name: name, Partitions: int32(parts), ReplicationFactor: int32(rf)})
		return err == nil || !detailOf(err).GetRetriable()
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.settle(name)
}

// createQueue creates queue q over its existing stream through node i,
// retrying what is retriable (a metadata election): a retry that finds
// the queue made by an attempt whose outcome was unknown succeeds.
func (c *tcluster) createQueue(i int, q *sluicev1.Queue) {
	c.t.Helper()
	ctx := testCtx(c.t, 20*time.Second)
	var err error
	tries := 0
	waitFor(c.t, 20*time.Second, "CreateQueue "+q.GetName(), func() bool {
		tries++
		_, err = c.api(i).CreateQueue(ctx, &sluicev1.CreateQueueRequest{Queue: q})
		if tries > 1 && codeOf(err) == sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS {
			err = nil
		}
		return err == nil || !detailOf(err).GetRetriable()
	})
	if err != nil {
		c.t.Fatal(err)
	}
	waitFor(c.t, 20*time.Second, "every node to know queue "+q.GetName(), func() bool {
		for _, n := range c.nodes {
			if n != nil && n.Metadata().Queue(q.GetName()) == nil {
				return false
			}
		}
		return true
	})
}

// settle waits until every partition of stream is led by its preferred
// leader (where the nodes' balancing moves it) and every node is ready.
func (c *tcluster) settle(stream string) {
	c.t.Helper()
	waitFor(c.t, 20*time.Second, "preferred leaders of "+stream, func() bool {
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			st := n.Metadata().Stream(stream)
			if st == nil {
				return false
			}
			for _, p := range st.Partitions {
				i := c.index(p.Replicas[0])
				if c.nodes[i] == nil {
					return false
				}
				if _, g := c.nodes[i].Partition(p.ID); g == nil || !g.Ready() {
					return false
				}
			}
		}
		return true
	})
	c.waitReady()
}

// records builds a batch of n records keyed k<first+i>.
func records(t testing.TB, first, n int, opts batch.EncodeOptions) []byte {
	t.Helper()
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{Timestamp: int64(1000 + first + i), Key: fmt.Appendf(nil, "k%d", first+i),
			Value: fmt.Appendf(nil, "v%d", first+i)}
	}
	b, err := batch.Append(nil, recs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plain is the options of a batch without a producer id.
var plain = batch.EncodeOptions{ProducerID: -1}

// decode returns the records of the whole batches in b.
func decode(t testing.TB, b []byte) []batch.Record {
	t.Helper()
	var out []batch.Record
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			t.Fatalf("bad batch in fetch response: %v", err)
		}
		if out, err = batch.DecodeRecords(b[:h.Size()], out, 1<<30); err != nil {
			t.Fatal(err)
		}
		b = b[h.Size():]
	}
	return out
}
