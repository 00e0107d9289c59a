package netproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

var kinds = []string{"client", "raft"}

// startMesh starts an echo server per node and port kind, and a mesh in
// front of them.
func startMesh(t *testing.T, nodes ...string) (*Mesh, map[string]map[string]*testServer) {
	t.Helper()
	targets := make(map[string]map[string]string)
	servers := make(map[string]map[string]*testServer)
	for _, n := range nodes {
		targets[n] = make(map[string]string)
		servers[n] = make(map[string]*testServer)
		for _, k := range kinds {
			s := startServer(t)
			servers[n][k] = s
			targets[n][k] = s.addr()
		}
	}
	m, err := StartMesh(MeshConfig{Targets: targets, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m, servers
}

// reachable reports whether from reaches to's kind port through the mesh:
// an echo comes back, or the connection is reset. Partitions reset at
// once, so there is no timeout to wait out; through a blackholed link, the
// probe's bytes must be counted as dropped instead.
func reachable(t *testing.T, m *Mesh, from, to, kind string) bool {
	t.Helper()
	addr, err := m.Addr(from, to, kind)
	if err != nil {
		t.Fatal(err)
	}
	var blackholed *Proxy
	if p, err := m.Proxy(Link{From: from, To: to, Kind: kind}); err == nil && p.State().Fault == FaultBlackhole {
		blackholed = p
	}
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return false // reset before the dial returned
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	var dropped int64
	if blackholed != nil {
		dropped = blackholed.State().DroppedToTarget
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	if blackholed != nil {
		waitFor(t, "the probe is dropped", func() bool { return blackholed.State().DroppedToTarget == dropped+4 })
		return false
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s->%s/%s: neither an echo nor a reset within %v", from, to, kind, ioTimeout)
		}
		return false
	}
	return string(got) == "ping"
}

// checkReach fails the test unless, for every ordered pair of distinct
// nodes and every port kind, reachable agrees with want.
func checkReach(t *testing.T, m *Mesh, want func(from, to string) bool) {
	t.Helper()
	for _, from := range m.Nodes() {
		for _, to := range m.Nodes() {
			if from == to {
				continue
			}
			for _, k := range kinds {
				if got := reachable(t, m, from, to, k); got != want(from, to) {
					t.Errorf("%s->%s/%s reachable = %v, want %v (faults: %s)", from, to, k, got, want(from, to), m)
				}
			}
		}
	}
}

func all(from, to string) bool { return true }

func TestMeshIsolate(t *testing.T) {
	t.Parallel()
	m, _ := startMesh(t, "n1", "n2", "n3")
	checkReach(t, m, all)
	if err := m.Isolate("n2"); err != nil {
		t.Fatal(err)
	}
	checkReach(t, m, func(from, to string) bool { return from != "n2" && to != "n2" })
	if got, want := m.String(), "n1->n2: partitioned; n2->n1: partitioned; n2->n3: partitioned; n3->n2: partitioned"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := m.HealAll(); err != nil {
		t.Fatal(err)
	}
	checkReach(t, m, all)
	if got := m.String(); got != "healthy" {
		t.Errorf("after HealAll, String() = %q", got)
	}
}

func TestMeshSplit(t *testing.T) {
	t.Parallel()
	m, _ := startMesh(t, "n1", "n2", "n3", "n4", "n5")
	a, b := []string{"n1", "n2"}, []string{"n3", "n4"}
	if err := m.Split(a, b); err != nil {
		t.Fatal(err)
	}
	side := func(n string) int {
		switch {
		case slices.Contains(a, n):
			return 1
		case slices.Contains(b, n):
			return 2
		}
		return 0 // n5, in neither group, reaches both
	}
	checkReach(t, m, func(from, to string) bool {
		return side(from) == 0 || side(to) == 0 || side(from) == side(to)
	})
	if err := m.HealAll(); err != nil {
		t.Fatal(err)
	}
	checkReach(t, m, all)
}

func TestMeshPartitionPair(t *testing.T) {
	t.Parallel()
	m, _ := startMesh(t, "n1", "n2", "n3")
	if err := m.PartitionPair("n1", "n3"); err != nil {
		t.Fatal(err)
	}
	checkReach(t, m, func(from, to string) bool {
		return !(from == "n1" && to == "n3") && !(from == "n3" && to == "n1")
	})
	if got, want := m.String(), "n1->n3: partitioned; n3->n1: partitioned"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestMeshOneWay blackholes one direction of a pair and delays one port
// kind of another link, and checks reachability and the description.
func TestMeshOneWay(t *testing.T) {
	t.Parallel()
	m, servers := startMesh(t, "n1", "n2", "n3")
	if err := m.SetFault(FaultBlackhole, []string{"n1"}, []string{"n2"}); err != nil {
		t.Fatal(err)
	}
	raft, err := m.Proxy(Link{From: "n1", To: "n3", Kind: "raft"})
	if err != nil {
		t.Fatal(err)
	}
	if err := raft.Delay(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), "n1->n2: blackholed; n1->n3/raft: delay 1ms"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	// n2 still reaches n1, and n1 reaches n3 (slowly on raft).
	checkReach(t, m, func(from, to string) bool { return from != "n1" || to != "n2" })
	for _, k := range kinds {
		if n := servers["n2"][k].accepted.Load(); n != 1 { // n3's probe; n1's was held
			t.Errorf("n2 %s server accepted %d connections, want 1", k, n)
		}
	}
	if err := m.HealAll(); err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "healthy" {
		t.Errorf("after HealAll, String() = %q", got)
	}
	checkReach(t, m, all)
}

// TestMeshAddrs checks the addresses a node is given: its own ports
// directly, its peers' through distinct proxies.
func TestMeshAddrs(t *testing.T) {
	t.Parallel()
	m, servers := startMesh(t, "n1", "n2", "n3")
	seen := make(map[string]string)
	for _, from := range m.Nodes() {
		addrs, err := m.Addrs(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range m.Nodes() {
			for _, k := range kinds {
				a := addrs[to][k]
				if from == to {
					if a != servers[to][k].addr() {
						t.Errorf("Addrs(%s)[%s][%s] = %s, want the port itself %s", from, to, k, a, servers[to][k].addr())
					}
					continue
				}
				link := fmt.Sprintf("%s->%s/%s", from, to, k)
				if other, ok := seen[a]; ok {
					t.Errorf("%s and %s share proxy address %s", link, other, a)
				}
				seen[a] = link
				p, err := m.Proxy(Link{From: from, To: to, Kind: k})
				if err != nil || p.Addr() != a || p.Name() != link || p.State().Target != servers[to][k].addr() {
					t.Errorf("%s: proxy %v (%v), address %s", link, p.State(), err, a)
				}
			}
		}
	}
	if len(seen) != 12 || len(m.Links()) != 12 {
		t.Errorf("%d proxy addresses, %d links; want 12", len(seen), len(m.Links()))
	}
}

func TestMeshInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []MeshConfig{
		{},
		{Targets: map[string]map[string]string{"": {"raft": "127.0.0.1:1"}}},
		{Targets: map[string]map[string]string{"n1": {}}},
		{Targets: map[string]map[string]string{"n1": {"": "127.0.0.1:1"}}},
		{Targets: map[string]map[string]string{"n1": {"raft": "nowhere"}}},
		{Targets: map[string]map[string]string{"n1": {"raft": "127.0.0.1:1"}}, DialTimeout: -1},
	} {
		m, err := StartMesh(cfg)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("StartMesh(%+v) = %v, want ErrInvalid", cfg, err)
		}
		if m != nil {
			_ = m.Close()
		}
	}

	m, _ := startMesh(t, "n1", "n2")
	_, addrErr := m.Addr("n1", "n9", "raft")
	_, kindErr := m.Addr("n1", "n2", "gossip")
	_, linkErr := m.Proxy(Link{From: "n1", To: "n1", Kind: "raft"})
	_, addrsErr := m.Addrs("n9")
	for name, c := range map[string]struct{ got, want error }{
		"Isolate(n9)":           {m.Isolate("n9"), ErrUnknownNode},
		"PartitionPair(n1, n9)": {m.PartitionPair("n1", "n9"), ErrUnknownNode},
		"PartitionPair(n1, n1)": {m.PartitionPair("n1", "n1"), ErrInvalid},
		"Split overlapping":     {m.Split([]string{"n1"}, []string{"n1", "n2"}), ErrInvalid},
		"Split empty":           {m.Split(nil, []string{"n2"}), ErrInvalid},
		"Split unknown":         {m.Split([]string{"n1"}, []string{"n9"}), ErrUnknownNode},
		"SetFault(9)":           {m.SetFault(Fault(9), []string{"n1"}, []string{"n2"}), ErrInvalid},
		"SetDelay(-1)":          {m.SetDelay(-1, 0, []string{"n1"}, []string{"n2"}), ErrInvalid},
		"Addr(n9)":              {addrErr, ErrUnknownNode},
		"Addr(gossip)":          {kindErr, ErrUnknownNode},
		"Addrs(n9)":             {addrsErr, ErrUnknownNode},
		"Proxy(self link)":      {linkErr, ErrUnknownNode},
	} {
		if !errors.Is(c.got, c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if got := m.String(); got != "healthy" {
		t.Errorf("after refused calls, String() = %q", got)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	_, addrErr = m.Addr("n1", "n2", "raft")
	for name, err := range map[string]error{
		"Isolate":  m.Isolate("n1"),
		"HealAll":  m.HealAll(),
		"SetFault": m.SetFault(FaultPartition, []string{"n1"}, []string{"n2"}),
		"Addr":     addrErr,
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
