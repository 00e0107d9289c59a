package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Every raft group of a node shares the node's one raft port. A connection
// opens with a header naming its group; the Mux reads it and hands the
// connection to that group's raft.NetworkTransport, which then speaks
// hashicorp/raft's protocol over it unchanged.
//
// Header, on-wire format; never change (add a version instead):
//
//	offset  size  field
//	0       4     magic "SLRG"
//	4       1     version, 1
//	5       1     n, the group id length, 1..255
//	6       n     the group id, raw bytes
const (
	headerVersion   = 1
	headerPrefixLen = 6
	maxGroupIDLen   = 255
)

var headerMagic = [4]byte{'S', 'L', 'R', 'G'}

const (
	// defaultHeaderTimeout bounds how long a new connection may take to
	// send its header before the mux drops it.
	defaultHeaderTimeout = 5 * time.Second
	// maxPendingHandshakes bounds the connections still sending their
	// header; past it new connections are closed at once, so a flood of
	// silent clients costs bounded memory and goroutines.
	maxPendingHandshakes = 1024
	// groupAcceptQueue bounds the connections routed to a group that its
	// transport has not accepted yet. Raft accepts in a tight loop, so a
	// full queue means the group is wedged; the connection is closed.
	groupAcceptQueue = 64

	defaultMaxPool    = 3
	defaultRPCTimeout = 10 * time.Second
)

// validGroupID checks the rule shared with the store's keys: 1 to 255 bytes.
func validGroupID(id string) error {
	if len(id) == 0 || len(id) > maxGroupIDLen {
		return fmt.Errorf("%w: %d bytes, want 1..%d", ErrInvalidGroupID, len(id), maxGroupIDLen)
	}
	return nil
}

// encodeHeader returns the connection header for group id.
func encodeHeader(id string) ([]byte, error) {
	if err := validGroupID(id); err != nil {
		return nil, err
	}
	b := make([]byte, 0, headerPrefixLen+len(id))
	b = append(b, headerMagic[:]...)
	b = append(b, headerVersion, byte(len(id)))
	return append(b, id...), nil
}

// decodeHeader reads one connection header from r, reading no byte past it,
// and returns the group id. It allocates at most the declared id length
// (at most 255 bytes). Every error wraps ErrBadHeader; a read error (EOF, a
// deadline) is wrapped too.
func decodeHeader(r io.Reader) (string, error) {
	var prefix [headerPrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return "", fmt.Errorf("%w: reading prefix: %w", ErrBadHeader, err)
	}
	if !bytes.Equal(prefix[:4], headerMagic[:]) {
		return "", fmt.Errorf("%w: magic %q", ErrBadHeader, prefix[:4])
	}
	if prefix[4] != headerVersion {
		return "", fmt.Errorf("%w: version %d, want %d", ErrBadHeader, prefix[4], headerVersion)
	}
	n := int(prefix[5])
	if n == 0 {
		return "", fmt.Errorf("%w: empty group id", ErrBadHeader)
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return "", fmt.Errorf("%w: reading %d-byte group id: %w", ErrBadHeader, n, err)
	}
	return string(id), nil
}

// TransportConfig configures one group's raft.NetworkTransport. Zero fields
// take defaults.
type TransportConfig struct {
	// MaxPool is the number of idle outbound connections kept per peer
	// (default 3).
	MaxPool int
	// Timeout bounds dialing, writing the header and each RPC's I/O; raft
	// scales it up for InstallSnapshot (default 10s).
	Timeout time.Duration
	// Logger receives the raft transport's own logs; nil discards them.
	Logger *slog.Logger
}

func (c TransportConfig) withDefaults() (TransportConfig, error) {
	if c.MaxPool < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("replication: transport config: negative MaxPool (%d) or Timeout (%s)", c.MaxPool, c.Timeout)
	}
	if c.MaxPool == 0 {
		c.MaxPool = defaultMaxPool
	}
	if c.Timeout == 0 {
		c.Timeout = defaultRPCTimeout
	}
	return c, nil
}

