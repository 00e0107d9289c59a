package replication

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, id := range []string{"g", "meta", "orders/17", "ünïcode", strings.Repeat("x", maxGroupIDLen), "\x00\xff"} {
		hdr, err := encodeHeader(id)
		if err != nil {
			t.Fatalf("encodeHeader(%q): %v", id, err)
		}
		r := bytes.NewReader(append(hdr, "raft bytes"...))
		got, err := decodeHeader(r)
		if err != nil || got != id {
			t.Fatalf("decodeHeader(encodeHeader(%q)) = %q, %v", id, got, err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "raft bytes" {
			t.Fatalf("decodeHeader read past the header: left %q", rest)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", maxGroupIDLen+1)} {
		if _, err := encodeHeader(id); !errors.Is(err, ErrInvalidGroupID) {
			t.Errorf("encodeHeader(%d bytes) = %v, want ErrInvalidGroupID", len(id), err)
		}
	}
}

func TestDecodeHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		read error // also wrapped, if not nil
	}{
		{"empty", "", io.EOF},
		{"short prefix", "SLR", io.ErrUnexpectedEOF},
		{"bad magic", "XLRG\x01\x01g", nil},
		{"bad version", "SLRG\x02\x01g", nil},
		{"version zero", "SLRG\x00\x01g", nil},
		{"empty id", "SLRG\x01\x00", nil},
		{"no id", "SLRG\x01\x05", io.EOF},
		{"truncated id", "SLRG\x01\x05abc", io.ErrUnexpectedEOF},
		{"http", "GET / HTTP/1.1\r\n\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeHeader(strings.NewReader(tc.in))
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("decodeHeader(%q) = %v, want ErrBadHeader", tc.in, err)
			}
			if tc.read != nil && !errors.Is(err, tc.read) {
				t.Fatalf("decodeHeader(%q) = %v, want it to wrap %v", tc.in, err, tc.read)
			}
		})
	}
}

func FuzzDecodeHeader(f *testing.F) {
	valid, _ := encodeHeader("orders/3")
	longest, _ := encodeHeader(strings.Repeat("m", maxGroupIDLen))
	for _, seed := range [][]byte{
		nil,
		{},
		[]byte("SLRG\x01\x00"),
		valid,
		longest,
		append(append([]byte{}, valid...), "garbage after the header"...),
		[]byte("SLRG\x01\xffshort"),
		[]byte("SLRG\x09\x01g"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		id, err := decodeHeader(r)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v does not wrap ErrBadHeader", err)
			}
			return
		}
		hdr, err := encodeHeader(id)
		if err != nil {
			t.Fatalf("decoded id %q does not encode: %v", id, err)
		}
		if !bytes.HasPrefix(in, hdr) || r.Len() != len(in)-len(hdr) {
			t.Fatalf("decoded %q from %q, consumed %d bytes, want %d", id, in, len(in)-r.Len(), len(hdr))
		}
		if got, err := decodeHeader(bytes.NewReader(hdr)); err != nil || got != id {
			t.Fatalf("round trip of %q = %q, %v", id, got, err)
		}
	})
}

// startMux serves a mux on a loopback port until the test ends.
func startMux(t *testing.T, configure func(*Mux)) *Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, nil)
	if configure != nil {
		configure(m)
	}
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("mux close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrMuxClosed) {
			t.Errorf("Serve returned %v, want ErrMuxClosed", err)
		}
	})
	return m
}

