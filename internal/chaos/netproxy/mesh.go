package netproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// MeshConfig describes a Mesh.
type MeshConfig struct {
	// Targets maps each node id to its real addresses by port kind:
	// Targets["n2"]["raft"] is where n2's raft port listens. Required: at
	// least one node, each with at least one kind (kinds may differ between
	// nodes). Targets are dialed per connection, so the nodes need not be
	// up yet.
	Targets map[string]map[string]string
	// Host is the host every proxy listens on, on a free port (default
	// 127.0.0.1).
	Host string
	// DialTimeout is every proxy's Config.DialTimeout.
	DialTimeout time.Duration
	// Seed seeds the proxies' jitter (each gets its own stream from it).
	Seed uint64
	// Logger receives the mesh's fault changes at info level and its
	// proxies' debug logs; nil discards them.
	Logger *slog.Logger
}

// Link names one proxy of a Mesh: it carries the connections From opens to
// To's Kind port.
type Link struct{ From, To, Kind string }

func (l Link) String() string { return l.From + "->" + l.To + "/" + l.Kind }

// Mesh is a Proxy per directed pair of nodes and per port kind of the
// target node, so that node A reaches node B's ports only through the
// links A->B. Faults on a Mesh are applied link by link, so a multi-link
// fault (Isolate, Split) forms over microseconds, as a real one does. Its
// methods are safe for concurrent use; concurrent faults on the same links
// leave whichever was applied last.
type Mesh struct {
	nodes   []string                     // sorted
	targets map[string]map[string]string // the config's, copied
	links   map[Link]*Proxy
	order   []Link // every link, sorted by From, To, Kind
	logger  *slog.Logger
	closed  atomic.Bool
}

// StartMesh starts a proxy for every link of cfg. It returns an error
// wrapping ErrInvalid for a bad config, or a listener's error (after
// closing the proxies started already).
func StartMesh(cfg MeshConfig) (*Mesh, error) {
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%w: mesh without nodes", ErrInvalid)
	}
	if cfg.DialTimeout < 0 {
		return nil, fmt.Errorf("%w: negative dial timeout %s", ErrInvalid, cfg.DialTimeout)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	m := &Mesh{targets: make(map[string]map[string]string), links: make(map[Link]*Proxy), logger: cfg.Logger}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	for node, kinds := range cfg.Targets {
		if node == "" {
			return nil, fmt.Errorf("%w: empty node id", ErrInvalid)
		}
		if len(kinds) == 0 {
			return nil, fmt.Errorf("%w: node %q has no ports", ErrInvalid, node)
		}
		for kind, addr := range kinds {
			if kind == "" {
				return nil, fmt.Errorf("%w: node %q: empty port kind", ErrInvalid, node)
			}
			if err := checkAddr(node+" "+kind, addr); err != nil {
				return nil, err
			}
		}
		m.targets[node] = maps.Clone(kinds)
	}
	m.nodes = slices.Sorted(maps.Keys(m.targets))
	for _, from := range m.nodes {
		for _, to := range m.nodes {
			if from == to {
				continue
			}
			for _, kind := range slices.Sorted(maps.Keys(m.targets[to])) {
				m.order = append(m.order, Link{From: from, To: to, Kind: kind})
			}
		}
	}
	for i, l := range m.order {
		p, err := Start(Config{
			Target:      m.targets[l.To][l.Kind],
			Listen:      net.JoinHostPort(host, "0"),
			Name:        l.String(),
			DialTimeout: cfg.DialTimeout,
			Seed:        cfg.Seed + uint64(i),
			Logger:      cfg.Logger,
		})
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		m.links[l] = p
	}
	return m, nil
}

// Nodes returns the node ids, sorted.
func (m *Mesh) Nodes() []string { return slices.Clone(m.nodes) }

// Links returns every link, sorted by From, To and Kind.
func (m *Mesh) Links() []Link { return slices.Clone(m.order) }

// Proxy returns the proxy of link l, for what the Mesh has no method for:
// a fault on one port kind only, its State, or SetTarget for a node
// restarted on another port. An unknown link wraps ErrUnknownNode.
func (m *Mesh) Proxy(l Link) (*Proxy, error) {
	p, ok := m.links[l]
	if !ok {
		return nil, fmt.Errorf("%w: no link %s", ErrUnknownNode, l)
	}
	return p, nil
}

// Addr returns the address node from must dial to reach node to's kind
// port: the proxy of that link, or for from == to the port itself.
func (m *Mesh) Addr(from, to, kind string) (string, error) {
	if m.closed.Load() {
		return "", ErrClosed
	}
	if _, ok := m.targets[from]; !ok {
		return "", fmt.Errorf("%w: node %q", ErrUnknownNode, from)
	}
	target, ok := m.targets[to][kind]
	if !ok {
		return "", fmt.Errorf("%w: node %q port %q", ErrUnknownNode, to, kind)
	}
	if from == to {
		return target, nil
	}
	return m.links[Link{From: from, To: to, Kind: kind}].Addr(), nil
}

// Addrs returns, for every node (from included) and every port kind, the
// address node from must dial: Addrs("n1")["n2"]["raft"]. The maps are
// the caller's.
func (m *Mesh) Addrs(from string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(m.nodes))
	for _, to := range m.nodes {
		out[to] = make(map[string]string, len(m.targets[to]))
		for kind := range m.targets[to] {
			a, err := m.Addr(from, to, kind)
			if err != nil {
				return nil, err
			}
			out[to][kind] = a
		}
	}
	return out, nil
}

