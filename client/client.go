package client

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// How the client finds out about nodes that stop answering.
const (
	// keepaliveTime and keepaliveTimeout: a connection silent this long
	// is pinged, and closed when the ping is not answered in time
	// (gRPC's floor for Time is 10 s).
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
	// metadataTimeout bounds one attempt of a metadata request: a node
	// answers it from memory, so one that takes longer is skipped for
	// the next.
	metadataTimeout = 5 * time.Second
	// demoteFor is how long a node that failed a partition request is
	// asked last for metadata.
	demoteFor = 5 * time.Second
)

// Defaults of Config.
const (
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 30 * time.Second
	DefaultMetadataMaxAge  = time.Minute
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultMaxRetryBackoff = 500 * time.Millisecond

	// maxRecvMsgSize bounds one response: a fetch returns at least one
	// whole batch, and a batch may hold a record of up to 64 MiB.
	maxRecvMsgSize = 80 << 20
)

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// Servers are "host:port" client addresses of some of the cluster's
	// nodes; the client learns the others from the cluster.
	Servers []string
	// DialTimeout bounds connecting to one node (default 5s).
	DialTimeout time.Duration
	// RequestTimeout bounds one attempt of one request (default 30s). A
	// fetch may take its long-poll wait on top.
	RequestTimeout time.Duration
	// MetadataMaxAge is how often the cached metadata is refreshed when no
	// error forces it earlier (default 1m).
	MetadataMaxAge time.Duration
	// RetryBackoff and MaxRetryBackoff bound the exponential backoff
	// between retries of retriable errors (defaults 100ms and 500ms).
	RetryBackoff, MaxRetryBackoff time.Duration
	// DialOptions are added to the client's gRPC options (which use
	// insecure credentials), for example to set TLS credentials.
	DialOptions []grpc.DialOption
}

// withDefaults returns c with the defaults filled in, or an error for a
// configuration that cannot work.
func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 {
		return c, &Error{Code: CodeInvalidArgument, Msg: "no servers given"}
	}
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return c, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("server address %q is not host:port", s)}
		}
	}
	c.Servers = slices.Clone(c.Servers)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.MetadataMaxAge, DefaultMetadataMaxAge)
	def(&c.RetryBackoff, DefaultRetryBackoff)
	def(&c.MaxRetryBackoff, DefaultMaxRetryBackoff)
	c.MaxRetryBackoff = max(c.MaxRetryBackoff, c.RetryBackoff)
	return c, nil
}

// Client is a connection to a Sluice cluster: one gRPC connection per node
// address, made on first use, and a cache of stream metadata (partition
// leaders and hash-key ranges). It is safe for concurrent use. Producers
// and consumers made from it must be closed before it.
type Client struct {
	cfg       Config
	opts      []grpc.DialOption
	stop      chan struct{} // closed by Close: ends background work
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu struct {
		sync.Mutex
		closed    bool
		conns     map[string]*grpc.ClientConn // by address
		nodes     []string                    // client addresses of the known, non-removed nodes
		preferred string                      // the node that answered last
		// demoted are nodes that just failed a partition request (down,
		// cut off, or not knowing the leader): asked last for metadata
		// until the time noted, since a node cut off from the others
		// answers with what it knew before.
		demoted map[string]time.Time
	}
	meta struct {
		sync.Mutex
		streams map[string]*streamMeta // values are immutable
		flights map[string]*flight     // refreshes in progress, by stream ("" = all)
	}
	queues queueState // queue routes and SendMessage's producer (queue.go)
}

// New returns a client of the cluster that cfg names. It asks the servers
// for the cluster's nodes, so it fails with an error wrapping
// ErrUnreachable when none of them answers before ctx ends or each has
// failed. Connections are made lazily after that, one per node address.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, stop: make(chan struct{})}
	c.mu.conns = map[string]*grpc.ClientConn{}
	c.meta.streams = map[string]*streamMeta{}
	c.meta.flights = map[string]*flight{}
	c.queues.turn.Store(rand.Uint32()) // clients start Receive at different partitions
	c.opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{BaseDelay: cfg.RetryBackoff, Multiplier: 1.6, Jitter: 0.2,
				MaxDelay: cfg.MaxRetryBackoff},
			MinConnectTimeout: cfg.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		// A node that stops answering without closing its connections (a
		// paused process, a network partition) is found out by pings
		// within Time+Timeout, and the requests on it fail over, instead
		// of each waiting out its RequestTimeout. Servers permit it
		// (server/rpc).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
	}, cfg.DialOptions...)
	if _, err := c.Cluster(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.goTracked(c.refreshLoop)
	return c, nil
}

// Close closes the connections and stops the background metadata
// refresh. It is idempotent and returns when the client's goroutines have
// exited. Calls after Close fail with ErrClosed.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.queues.close() // before the connections: its sends are abandoned
		c.mu.Lock()
		c.mu.closed = true
		c.mu.Unlock()
		close(c.stop)
		c.wg.Wait()
		c.mu.Lock()
		conns := c.mu.conns
		c.mu.conns = nil
		c.mu.Unlock()
		for _, cc := range conns {
			_ = cc.Close()
		}
	})
	return nil
}