// Mux serves every raft group of a node over one listener.
//
// Goroutines: Serve (run by the owner) and one per connection still sending
// its header (bounded by maxPendingHandshakes, each bounded by a read
// deadline). Close waits for all of them. Each group's raft.NetworkTransport
// runs raft's own goroutines; they end once Close or Remove has closed the
// group's listener and connections.
//
// Lock order: Mux.mu, then groupLayer.mu.
type Mux struct {
	ln     net.Listener
	logger *slog.Logger
	// headerTimeout is the read deadline for a connection's header. Set
	// before Serve; tests shorten it.
	headerTimeout time.Duration
	// via maps peers' addresses to the addresses dialled instead (see
	// DialVia). Set before any group dials; read only after.
	via map[string]string

	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		closed  bool
		serving bool
		groups  map[string]*muxGroup
		pending map[net.Conn]struct{} // connections still sending their header
	}
}

type muxGroup struct {
	layer *groupLayer
	trans *raft.NetworkTransport
}

// NewMux serves raft connections accepted from ln. Serve must be called
// (the owner runs it in a goroutine it waits for); Close stops it, closes ln
// and every group's transport. A nil logger discards the logs.
func NewMux(ln net.Listener, logger *slog.Logger) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{ln: ln, logger: logger, headerTimeout: defaultHeaderTimeout, done: make(chan struct{})}
	m.mu.groups = make(map[string]*muxGroup)
	m.mu.pending = make(map[net.Conn]struct{})
	return m
}

// DialVia makes the mux dial via[addr] instead of a peer's address addr
// (a proxy in between: the chaos tests inject network faults there); an
// address not in via is dialled as it is. Call it before the mux's
// groups dial; via must not change afterwards.
func (m *Mux) DialVia(via map[string]string) { m.via = via }

// dialAddr is the address the mux dials for a peer's address addr.
func (m *Mux) dialAddr(addr string) string {
	if to, ok := m.via[addr]; ok {
		return to
	}
	return addr
}

// Addr is the listener's address: the raft address of every group on this
// node.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Serve accepts connections until Close, reading each header in its own
// goroutine so that a slow or silent client never blocks it. It returns
// ErrMuxClosed after Close (also when called after Close), ErrMuxServing if
// another Serve is running, and the listener's error if the listener fails
// for good. Transient accept errors are logged and retried with backoff.
func (m *Mux) Serve() error {
	m.mu.Lock()
	switch {
	case m.mu.closed:
		m.mu.Unlock()
		return ErrMuxClosed
	case m.mu.serving:
		m.mu.Unlock()
		return ErrMuxServing
	}
	m.mu.serving = true
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return ErrMuxClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("replication: mux accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.logger.Warn("raft mux: accept failed; retrying", "error", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-m.done:
				t.Stop()
				return ErrMuxClosed
			}
			continue
		}
		backoff = 0
		m.startHandshake(c)
	}
}

func (m *Mux) startHandshake(c net.Conn) {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		_ = c.Close()
		return
	}
	if len(m.mu.pending) >= maxPendingHandshakes {
		m.mu.Unlock()
		_ = c.Close()
		m.logger.Warn("raft mux: too many connections sending headers; closed one", "remote", c.RemoteAddr())
		return
	}
	m.mu.pending[c] = struct{}{}
	m.wg.Add(1)
	m.mu.Unlock()
	go m.handshake(c)
}

// handshake reads c's header under a deadline and routes c to its group,
// or closes it.
func (m *Mux) handshake(c net.Conn) {
	defer m.wg.Done()
	err := c.SetReadDeadline(time.Now().Add(m.headerTimeout))
	var id string
	if err == nil {
		id, err = decodeHeader(c)
	}
	if err == nil {
		err = c.SetReadDeadline(time.Time{})
	}

	m.mu.Lock()
	delete(m.mu.pending, c)
	closed := m.mu.closed
	g := m.mu.groups[id]
	delivered := err == nil && !closed && g != nil && g.layer.deliver(c)
	m.mu.Unlock()
	if delivered {
		return
	}
	_ = c.Close()
	switch {
	case closed:
		// Close closed c under the read; nothing to report.
	case err != nil:
		m.logger.Warn("raft mux: rejected connection", "remote", c.RemoteAddr(), "error", err)
	case g == nil:
		m.logger.Warn("raft mux: connection for unknown raft group", "remote", c.RemoteAddr(), "group", id)
	default:
		m.logger.Warn("raft mux: raft group not accepting connections", "remote", c.RemoteAddr(), "group", id)
	}
}

