package netproxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

const (
	// DefaultListen is where a Proxy listens unless told otherwise: a free
	// loopback port.
	DefaultListen = "127.0.0.1:0"
	// DefaultDialTimeout bounds a dial of the target unless told otherwise.
	DefaultDialTimeout = 5 * time.Second

	// chunkSize is the largest read a pump makes: the unit of delay and
	// drop decisions.
	chunkSize = 32 << 10
	// queueLen is the number of chunks a direction holds between its reader
	// and its writer (at most queueLen*chunkSize bytes).
	queueLen = 256
	// maxAcceptBackoff caps the wait after a failed Accept (out of file
	// descriptors, say), as net/http's Server does.
	maxAcceptBackoff = time.Second
)

// Fault is the mode a Proxy applies to its connections. See the package
// documentation for what each one imitates and why.
type Fault uint8

const (
	// FaultNone forwards bytes (after the delay, if any).
	FaultNone Fault = iota
	// FaultPartition resets open connections and every new one.
	FaultPartition
	// FaultBlackhole keeps connections open and drops every byte.
	FaultBlackhole
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "healthy"
	case FaultPartition:
		return "partitioned"
	case FaultBlackhole:
		return "blackholed"
	default:
		return fmt.Sprintf("Fault(%d)", uint8(f))
	}
}

func (f Fault) valid() bool { return f <= FaultBlackhole }

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// Config describes a Proxy.
type Config struct {
	// Target is the host:port every connection is forwarded to. Required.
	// It is dialed per connection, so it need not be up yet.
	Target string
	// Listen is the address to listen on (default DefaultListen, a free
	// loopback port); Proxy.Addr reports the one chosen.
	Listen string
	// Name labels the proxy in State, errors and logs ("n1->n2/raft");
	// empty means its listen address.
	Name string
	// DialTimeout bounds each dial of the target (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// Seed seeds the jitter's random numbers.
	Seed uint64
	// Logger receives fault changes and dial errors at debug level; nil
	// discards them.
	Logger *slog.Logger
}

// Validate reports a Config that Start would refuse, wrapping ErrInvalid.
func (c Config) Validate() error {
	if err := checkAddr("target", c.Target); err != nil {
		return err
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("%w: listen address %q: %w", ErrInvalid, c.Listen, err)
		}
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("%w: negative dial timeout %s", ErrInvalid, c.DialTimeout)
	}
	return nil
}

// checkAddr reports an address that is not host:port with a port.
func checkAddr(what, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %s address %q: %w", ErrInvalid, what, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%w: %s address %q: no port", ErrInvalid, what, addr)
	}
	return nil
}

// Proxy forwards the TCP connections it accepts to a target and injects
// faults into them. Its methods are safe for concurrent use.
type Proxy struct {
	cfg    Config // defaults filled; Target is in mu
	ln     net.Listener
	addr   string
	logger *slog.Logger
	done   chan struct{} // closed by Close
	// wg counts the accept goroutine and every connection's goroutine.
	wg    sync.WaitGroup
	stats counters

	mu struct {
		sync.Mutex
		closed bool
		fault  Fault
		target string
		delay  time.Duration
		jitter time.Duration
		// delayChanged is closed and replaced whenever delay or jitter
		// changes, to wake writers waiting out a chunk's delay.
		delayChanged chan struct{}
		rng          *rand.Rand
		conns        map[*conn]struct{} // open connections
		lastDialErr  error
	}
}

// Start listens on cfg.Listen and forwards connections to cfg.Target until
// Close. It returns an error wrapping ErrInvalid for a bad Config, or the
// listener's error.
func Start(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("netproxy: listen %s: %w", cfg.Listen, err)
	}
	p := &Proxy{cfg: cfg, ln: ln, addr: ln.Addr().String(), done: make(chan struct{})}
	if p.cfg.Name == "" {
		p.cfg.Name = p.addr
	}
	p.logger = cfg.Logger
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.logger = p.logger.With("proxy", p.cfg.Name)
	p.mu.target = cfg.Target
	p.mu.delayChanged = make(chan struct{})
	p.mu.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	p.mu.conns = make(map[*conn]struct{})
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address the proxy listens on: what clients dial.
func (p *Proxy) Addr() string { return p.addr }

// Name is the proxy's label (Config.Name, or its address).
func (p *Proxy) Name() string { return p.cfg.Name }

// Partition resets every open connection and every new one until Heal.
func (p *Proxy) Partition() error { return p.setFault(FaultPartition) }

// Blackhole drops every byte of every connection, open or new, until Heal.
func (p *Proxy) Blackhole() error { return p.setFault(FaultBlackhole) }

// Heal ends Partition and Blackhole: new connections are forwarded again,
// and so are open ones, except those that lost bytes in a blackhole, which
// are reset. It leaves the delay.
func (p *Proxy) Heal() error { return p.setFault(FaultNone) }

// SetFault sets the mode: Partition, Blackhole or Heal by value. An unknown
// Fault wraps ErrInvalid.
func (p *Proxy) SetFault(f Fault) error {
	if !f.valid() {
		return fmt.Errorf("%w: %s", ErrInvalid, f)
	}
	return p.setFault(f)
}