func muxTransport(t *testing.T, m *Mux, group string) NetTransport {
	t.Helper()
	trans, err := m.Transport(group, TransportConfig{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("Transport(%q): %v", group, err)
	}
	return trans
}

// answerVotes answers every RequestVote arriving on trans with term, until
// the test ends or the transport closes.
func answerVotes(t *testing.T, trans raft.Transport, term uint64) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case rpc := <-trans.Consumer():
				switch rpc.Command.(type) {
				case *raft.RequestVoteRequest:
					rpc.Respond(&raft.RequestVoteResponse{Term: term, Granted: true}, nil)
				case *raft.RequestPreVoteRequest:
					rpc.Respond(&raft.RequestPreVoteResponse{Term: term, Granted: true}, nil)
				case *raft.AppendEntriesRequest:
					rpc.Respond(&raft.AppendEntriesResponse{Term: term, Success: true}, nil)
				default:
					rpc.Respond(nil, fmt.Errorf("unexpected rpc %T", rpc.Command))
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// vote sends a RequestVote from trans to target and returns the term of
// the answer.
func vote(trans raft.Transport, target raft.ServerAddress) (uint64, error) {
	var resp raft.RequestVoteResponse
	err := trans.RequestVote("", target, &raft.RequestVoteRequest{Term: 1}, &resp)
	return resp.Term, err
}

func TestMuxRoutesGroups(t *testing.T) {
	a, b := startMux(t, nil), startMux(t, nil)
	groups := []string{"meta", "orders/0", "orders/1"}
	from := map[string]NetTransport{}
	for i, g := range groups {
		from[g] = muxTransport(t, a, g)
		answerVotes(t, muxTransport(t, b, g), uint64(100+i))
	}
	if got := from["meta"].LocalAddr(); string(got) != a.Addr().String() {
		t.Fatalf("LocalAddr = %s, want the mux address %s", got, a.Addr())
	}
	for round := 0; round < 3; round++ { // later rounds reuse pooled connections
		for i, g := range groups {
			term, err := vote(from[g], raft.ServerAddress(b.Addr().String()))
			if err != nil || term != uint64(100+i) {
				t.Fatalf("round %d: vote in %s = %d, %v; want %d from that group", round, g, term, err, 100+i)
			}
		}
	}

	if _, err := a.Transport("meta", TransportConfig{}); !errors.Is(err, ErrGroupExists) {
		t.Errorf("second Transport(meta) = %v, want ErrGroupExists", err)
	}
	for _, id := range []string{"", strings.Repeat("g", 256)} {
		if _, err := a.Transport(id, TransportConfig{}); !errors.Is(err, ErrInvalidGroupID) {
			t.Errorf("Transport(%d bytes) = %v, want ErrInvalidGroupID", len(id), err)
		}
	}
	if _, err := a.Transport("x", TransportConfig{MaxPool: -1}); err == nil {
		t.Errorf("Transport with MaxPool -1 succeeded")
	}
	if err := a.Serve(); !errors.Is(err, ErrMuxServing) {
		t.Errorf("second Serve = %v, want ErrMuxServing", err)
	}
}

// TestMuxDialVia: a mux told to dial another address for a peer's
// address reaches the peer there (as through a proxy), and dials other
// addresses as they are.
func TestMuxDialVia(t *testing.T) {
	b := startMux(t, nil)
	answerVotes(t, muxTransport(t, b, "meta"), 7)
	// The peer's "real" address is one nothing listens on; the mux is
	// told to dial b's instead.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := ln.Addr().String()
	_ = ln.Close()
	a := startMux(t, func(m *Mux) { m.DialVia(map[string]string{nowhere: b.Addr().String()}) })
	from := muxTransport(t, a, "meta")
	if term, err := vote(from, raft.ServerAddress(nowhere)); err != nil || term != 7 {
		t.Fatalf("vote via the rewritten address = %d, %v; want 7", term, err)
	}
	if term, err := vote(from, raft.ServerAddress(b.Addr().String())); err != nil || term != 7 {
		t.Fatalf("vote at an address not rewritten = %d, %v; want 7", term, err)
	}
}

// expectClosed waits for the mux to close c: a read must end in EOF or a
// reset, not in the client's own deadline.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [1]byte
	n, err := c.Read(buf[:])
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = %d bytes, %v; want the mux to close the connection", n, err)
	}
}

func TestMuxRejectsBadConnections(t *testing.T) {
	m := startMux(t, func(m *Mux) { m.headerTimeout = 200 * time.Millisecond })
	trans := muxTransport(t, m, "g")
	answerVotes(t, trans, 7)
	unknown, _ := encodeHeader("unknown")
	for _, tc := range []struct {
		name string
		send string
	}{
		{"garbage", "this is not a raft connection at all"},
		{"bad magic", "XLRG\x01\x01g"},
		{"bad version", "SLRG\x07\x01g"},
		{"empty id", "SLRG\x01\x00"},
		{"unknown group", string(unknown)},
		{"silent", ""},
		{"truncated id", "SLRG\x01\x09g"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", m.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
		})
	}
	// The mux still serves the group.
	if term, err := vote(trans, raft.ServerAddress(m.Addr().String())); err != nil || term != 7 {
		t.Fatalf("vote after bad clients = %d, %v", term, err)
	}
}