// NetTransport is a group's raft transport over the mux: raft's
// NetworkTransport without pipelined AppendEntries. In hashicorp/raft
// v1.8 a leader shutting down can deadlock in a pipeline (its decoder
// blocks handing a response to the replication goroutine that already
// left, the in-flight queue fills, and the sender waits on it forever), so
// Stop could hang; without the pipeline raft sends one AppendEntries (up to
// MaxAppendEntries entries) at a time per follower.
type NetTransport struct {
	*raft.NetworkTransport
}

// AppendEntriesPipeline reports that pipelining is off; raft falls back to
// plain AppendEntries.
func (NetTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// Transport registers group id and returns its raft transport. Its address
// is the mux's; its Dial connects to the target node's mux and writes the
// header naming id. Closing the transport (raft.Shutdown does) unregisters
// the group, so id can be registered again. Errors: ErrInvalidGroupID,
// ErrGroupExists, ErrMuxClosed.
func (m *Mux) Transport(id string, cfg TransportConfig) (NetTransport, error) {
	if err := validGroupID(id); err != nil {
		return NetTransport{}, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return NetTransport{}, err
	}
	hdr, err := encodeHeader(id)
	if err != nil {
		return NetTransport{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return NetTransport{}, ErrMuxClosed
	}
	if _, ok := m.mu.groups[id]; ok {
		return NetTransport{}, fmt.Errorf("%w: %q", ErrGroupExists, id)
	}
	layer := &groupLayer{id: id, mux: m, header: hdr, conns: make(chan net.Conn, groupAcceptQueue), done: make(chan struct{})}
	layer.mu.open = make(map[*trackedConn]struct{})
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: cfg.MaxPool,
		Timeout: cfg.Timeout,
		Logger:  newHCLogger(cfg.Logger, "raft-net").With("group", id),
	})
	m.mu.groups[id] = &muxGroup{layer: layer, trans: trans}
	return NetTransport{trans}, nil
}

// Remove unregisters group id and closes its transport and connections.
// Errors: ErrUnknownGroup (also when the transport was closed already),
// ErrMuxClosed.
func (m *Mux) Remove(id string) error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return ErrMuxClosed
	}
	g, ok := m.mu.groups[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownGroup, id)
	}
	delete(m.mu.groups, id)
	m.mu.Unlock()
	return g.trans.Close()
}

// unregister forgets group id if it is still served by layer (and not by a
// newer registration of the same id).
func (m *Mux) unregister(id string, layer *groupLayer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g, ok := m.mu.groups[id]; ok && g.layer == layer {
		delete(m.mu.groups, id)
	}
}

// Close stops Serve, closes the listener, every connection still sending
// its header and every group's transport, and returns after the mux's
// goroutines exited. It is idempotent; later calls return nil.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.mu.closed = true
	close(m.done)
	groups, pending := m.mu.groups, m.mu.pending
	m.mu.groups, m.mu.pending = nil, nil
	m.mu.Unlock()

	err := m.ln.Close()
	for c := range pending {
		_ = c.Close()
	}
	for _, g := range groups {
		_ = g.trans.Close()
	}
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// groupLayer is one group's raft.StreamLayer: a listener fed by the mux
// through a bounded queue, and a dialer that writes the group's header. It
// tracks every connection it accepted or dialed and closes them all on
// Close, because raft's NetworkTransport.Close closes neither its pooled
// connections nor the ones its handlers read.
type groupLayer struct {
	id     string
	mux    *Mux
	header []byte
	conns  chan net.Conn // routed by the mux, not accepted yet; each is in mu.open
	done   chan struct{} // closed by Close

	mu struct {
		sync.Mutex
		closed bool
		open   map[*trackedConn]struct{} // nil once closed
	}
}

