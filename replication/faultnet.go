package replication

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RPCKind names a raft RPC.
type RPCKind uint8

// The raft RPCs a FaultNet carries.
const (
	RPCAppendEntries RPCKind = iota + 1
	RPCRequestVote
	RPCRequestPreVote
	RPCInstallSnapshot
	RPCTimeoutNow
)

func (k RPCKind) String() string {
	switch k {
	case RPCAppendEntries:
		return "AppendEntries"
	case RPCRequestVote:
		return "RequestVote"
	case RPCRequestPreVote:
		return "RequestPreVote"
	case RPCInstallSnapshot:
		return "InstallSnapshot"
	case RPCTimeoutNow:
		return "TimeoutNow"
	default:
		return fmt.Sprintf("RPCKind(%d)", uint8(k))
	}
}

// RPCInfo describes one RPC for a FaultNet hook.
type RPCInfo struct {
	Kind     RPCKind
	Group    string
	From, To string // node names
	// Entries is the number of log entries an AppendEntries carries (0 for
	// heartbeats and probes); 0 for other kinds.
	Entries int
}

// FaultNet connects in-memory raft transports of many nodes and groups and
// injects faults: partitions, dropped and delayed RPCs, per-RPC hooks and
// crashed nodes. Faults are decided at the sender, before the RPC is
// delivered (a drop may also lose the response after delivery), and surface
// as an error from the RPC, which raft treats as a failed RPC and retries.
//
// Drops and delays come from an RNG seeded by NewFaultNet; RPC order
// depends on the scheduler, so runs are repeatable in distribution, not
// byte for byte.
//
// FaultNet starts no goroutines: a delay runs in the sending goroutine and
// ends early when the sending transport closes.
//
// Lock order: FaultNet.mu, then the raft.InmemTransport locks.
type FaultNet struct {
	mu struct {
		sync.Mutex
		rng      *rand.Rand
		eps      map[raft.ServerAddress]*faultTransport // open transports
		sides    map[string]int                         // node -> partition side; absent = side 0
		nextSide int
		drop     float64
		delay    time.Duration
		hook     func(RPCInfo) error
	}
}

// NewFaultNet returns a healed network without faults whose random
// decisions derive from seed.
func NewFaultNet(seed uint64) *FaultNet {
	n := &FaultNet{}
	n.mu.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	n.mu.eps = make(map[raft.ServerAddress]*faultTransport)
	n.mu.sides = make(map[string]int)
	n.mu.nextSide = 1
	return n
}

// Transport returns the transport of node for group, creating it if node
// has none open for group. Its address is node+"/"+group (node names must
// not contain "/"). It reaches every other node registered for group, now
// or later. It implements raft.WithPreVote and raft.WithClose; closing it
// (raft.Shutdown does) is Remove. It does not pipeline AppendEntries
// (raft falls back to plain RPCs, so every one goes through the faults).
func (n *FaultNet) Transport(group, node string) raft.Transport {
	addr := raft.ServerAddress(node + "/" + group)
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.mu.eps[addr]; ok {
		return t
	}
	_, inner := raft.NewInmemTransport(addr)
	t := &faultTransport{net: n, group: group, node: node, addr: addr, inner: inner, done: make(chan struct{})}
	for oaddr, o := range n.mu.eps {
		if o.group == group {
			o.inner.Connect(addr, inner)
			inner.Connect(oaddr, o.inner)
		}
	}
	n.mu.eps[addr] = t
	return t
}

// Remove crashes node in group: its transport stops (its RPCs fail and
// delays end) and no other node reaches it. A later Transport call for
// the same node and group makes a fresh transport, as a restart would.
func (n *FaultNet) Remove(group, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.mu.eps[raft.ServerAddress(node+"/"+group)]; ok {
		n.removeLocked(t)
	}
}

func (n *FaultNet) removeLocked(t *faultTransport) {
	delete(n.mu.eps, t.addr)
	for _, o := range n.mu.eps {
		if o.group == t.group {
			o.inner.Disconnect(t.addr)
		}
	}
	t.closeOnce.Do(func() { close(t.done) })
	_ = t.inner.Close()
}

// Partition splits the network in two, in every group: nodes in side reach
// only each other, and the other nodes only each other. It replaces any
// earlier partition or isolation.
func (n *FaultNet) Partition(side ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.sides)
	for _, node := range side {
		n.mu.sides[node] = 1
	}
	n.mu.nextSide = 2
}

// Isolate cuts node off from every other node, in every group, on top of
// any partition already in place.
func (n *FaultNet) Isolate(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.sides[node] = n.mu.nextSide
	n.mu.nextSide++
}

// Heal undoes every partition and isolation. Drops, delays and the hook
// stay.
func (n *FaultNet) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.sides)
	n.mu.nextSide = 1
}

// SetDrop makes each RPC fail with probability p (clamped to [0, 1]); half
// of the drops lose the request, half deliver it and lose the response.
func (n *FaultNet) SetDrop(p float64) {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.drop = min(p, 1)
}

// SetDelay delays each RPC by a random duration in [0, maxDelay); zero turns
// delays off.
func (n *FaultNet) SetDelay(maxDelay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.delay = maxDelay
}

// SetHook sets a function called, without FaultNet's lock held, before
// every RPC between registered nodes (before partitions, drops and delays
// apply). A non-nil error fails the RPC with that error wrapped. The hook
// runs concurrently from raft's goroutines and may call FaultNet's
// methods. nil removes it.
func (n *FaultNet) SetHook(h func(rpc RPCInfo) error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.hook = h
}