func TestMuxRemove(t *testing.T) {
	a, b := startMux(t, nil), startMux(t, nil)
	target := raft.ServerAddress(b.Addr().String())
	fromA := map[string]NetTransport{}
	for i, g := range []string{"one", "two", "three"} {
		fromA[g] = muxTransport(t, a, g)
		answerVotes(t, muxTransport(t, b, g), uint64(i+1))
		if _, err := vote(fromA[g], target); err != nil {
			t.Fatalf("vote in %s: %v", g, err)
		}
	}

	if err := b.Remove("one"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := b.Remove("one"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("second Remove = %v, want ErrUnknownGroup", err)
	}
	if _, err := vote(fromA["one"], target); err == nil {
		t.Fatalf("vote to a removed group succeeded")
	}
	for i, g := range []string{"two", "three"} {
		if term, err := vote(fromA[g], target); err != nil || term != uint64(i+2) {
			t.Fatalf("vote in %s after removing another group = %d, %v", g, term, err)
		}
	}

	// The id can be registered again; closing a transport (as
	// raft.Shutdown does) unregisters it too.
	answerVotes(t, muxTransport(t, b, "one"), 11)
	waitFor(t, 5*time.Second, func() bool {
		term, err := vote(fromA["one"], target)
		return err == nil && term == 11
	})
	four := muxTransport(t, a, "four")
	if err := four.Close(); err != nil {
		t.Fatal(err)
	}
	muxTransport(t, a, "four")
}

func TestMuxCloseStopsEverything(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, nil)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	target := raft.ServerAddress(m.Addr().String())
	var stops []func()
	for i, g := range []string{"a", "b"} {
		trans := muxTransport(t, m, g)
		// A responder that stops when the transport closes, not at test end.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case rpc := <-trans.Consumer():
					rpc.Respond(&raft.RequestVoteResponse{Term: uint64(i)}, nil)
				case <-stop:
					return
				}
			}
		}()
		stops = append(stops, func() { close(stop); wg.Wait() })
		if _, err := vote(trans, target); err != nil { // leaves pooled and served connections open
			t.Fatal(err)
		}
	}
	silent, err := net.Dial("tcp", ln.Addr().String()) // waits on the 5 s header deadline
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitFor(t, 5*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.mu.pending) == 1
	})

	start := time.Now()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s: it waited for the header deadline", d)
	}
	if err := <-served; !errors.Is(err, ErrMuxClosed) {
		t.Errorf("Serve = %v, want ErrMuxClosed", err)
	}
	expectClosed(t, silent)
	if err := m.Serve(); !errors.Is(err, ErrMuxClosed) {
		t.Errorf("Serve after Close = %v, want ErrMuxClosed", err)
	}
	if _, err := m.Transport("c", TransportConfig{}); !errors.Is(err, ErrMuxClosed) {
		t.Errorf("Transport after Close = %v, want ErrMuxClosed", err)
	}
	if err := m.Remove("a"); !errors.Is(err, ErrMuxClosed) {
		t.Errorf("Remove after Close = %v, want ErrMuxClosed", err)
	}
	for _, stop := range stops {
		stop()
	}
	goleak.VerifyNone(t, ignore)
}

func TestMuxRaftGroups(t *testing.T) {
	const nodes = 3
	muxes := make([]*Mux, nodes)
	for i := range muxes {
		muxes[i] = startMux(t, nil)
	}
	groups := []string{"alpha", "beta"}
	clusters := make([]*raftCluster, len(groups))
	for g, group := range groups {
		clusters[g] = &raftCluster{}
		for i, m := range muxes {
			clusters[g].add(t, fmt.Sprintf("n%d", i), muxTransport(t, m, group), nil)
		}
		clusters[g].bootstrap(t)
	}
	// Both groups run at once over the same three ports; alpha gets 20
	// commands and beta 30, interleaved.
	for i := range 30 {
		for g, c := range clusters {
			if g == 0 && i >= 20 {
				continue
			}
			c.applyN(t, nil, fmt.Sprintf("%s-%d", groups[g], i), 1)
		}
	}
	waitConverged(t, clusters[0].nodes, 20)
	waitConverged(t, clusters[1].nodes, 30)
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := newHCLogger(base, "raft-net").Named("pool").With("group", "g")
	if l.IsDebug() || !l.IsInfo() || !l.IsError() {
		t.Errorf("levels: debug %v info %v error %v; want the slog handler's (info)", l.IsDebug(), l.IsInfo(), l.IsError())
	}
	if l.Name() != "raft-net.pool" {
		t.Errorf("Name = %q", l.Name())
	}
	l.Debug("hidden")
	l.Warn("visible", "peer", "n1")
	out := buf.String()
	for _, want := range []string{"level=WARN", "msg=visible", "logger=raft-net.pool", "group=g", "peer=n1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("debug line logged at info level: %q", out)
	}
	if _, ok := newHCLogger(nil, "x").(*hclogAdapter); ok {
		t.Errorf("nil slog logger gave an adapter, want hclog's null logger")
	}
}