var _ raft.StreamLayer = (*groupLayer)(nil)

// deliver queues c for Accept. It reports false, leaving c to the caller,
// when the layer is closed or its queue is full.
func (g *groupLayer) deliver(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.closed {
		return false
	}
	tc := &trackedConn{Conn: c, layer: g}
	select {
	case g.conns <- tc:
		g.mu.open[tc] = struct{}{}
		return true
	default:
		return false
	}
}

// Accept implements net.Listener. After Close it returns an error wrapping
// net.ErrClosed.
func (g *groupLayer) Accept() (net.Conn, error) {
	select {
	case <-g.done:
		return nil, g.closedErr()
	default:
	}
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.done:
		return nil, g.closedErr()
	}
}

// Close implements net.Listener: it closes every connection of the group
// and unregisters the group from the mux. Idempotent.
func (g *groupLayer) Close() error {
	g.mu.Lock()
	if g.mu.closed {
		g.mu.Unlock()
		return nil
	}
	g.mu.closed = true
	close(g.done)
	open := g.mu.open
	g.mu.open = nil
drain: // each queued conn is also in open, closed below
	for {
		select {
		case <-g.conns:
		default:
			break drain
		}
	}
	g.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
	g.mux.unregister(g.id, g)
	return nil
}

// Addr implements net.Listener: the mux's address.
func (g *groupLayer) Addr() net.Addr { return g.mux.Addr() }

// Dial implements raft.StreamLayer: it connects to the mux at address and
// writes the group's header.
func (g *groupLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-g.done:
		return nil, g.closedErr()
	default:
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", g.mux.dialAddr(string(address)))
	if err != nil {
		return nil, fmt.Errorf("replication: raft group %q: %w", g.id, err)
	}
	if timeout > 0 {
		err = c.SetWriteDeadline(time.Now().Add(timeout))
	}
	if err == nil {
		_, err = c.Write(g.header)
	}
	if err == nil {
		err = c.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("replication: raft group %q: writing header to %s: %w", g.id, address, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.closed {
		_ = c.Close()
		return nil, g.closedErr()
	}
	tc := &trackedConn{Conn: c, layer: g}
	g.mu.open[tc] = struct{}{}
	return tc, nil
}

func (g *groupLayer) closedErr() error {
	return fmt.Errorf("replication: raft group %q: %w", g.id, net.ErrClosed)
}

// trackedConn removes itself from its layer's open set when closed.
type trackedConn struct {
	net.Conn
	layer *groupLayer
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.layer.mu.Lock()
	delete(c.layer.mu.open, c) // no-op once the layer closed (nil map)
	c.layer.mu.Unlock()
	return err
}

// hclogAdapter sends the logs of raft's transport, which takes an
// hclog.Logger, to slog. The embedded null logger answers the rest of the
// interface (StandardLogger, SetLevel, …), which the transport does not
// use.
type hclogAdapter struct {
	hclog.Logger
	base *slog.Logger // without the name
	l    *slog.Logger
	name string
}

func newHCLogger(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return &hclogAdapter{Logger: hclog.NewNullLogger(), base: l, l: l.With("logger", name), name: name}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if lv > slog.LevelDebug && closedConnection(args) {
		// A connection closed under the transport (this node or a peer
		// stopping, a group removed) is routine, not an error to report.
		lv = slog.LevelDebug
	}
	a.l.Log(context.Background(), lv, msg, args...)
}

// closedConnection reports whether an error among args is a closed
// connection or its end.
func closedConnection(args []any) bool {
	for _, v := range args {
		if err, ok := v.(error); ok && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)) {
			return true
		}
	}
	return false
}
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.l.Enabled(context.Background(), slogLevel(l))
}
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }
func (a *hclogAdapter) Name() string  { return a.name }
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	return newHCLogger(a.base.With(args...), a.name)
}
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return newHCLogger(a.base, name)
}
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger { return newHCLogger(a.base, name) }
