package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/server"
)

// Defaults and bounds.
const (
	// DefaultShutdownTimeout bounds Close's graceful stop.
	DefaultShutdownTimeout = 5 * time.Second
	// DefaultReorderWait bounds how long a produce whose sequence is ahead
	// of the partition's waits for the batches before it.
	DefaultReorderWait = 100 * time.Millisecond

	// maxMessageBytes bounds one gRPC message: a produce carries a batch
	// of up to the largest max record bytes plus the partition's batch
	// allowance, and a fetch returns at least one whole batch. The client
	// accepts 80 MiB.
	maxMessageBytes = metadata.MaxRecordBytesLimit + partition.DefaultMaxBatchBytes + 1<<20
)

// Config describes the client API server of one node.
type Config struct {
	// Node is the node to serve; required. The server does not close it:
	// close the server first, then the node.
	Node *server.Node
	// Listener is the client gRPC port; required. Close closes it.
	Listener net.Listener
	// HTTPListener, when set, serves /healthz, /readyz and /metrics.
	// Close closes it.
	HTTPListener net.Listener
	Logger       *slog.Logger

	// ShutdownTimeout bounds how long Close waits for requests in flight
	// before cutting them off. Zero: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ReorderWait bounds how long an idempotent produce whose sequence is
	// ahead of the partition's waits for the batches before it to land
	// (see the package documentation). Zero: DefaultReorderWait; negative:
	// answer OUT_OF_ORDER_SEQUENCE at once.
	ReorderWait time.Duration
	// Pprof serves Go's profiles under /debug/pprof/ on the HTTP port.
	// They reveal internals and cost CPU while taken: for diagnosis.
	Pprof bool
}

// Validate reports the first bad field, matching ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Node == nil:
		return fmt.Errorf("%w: Node is required", ErrInvalidConfig)
	case c.Listener == nil:
		return fmt.Errorf("%w: Listener is required", ErrInvalidConfig)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: negative ShutdownTimeout", ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ReorderWait == 0 {
		c.ReorderWait = DefaultReorderWait
	}
	return c
}

// Server serves the client API (sluicev1.Sluice, and the nodes' internal
// calls) of one node over gRPC, and health and metrics over HTTP.
//
// Goroutines: the gRPC and HTTP accept loops, gRPC's per-request ones,
// and a worker per partition while it has ACKS_NONE batches queued
// (noack.go). Close stops them all.
type Server struct {
	cfg  Config
	svc  *service
	grpc *grpc.Server
	http *http.Server // nil without an HTTPListener

	closeOnce sync.Once
}

// Start starts serving cfg.Node on cfg.Listener (and cfg.HTTPListener).
// It returns ErrInvalidConfig for a bad Config; on an error nothing was
// started and the listeners are still the caller's to close.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	lg := cfg.Logger.With("component", "rpc", "node", cfg.Node.ID())
	svc, err := newService(cfg.Node, lg, cfg.ReorderWait)
	if err == nil {
		svc.pprof = cfg.Pprof
	}
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: svc}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		// Stop (after the graceful stop times out) returns only once every
		// handler has: none runs on after Close.
		grpc.WaitForHandlers(true),
		// Clients and peers ping idle connections every 10 s to find a
		// node that stopped answering (client.keepaliveTime): allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(svc.unaryInterceptor),
		grpc.ChainStreamInterceptor(svc.streamInterceptor),
	)
	sluicev1.RegisterSluiceServer(s.grpc, &api{svc: svc})
	sluicev1.RegisterSluiceInternalServer(s.grpc, &internalAPI{svc: svc})
	if cfg.HTTPListener != nil {
		s.http = &http.Server{Handler: svc.httpHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(lg.Handler(), slog.LevelDebug)}
	}
	svc.goTracked(func() {
		if err := s.grpc.Serve(cfg.Listener); err != nil {
			lg.Error("rpc: gRPC server stopped", "err", err)
		}
	})
	if s.http != nil {
		svc.goTracked(func() {
			if err := s.http.Serve(cfg.HTTPListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				lg.Error("rpc: HTTP server stopped", "err", err)
			}
		})
	}
	lg.Info("rpc: serving", "addr", s.Addr(), "http", s.HTTPAddr())
	return s, nil
}

// Addr returns the address of the client gRPC port.
func (s *Server) Addr() string { return s.cfg.Listener.Addr().String() }

// HTTPAddr returns the address of the HTTP port, or "" without one.
func (s *Server) HTTPAddr() string {
	if s.cfg.HTTPListener == nil {
		return ""
	}
	return s.cfg.HTTPListener.Addr().String()
}

// Close stops serving: it ends long polls and Follow streams, lets the
// requests in flight finish for up to ShutdownTimeout and then cuts them
// off, closes the listeners and the connections to other nodes, and waits
// for every goroutine of the server. ACKS_NONE batches still queued are
// dropped (that is what ACKS_NONE allows). It does not close the Node. It
// is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.svc.beginStop()
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		t := time.NewTimer(s.cfg.ShutdownTimeout)
		select {
		case <-done:
		case <-t.C:
			s.cfg.Logger.Warn("rpc: requests still running after the shutdown timeout; cutting them off",
				"timeout", s.cfg.ShutdownTimeout)
			s.grpc.Stop()
			<-done
		}
		t.Stop()
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			if err := s.http.Shutdown(ctx); err != nil {
				_ = s.http.Close()
			}
			cancel()
		}
		s.svc.wait()
		s.svc.peers.close()
	})
	return nil
}