func (p *Proxy) setFault(f Fault) error {
	var sockets []net.Conn
	defer func() { resetAll(sockets) }() // after the Unlock below
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return ErrClosed
	}
	if p.mu.fault != f {
		p.logger.Debug("netproxy: fault", "from", p.mu.fault, "to", f, "conns", len(p.mu.conns))
	}
	p.mu.fault = f
	for c := range p.mu.conns {
		// A partition cuts everything. Heal cuts what a blackhole broke:
		// the only tainted connections left once the mode is not
		// FaultBlackhole, since pumps taint only under FaultBlackhole and
		// with mu held.
		if f == FaultPartition || (f == FaultNone && c.tainted) {
			sockets = p.cutLocked(c, sockets)
		}
	}
	return nil
}

// Delay delays every chunk by d from now on (including chunks queued
// already); Delay(0) removes the delay. It keeps the jitter. A negative d
// wraps ErrInvalid.
func (p *Proxy) Delay(d time.Duration) error { return p.setDelay(d, -1) }

// DelayJitter delays every chunk by d plus a random duration in [0,
// jitter), keeping each direction's order. Negative durations wrap
// ErrInvalid.
func (p *Proxy) DelayJitter(d, jitter time.Duration) error {
	if jitter < 0 {
		return fmt.Errorf("%w: negative jitter %s", ErrInvalid, jitter)
	}
	return p.setDelay(d, jitter)
}

// setDelay sets the delay, and the jitter unless it is negative.
func (p *Proxy) setDelay(d, jitter time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: negative delay %s", ErrInvalid, d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return ErrClosed
	}
	if jitter < 0 {
		jitter = p.mu.jitter
	}
	if d == p.mu.delay && jitter == p.mu.jitter {
		return nil
	}
	p.logger.Debug("netproxy: delay", "delay", d, "jitter", jitter)
	p.mu.delay, p.mu.jitter = d, jitter
	close(p.mu.delayChanged)
	p.mu.delayChanged = make(chan struct{})
	return nil
}

// SetTarget forwards connections accepted from now on to addr; open ones
// keep theirs. For a node restarted on another port.
func (p *Proxy) SetTarget(addr string) error {
	if err := checkAddr("target", addr); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return ErrClosed
	}
	p.mu.target = addr
	return nil
}

// Close stops listening, resets every connection and returns once every
// goroutine the proxy started has ended. Later calls return nil; fault
// methods return ErrClosed.
func (p *Proxy) Close() error {
	var err error
	var sockets []net.Conn
	p.mu.Lock()
	if !p.mu.closed {
		p.mu.closed = true
		close(p.done)
		err = p.ln.Close()
		for c := range p.mu.conns {
			sockets = p.cutLocked(c, sockets)
		}
	}
	p.mu.Unlock()
	resetAll(sockets)
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("netproxy: %s: close listener: %w", p.cfg.Name, err)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or the like: wait and retry, as
			// net/http's Server does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), maxAcceptBackoff)
			p.logger.Debug("netproxy: accept", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		p.admit(nc)
	}
}

// admit decides the fate of an accepted connection under the current mode
// and, unless it is reset at once, starts its goroutine.
func (p *Proxy) admit(nc net.Conn) {
	p.stats.connsAccepted.Add(1)
	p.mu.Lock()
	if p.mu.closed || p.mu.fault == FaultPartition {
		if !p.mu.closed {
			p.stats.connsRefused.Add(1)
		}
		p.mu.Unlock()
		reset(nc)
		return
	}
	c, ctx := newConn(p, nc)
	if p.mu.fault == FaultBlackhole {
		// Held: it never reaches the target, and Heal resets it.
		c.held = true
		c.tainted = true
		p.stats.connsHeld.Add(1)
	}
	p.mu.conns[c] = struct{}{}
	target := p.mu.target
	p.wg.Add(1) // the accept goroutine holds a count, so Close waits for this one too
	p.mu.Unlock()
	go c.run(ctx, target, c.held)
}

// cutLocked cuts c for a fault or Close and counts it: see closeLocked.
func (p *Proxy) cutLocked(c *conn, sockets []net.Conn) []net.Conn {
	if c.cut {
		return sockets
	}
	p.stats.connsCut.Add(1)
	return p.closeLocked(c, sockets)
}

// closeLocked marks c cut, so that its pumps drop whatever they hold (they
// count it as they drain), wakes them, and appends c's sockets to sockets
// for the caller to reset once it has released mu. Closing a socket waits
// for the reads and writes in flight on it to return, so it is kept out of
// mu's critical sections.
func (p *Proxy) closeLocked(c *conn, sockets []net.Conn) []net.Conn {
	if c.cut {
		return sockets
	}
	c.cut = true
	close(c.done)
	c.cancel()
	sockets = append(sockets, c.client)
	if c.upstream != nil {
		sockets = append(sockets, c.upstream)
	}
	return sockets
}

// resetAll resets every socket of sockets.
func resetAll(sockets []net.Conn) {
	for _, nc := range sockets {
		reset(nc)
	}
}

// reset closes nc abortively: with SO_LINGER 0, the kernel discards unsent
// bytes and sends RST instead of FIN, so the peer sees ECONNRESET.
func reset(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}