// SetFault sets fault f on every link from a node of from to a node of to
// (one way; every port kind). FaultNone heals those links.
func (m *Mesh) SetFault(f Fault, from, to []string) error {
	if !f.valid() {
		return fmt.Errorf("%w: %s", ErrInvalid, f)
	}
	return m.apply(fmt.Sprintf("set %s %v->%v", f, from, to), [][2][]string{{from, to}},
		func(p *Proxy) error { return p.SetFault(f) })
}

// SetDelay delays every link from a node of from to a node of to (one way;
// every port kind) by d plus a jitter in [0, jitter).
func (m *Mesh) SetDelay(d, jitter time.Duration, from, to []string) error {
	if d < 0 || jitter < 0 {
		return fmt.Errorf("%w: negative delay %s or jitter %s", ErrInvalid, d, jitter)
	}
	return m.apply(fmt.Sprintf("delay %s+<%s %v->%v", d, jitter, from, to), [][2][]string{{from, to}},
		func(p *Proxy) error { return p.DelayJitter(d, jitter) })
}

// Isolate partitions node from every other node, both ways.
func (m *Mesh) Isolate(node string) error {
	others := slices.DeleteFunc(slices.Clone(m.nodes), func(n string) bool { return n == node })
	one := []string{node}
	return m.apply("isolate "+node, [][2][]string{{one, others}, {others, one}},
		func(p *Proxy) error { return p.Partition() })
}

// PartitionPair partitions nodes a and b from each other, both ways.
func (m *Mesh) PartitionPair(a, b string) error {
	if a == b {
		return fmt.Errorf("%w: partition of node %q from itself", ErrInvalid, a)
	}
	as, bs := []string{a}, []string{b}
	return m.apply(fmt.Sprintf("partition %s|%s", a, b), [][2][]string{{as, bs}, {bs, as}},
		func(p *Proxy) error { return p.Partition() })
}

// Split partitions every node of groupA from every node of groupB, both
// ways; links within a group, and of nodes in neither, are left alone. The
// groups must be non-empty and disjoint.
func (m *Mesh) Split(groupA, groupB []string) error {
	if len(groupA) == 0 || len(groupB) == 0 {
		return fmt.Errorf("%w: split with an empty group %v|%v", ErrInvalid, groupA, groupB)
	}
	for _, n := range groupA {
		if slices.Contains(groupB, n) {
			return fmt.Errorf("%w: node %q in both groups of a split", ErrInvalid, n)
		}
	}
	return m.apply(fmt.Sprintf("split %v|%v", groupA, groupB), [][2][]string{{groupA, groupB}, {groupB, groupA}},
		func(p *Proxy) error { return p.Partition() })
}

// HealAll clears every fault of every link: partitions, blackholes and
// delays.
func (m *Mesh) HealAll() error {
	return m.apply("heal all", [][2][]string{{m.nodes, m.nodes}}, func(p *Proxy) error {
		return errors.Join(p.Heal(), p.DelayJitter(0, 0))
	})
}

// apply runs f on every link from a node of pair[0] to a node of pair[1],
// for each pair, after checking every node id.
func (m *Mesh) apply(what string, pairs [][2][]string, f func(*Proxy) error) error {
	if m.closed.Load() {
		return ErrClosed
	}
	for _, pr := range pairs {
		for _, group := range pr {
			for _, n := range group {
				if _, ok := m.targets[n]; !ok {
					return fmt.Errorf("%w: node %q", ErrUnknownNode, n)
				}
			}
		}
	}
	var errs []error
	for _, pr := range pairs {
		for _, l := range m.order {
			if slices.Contains(pr[0], l.From) && slices.Contains(pr[1], l.To) {
				errs = append(errs, f(m.links[l]))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		return err
	}
	if m.logger.Enabled(context.Background(), slog.LevelInfo) {
		m.logger.Info("netproxy: mesh", "op", what, "faults", m.String())
	}
	return nil
}

// String describes the faults in force, one entry per directed pair of
// nodes with any ("n1->n2: partitioned; n2->n1: partitioned"), naming the
// port kind when a pair's kinds differ ("n1->n2/raft: delay 50ms"); or
// "healthy". The text is sorted and stable, for logs and test output.
func (m *Mesh) String() string {
	var parts []string
	for i := 0; i < len(m.order); {
		// The links of one directed pair are adjacent in m.order.
		j := i
		for j < len(m.order) && m.order[j].From == m.order[i].From && m.order[j].To == m.order[i].To {
			j++
		}
		states := make([]State, j-i)
		same, healthy := true, true
		for k := i; k < j; k++ {
			states[k-i] = m.links[m.order[k]].State()
			same = same && states[k-i].Faults() == states[0].Faults()
			healthy = healthy && states[k-i].Healthy()
		}
		switch {
		case healthy:
		case same:
			parts = append(parts, m.order[i].From+"->"+m.order[i].To+": "+states[0].Faults())
		default:
			for k := i; k < j; k++ {
				if !states[k-i].Healthy() {
					parts = append(parts, m.order[k].String()+": "+states[k-i].Faults())
				}
			}
		}
		i = j
	}
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, "; ")
}

// Close closes every proxy and returns once all their goroutines have
// ended. Later calls return nil; other methods return ErrClosed.
func (m *Mesh) Close() error {
	m.closed.Store(true)
	var errs []error
	for _, l := range m.order {
		if p := m.links[l]; p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}