// goTracked runs fn on a goroutine that Close waits for, unless the client
// is closed. It reports whether fn was started.
func (c *Client) goTracked(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// api returns the API stub of the node at addr, connecting lazily.
func (c *Client) api(addr string) (sluicev1.SluiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrClosed
	}
	cc := c.mu.conns[addr]
	if cc == nil {
		var err error
		if cc, err = grpc.NewClient(addr, c.opts...); err != nil {
			return nil, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("address %s: %v", addr, err)}
		}
		c.mu.conns[addr] = cc
	}
	return sluicev1.NewSluiceClient(cc), nil
}

// candidates returns the addresses to try for a request any node answers:
// the node that answered last, then the known nodes, then the configured
// servers, without repeats.
func (c *Client) candidates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, 1+len(c.mu.nodes)+len(c.cfg.Servers))
	add := func(a string) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	add(c.mu.preferred)
	for _, a := range c.mu.nodes {
		add(a)
	}
	for _, a := range c.cfg.Servers {
		add(a)
	}
	now := time.Now()
	slices.SortStableFunc(out, func(a, b string) int {
		return cmp.Compare(boolInt(now.Before(c.mu.demoted[a])), boolInt(now.Before(c.mu.demoted[b])))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// demote asks addr last for metadata for demoteFor: it just failed a
// partition request in a way that says it may not know the cluster's
// state (see noteFailure).
func (c *Client) demote(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.preferred == addr {
		c.mu.preferred = ""
	}
	if c.mu.demoted == nil {
		c.mu.demoted = map[string]time.Time{}
	}
	now := time.Now()
	c.mu.demoted[addr] = now.Add(demoteFor)
	for a, until := range c.mu.demoted {
		if now.After(until) {
			delete(c.mu.demoted, a)
		}
	}
}

// setNodes records the client addresses of the cluster's nodes.
func (c *Client) setNodes(nodes []*sluicev1.Node) {
	addrs := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.GetClientAddr() != "" && n.GetState() != "removed" {
			addrs = append(addrs, n.GetClientAddr())
		}
	}
	c.mu.Lock()
	c.mu.nodes = addrs
	c.mu.Unlock()
}

// anyNode runs call against one node after another, until one answers
// (with a response or with a Sluice error). Nodes that cannot be reached
// are skipped; when none answers the error wraps ErrUnreachable. Each
// attempt is bounded by the request timeout.
func (c *Client) anyNode(ctx context.Context, call func(context.Context, sluicev1.SluiceClient) error) error {
	return c.anyNodeWithin(ctx, c.cfg.RequestTimeout, call)
}

// anyNodeWithin is anyNode with each attempt bounded by timeout (a long
// poll needs its wait on top of the request timeout).
func (c *Client) anyNodeWithin(ctx context.Context, timeout time.Duration,
	call func(context.Context, sluicev1.SluiceClient) error) error {
	return c.anyNodeJudged(ctx, timeout, call, nil)
}

// anyNodeJudged is anyNodeWithin for reads of routing metadata: when
// stale (if set) says that an answer names no leader for some partition,
// the answer is returned but the node that gave it is demoted, so that
// the next read asks another node first. A node cut off from the others
// knows no leaders, and would otherwise be asked again and again.
func (c *Client) anyNodeJudged(ctx context.Context, timeout time.Duration,
	call func(context.Context, sluicev1.SluiceClient) error, stale func() bool) error {
	addrs := c.candidates()
	var last error
	for _, addr := range addrs {
		api, err := c.api(addr)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = fromRPC(ctx, addr, call(actx, api))
		cancel()
		if e := asError(err); err == nil || e == nil || !e.conn {
			switch {
			case err == nil && stale != nil && stale():
				c.demote(addr)
			case err == nil:
				c.mu.Lock()
				c.mu.preferred = addr
				c.mu.Unlock()
			}
			return err
		}
		last = err
	}
	return unreachable(addrs, last)
}

// unreachable builds the one-line error for a cluster none of whose
// addresses answered.
func unreachable(addrs []string, last error) error {
	return &unreachableError{addrs: addrs, last: last}
}

// backoff returns the wait before retry number attempt (from 1):
// exponential from RetryBackoff up to MaxRetryBackoff, with +-20% jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBackoff
	for i := 1; i < attempt && d < c.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxRetryBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleepCtx waits d or until ctx ends (a retry backoff, not a wait for a
// condition).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chanCtx is a context that is cancelled when its channel is closed. It
// lets goroutines derive contexts from an owner's lifetime without the
// owner storing a context.
type chanCtx <-chan struct{}

func (chanCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c chanCtx) Done() <-chan struct{}     { return c }
func (chanCtx) Value(any) any               { return nil }
func (c chanCtx) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}