// fault is what happens to one RPC.
type fault struct {
	unreachable  bool
	dropRequest  bool
	dropResponse bool
	delay        time.Duration
}

// route resolves the RPC's nodes and returns the hook to call.
func (n *FaultNet) route(t *faultTransport, kind RPCKind, target raft.ServerAddress) (RPCInfo, func(RPCInfo) error, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.eps[t.addr] != t {
		return RPCInfo{}, nil, fmt.Errorf("replication: faultnet %s: %w", t.addr, raft.ErrTransportShutdown)
	}
	to, ok := n.mu.eps[target]
	if !ok || to.group != t.group {
		return RPCInfo{}, nil, fmt.Errorf("%w: %s -> %s: not registered", ErrUnreachable, t.addr, target)
	}
	return RPCInfo{Kind: kind, Group: t.group, From: t.node, To: to.node}, n.mu.hook, nil
}

// roll decides the faults of one RPC.
func (n *FaultNet) roll(info RPCInfo) fault {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := fault{unreachable: !n.reachableLocked(info)}
	if f.unreachable {
		return f
	}
	if n.mu.drop > 0 && n.mu.rng.Float64() < n.mu.drop {
		if n.mu.rng.IntN(2) == 0 {
			f.dropRequest = true
		} else {
			f.dropResponse = true
		}
	}
	if n.mu.delay > 0 {
		f.delay = time.Duration(n.mu.rng.Int64N(int64(n.mu.delay)))
	}
	return f
}

func (n *FaultNet) reachable(info RPCInfo) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reachableLocked(info)
}

func (n *FaultNet) reachableLocked(info RPCInfo) bool {
	_, ok := n.mu.eps[raft.ServerAddress(info.To+"/"+info.Group)]
	return ok && n.mu.sides[info.From] == n.mu.sides[info.To]
}

// faultTransport is one node's transport in one group: a raft.InmemTransport
// whose outgoing RPCs pass through the FaultNet's faults first.
type faultTransport struct {
	net         *FaultNet
	group, node string
	addr        raft.ServerAddress
	inner       *raft.InmemTransport
	done        chan struct{} // closed when removed or closed
	closeOnce   sync.Once
}

var (
	_ raft.Transport   = (*faultTransport)(nil)
	_ raft.WithPreVote = (*faultTransport)(nil)
	_ raft.WithClose   = (*faultTransport)(nil)
)

// call runs rpc after applying the faults of one RPC of kind to target.
func (t *faultTransport) call(kind RPCKind, entries int, target raft.ServerAddress, rpc func() error) error {
	info, hook, err := t.net.route(t, kind, target)
	if err != nil {
		return err
	}
	info.Entries = entries
	if hook != nil {
		if err := hook(info); err != nil {
			return fmt.Errorf("replication: faultnet %s %s -> %s: %w", kind, info.From, info.To, err)
		}
	}
	f := t.net.roll(info)
	if f.delay > 0 && !f.unreachable {
		timer := time.NewTimer(f.delay)
		select {
		case <-timer.C:
		case <-t.done:
			timer.Stop()
			return fmt.Errorf("replication: faultnet %s: %w", t.addr, raft.ErrTransportShutdown)
		}
		f.unreachable = !t.net.reachable(info) // partitioned while in flight
	}
	switch {
	case f.unreachable:
		return fmt.Errorf("%w: %s %s -> %s in group %s", ErrUnreachable, kind, info.From, info.To, info.Group)
	case f.dropRequest:
		return fmt.Errorf("%w: %s %s -> %s in group %s: request lost", ErrDropped, kind, info.From, info.To, info.Group)
	}
	if err := rpc(); err != nil {
		return err
	}
	if f.dropResponse {
		return fmt.Errorf("%w: %s %s -> %s in group %s: response lost", ErrDropped, kind, info.From, info.To, info.Group)
	}
	return nil
}

func (t *faultTransport) Consumer() <-chan raft.RPC          { return t.inner.Consumer() }
func (t *faultTransport) LocalAddr() raft.ServerAddress      { return t.addr }
func (t *faultTransport) SetHeartbeatHandler(func(raft.RPC)) {}

// AppendEntriesPipeline is not supported, so that raft sends every
// AppendEntries through AppendEntries and its faults.
func (t *faultTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t *faultTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return t.call(RPCAppendEntries, len(args.Entries), target, func() error {
		return t.inner.AppendEntries(id, target, args, resp)
	})
}

func (t *faultTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.call(RPCRequestVote, 0, target, func() error {
		return t.inner.RequestVote(id, target, args, resp)
	})
}

func (t *faultTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.call(RPCRequestPreVote, 0, target, func() error {
		return t.inner.RequestPreVote(id, target, args, resp)
	})
}

func (t *faultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	return t.call(RPCInstallSnapshot, 0, target, func() error {
		return t.inner.InstallSnapshot(id, target, args, resp, data)
	})
}

func (t *faultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.call(RPCTimeoutNow, 0, target, func() error {
		return t.inner.TimeoutNow(id, target, args, resp)
	})
}

func (t *faultTransport) EncodePeer(id raft.ServerID, addr raft.ServerAddress) []byte {
	return t.inner.EncodePeer(id, addr)
}

func (t *faultTransport) DecodePeer(b []byte) raft.ServerAddress { return t.inner.DecodePeer(b) }

// Close implements raft.WithClose: the node leaves the network, as with
// FaultNet.Remove. Idempotent.
func (t *faultTransport) Close() error {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.eps[t.addr] == t {
		n.removeLocked(t)
	}
	return nil
}
