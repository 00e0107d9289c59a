package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/internal/turns"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/server"
)

// defaultRequestTimeout bounds a request that comes without a deadline:
// proposals need one (it is raft's enqueue timeout).
const defaultRequestTimeout = 30 * time.Second

// service is the state behind the handlers: the node, the connections to
// other nodes, the leader cache, the producer-id block, the per-partition
// produce state and the metrics.
type service struct {
	node        *server.Node
	log         *slog.Logger
	reorderWait time.Duration
	pprof       bool // serve /debug/pprof on the HTTP port
	metrics     *metrics
	peers       *peers
	leaders     leaderCache
	pids        producerIDs
	reorder     reorderTracker
	noAcks      noAckQueues
	offsetBatch *turns.Batcher[offsetLane, *sluicev1.PartitionOffsetsRequest, []*sluicev1.PartitionOffset]
	engines     engines
	spread      atomic.Uint64 // picks the partitions of keyless records the server writes

	stop chan struct{} // closed by beginStop
	wg   sync.WaitGroup
	mu   struct {
		sync.Mutex
		stopping bool // Protected by mu: no goroutine starts once set.
	}
}

func newService(node *server.Node, lg *slog.Logger, reorderWait time.Duration) (*service, error) {
	m, err := newMetrics(node)
	if err != nil {
		return nil, err
	}
	s := &service{node: node, log: lg, reorderWait: reorderWait, stop: make(chan struct{}), metrics: m}
	s.peers = newPeers(node.DialAddr)
	s.leaders.mu.m = map[string]cachedLeader{}
	s.pids.sem = make(chan struct{}, 1)
	s.reorder.mu.producers = map[producerKey]*producerState{}
	s.noAcks.mu.queues = map[string]*noAckQueue{}
	s.offsetBatch = newOffsetBatcher()
	s.engines.m = map[engineKey]*engineEntry{}
	if err := m.reg.Register(&queueCollector{svc: s}); err != nil {
		return nil, fmt.Errorf("rpc: metrics: %w", err)
	}
	return s, nil
}

// api serves sluicev1.Sluice; internalAPI serves sluicev1.SluiceInternal.
type api struct {
	sluicev1.UnimplementedSluiceServer
	svc *service
}

type internalAPI struct {
	sluicev1.UnimplementedSluiceInternalServer
	svc *service
}

// goTracked runs fn on a goroutine that wait waits for, unless the server
// is stopping. It reports whether fn was started.
func (s *service) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopping {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

func (s *service) beginStop() {
	s.mu.Lock()
	s.mu.stopping = true
	s.mu.Unlock()
	close(s.stop)
}

func (s *service) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// wait waits for the goroutines of goTracked.
func (s *service) wait() { s.wg.Wait() }

// stopCtx is a context that ends when its channel is closed: it lets a
// request's context also end when the server stops, without storing a
// context anywhere.
type stopCtx <-chan struct{}

func (stopCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c stopCtx) Done() <-chan struct{}     { return c }
func (stopCtx) Value(any) any               { return nil }
func (c stopCtx) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}

// untilStop returns ctx, ended also when the server stops. Call the
// cancel function when done.
func (s *service) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(stopCtx(s.stop), cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// withDeadline gives ctx the default request deadline when it has none.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultRequestTimeout)
}

// clientAddr returns the client address of node id in the node's
// metadata, or "".
func (s *service) clientAddr(id string) string {
	if id == "" {
		return ""
	}
	if n := s.node.Metadata().Node(id); n != nil {
		return n.ClientAddr
	}
	return ""
}

// selfAddr is the client address of this node as clients know it.
func (s *service) selfAddr() string {
	if a := s.clientAddr(s.node.ID()); a != "" {
		return a
	}
	return s.node.ClientAddr()
}

// status turns err into the status the client gets (errors.go).
func (s *service) status(method string, err error) error {
	return toStatus(s.log, method, err, s.clientAddr)
}

// lookup finds partition part of stream name in v. A name no stream can
// have is a bad argument (field "stream"), not an unknown stream.
func lookup(v *metadata.View, name string, part int32) (*metadata.Stream, *metadata.Partition, error) {
	st := v.Stream(name)
	if st == nil {
		if err := metadata.ValidStreamName("stream", name); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %q", metadata.ErrStreamNotFound, name)
	}
	if part < 0 || int(part) >= len(st.Partitions) {
		return nil, nil, fmt.Errorf("%w: stream %q has no partition %d (it has %d)",
			metadata.ErrPartitionNotFound, name, part, len(st.Partitions))
	}
	return st, &st.Partitions[part], nil
}

// unaryInterceptor counts every call by method and gRPC code, and the
// calls in flight.
func (s *service) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	g := s.metrics.grpcInFlight.WithLabelValues(info.FullMethod)
	g.Inc()
	resp, err := h(ctx, req)
	g.Dec()
	s.metrics.grpcRequests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}

func (s *service) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	g := s.metrics.grpcInFlight.WithLabelValues(info.FullMethod)
	g.Inc()
	err := h(srv, ss)
	g.Dec()
	s.metrics.grpcRequests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return err
}

// waitMetadata waits until cond holds for the node's metadata View, or
// until ctx ends or d passes; it reports whether cond held.
func (s *service) waitMetadata(ctx context.Context, d time.Duration, cond func(*metadata.View) bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		changed := s.node.MetadataChanged()
		if cond(s.node.Metadata()) {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		case <-s.stop:
			return false
		}
	}
}
