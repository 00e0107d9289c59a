package rpc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	grpcmd "google.golang.org/grpc/metadata"

	"github.com/sluicedb/sluice/replication"
)

// Forwarding. A node forwards a request at most once: Produce carries its
// forwarded flag, the admin calls carry forwardedKey in their gRPC
// metadata, and a node never forwards a request so marked (it answers
// NOT_LEADER with its hint instead). So a request crosses at most two
// nodes even while the nodes disagree about who leads.
const forwardedKey = "sluice-forwarded"

// connectWait bounds how long a forward waits for a connection to the
// leader. Nothing has been sent while it waits, so giving up is a clean
// NOT_LEADER (with the hint) rather than an unknown outcome.
const connectWait = time.Second

// peers is a pool of gRPC connections to other nodes' client ports, one
// per address, made on first use and closed by close.
type peers struct {
	opts     []grpc.DialOption
	dialAddr func(string) string // the address dialled for a peer's address (Config.DialVia)
	mu       struct {
		sync.Mutex
		conns  map[string]*grpc.ClientConn // Protected by mu.
		closed bool
	}
}

func newPeers(dialAddr func(string) string) *peers {
	p := &peers{dialAddr: dialAddr, opts: []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: connectWait,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
		// As the client: a peer that stops answering is found out by pings.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	}}
	p.mu.conns = map[string]*grpc.ClientConn{}
	return p
}

// conn returns the connection to addr, ready to send on: it waits up to
// connectWait (or ctx) for it to connect, and fails when it does not, in
// which case nothing was sent.
func (p *peers) conn(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil, ErrUnavailable
	}
	cc := p.mu.conns[addr]
	if cc == nil {
		var err error
		if cc, err = grpc.NewClient(p.dialAddr(addr), p.opts...); err != nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("rpc: connect to %s: %w", addr, err)
		}
		p.mu.conns[addr] = cc
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	cc.Connect()
	for {
		st := cc.GetState()
		if st == connectivity.Ready {
			return cc, nil
		}
		if st == connectivity.Shutdown || !cc.WaitForStateChange(ctx, st) {
			return nil, fmt.Errorf("rpc: no connection to %s (%s)", addr, st)
		}
	}
}

func (p *peers) close() {
	p.mu.Lock()
	conns := p.mu.conns
	p.mu.conns, p.mu.closed = nil, true
	p.mu.Unlock()
	for _, cc := range conns {
		_ = cc.Close()
	}
}

// isForwarded reports whether the request in ctx was forwarded by
// another node.
func isForwarded(ctx context.Context) bool {
	md, _ := grpcmd.FromIncomingContext(ctx)
	return len(md.Get(forwardedKey)) > 0
}

// notLeader is the error of a node that does not lead what a request
// needs (a partition, or the metadata group) and will not forward it;
// leaderID may be "" (NO_LEADER). what names the thing led.
func (s *service) notLeader(what, leaderID string) error {
	if leaderID == s.node.ID() {
		// Our own raft replica names us, but we do not lead (yet, or any
		// more): an election is on.
		leaderID = ""
	}
	return fmt.Errorf("%s: %w", what, &replication.NotLeaderError{LeaderID: leaderID, LeaderAddr: s.clientAddr(leaderID)})
}

// forward sends a request once to the leader leaderID and returns its
// answer: its reply, or its error status as it is (it carries the
// leader's own hint). It answers NOT_LEADER/NO_LEADER with the hint when
// the request was already forwarded, no leader is known, or the leader
// cannot be reached (nothing sent). A failure once sent is
// OUTCOME_UNKNOWN: the leader may have done it.
func forward[T any](s *service, ctx context.Context, what, leaderID string,
	call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	var zero T
	addr := s.clientAddr(leaderID)
	if isForwarded(ctx) || leaderID == "" || leaderID == s.node.ID() || addr == "" {
		return zero, s.notLeader(what, leaderID)
	}
	cc, err := s.peers.conn(ctx, addr)
	if err != nil {
		s.log.Debug("rpc: cannot forward", "to", leaderID, "addr", addr, "err", err)
		return zero, s.notLeader(what, leaderID)
	}
	resp, err := call(grpcmd.AppendToOutgoingContext(ctx, forwardedKey, s.node.ID()), cc)
	if err == nil {
		return resp, nil
	}
	if hasDetail(err) {
		return zero, err
	}
	if ctx.Err() != nil {
		return zero, fmt.Errorf("%w: forwarded to %s at %s: %w", replication.ErrOutcomeUnknown, leaderID, addr, ctx.Err())
	}
	return zero, fmt.Errorf("%w: forwarded to %s at %s: %w", replication.ErrOutcomeUnknown, leaderID, addr, err)
}