// The rest of this file is a small raft cluster for the mux and faultnet
// tests: in-memory stores and a counting state machine.

// countingFSM applies each distinct command once (a retried command is a
// no-op, as with the idempotent producer), counts them and chains a hash
// over them, so that equal (count, sum) means the same commands in the same
// order.
type countingFSM struct {
	mu sync.Mutex
	st countingState
}

type countingState struct {
	Count uint64
	Sum   uint64
	Seen  map[string]bool
}

func (f *countingFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.Seen[string(l.Data)] {
		return f.st.Count
	}
	if f.st.Seen == nil {
		f.st.Seen = map[string]bool{}
	}
	f.st.Seen[string(l.Data)] = true
	h := fnv.New64a()
	_ = binary.Write(h, binary.BigEndian, f.st.Sum)
	h.Write(l.Data)
	f.st.Count++
	f.st.Sum = h.Sum64()
	return f.st.Count
}

func (f *countingFSM) state() (count, sum uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Count, f.st.Sum
}

func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.st)
	return countingSnapshot(b), err
}

func (f *countingFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st countingState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
	return nil
}

type countingSnapshot []byte

func (s countingSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countingSnapshot) Release() {}

type raftNode struct {
	id    string
	trans raft.Transport
	raft  *raft.Raft
	fsm   *countingFSM
}

type raftCluster struct{ nodes []*raftNode }

// fastRaftConfig has short timers, still loose enough for a loaded machine
// running the race detector.
func fastRaftConfig(id string) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 75 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.Logger = hclog.NewNullLogger()
	return c
}

// add starts a raft node on trans, shut down when the test ends.
func (c *raftCluster) add(t *testing.T, id string, trans raft.Transport, configure func(*raft.Config)) *raftNode {
	t.Helper()
	cfg := fastRaftConfig(id)
	if configure != nil {
		configure(cfg)
	}
	n := &raftNode{id: id, trans: trans, fsm: &countingFSM{}}
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(cfg, n.fsm, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatalf("NewRaft(%s): %v", id, err)
	}
	n.raft = r
	t.Cleanup(func() {
		if err := r.Shutdown().Error(); err != nil {
			t.Errorf("shutdown %s: %v", id, err)
		}
	})
	c.nodes = append(c.nodes, n)
	return n
}

func (c *raftCluster) bootstrap(t *testing.T) {
	t.Helper()
	var conf raft.Configuration
	for _, n := range c.nodes {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(n.id), Address: n.trans.LocalAddr()})
	}
	for _, n := range c.nodes {
		if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
			t.Fatalf("bootstrap %s: %v", n.id, err)
		}
	}
}

// waitLeader waits until exactly one node other than exclude leads and
// returns it.
func (c *raftCluster) waitLeader(t *testing.T, exclude *raftNode) *raftNode {
	t.Helper()
	var leader *raftNode
	waitFor(t, 10*time.Second, func() bool {
		leader = nil
		for _, n := range c.nodes {
			if n == exclude || n.raft.State() != raft.Leader {
				continue
			}
			if leader != nil {
				return false
			}
			leader = n
		}
		return leader != nil
	})
	return leader
}

// onLeader runs op on the leader (never on exclude) until it succeeds,
// moving to the new leader when leadership changes. op must be safe to
// repeat: commands are, since countingFSM ignores repeats.
func (c *raftCluster) onLeader(t *testing.T, exclude *raftNode, what string, op func(*raftNode) error) {
	t.Helper()
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if last = op(c.waitLeader(t, exclude)); last == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, last)
}

// applyN commits the commands prefix-0 .. prefix-(n-1).
func (c *raftCluster) applyN(t *testing.T, exclude *raftNode, prefix string, n int) {
	t.Helper()
	for i := range n {
		cmd := fmt.Sprintf("%s-%d", prefix, i)
		c.onLeader(t, exclude, "apply "+cmd, func(l *raftNode) error {
			return l.raft.Apply([]byte(cmd), time.Second).Error()
		})
	}
}

// waitConverged waits until every node of nodes has applied exactly count
// commands, the same ones.
func waitConverged(t *testing.T, nodes []*raftNode, count uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool {
		c0, s0 := nodes[0].fsm.state()
		for _, n := range nodes {
			if c, s := n.fsm.state(); c != count || c != c0 || s != s0 {
				return false
			}
		}
		return true
	})
}
