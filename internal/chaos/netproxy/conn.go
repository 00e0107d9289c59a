package netproxy

import (
	"bytes"
	"context"
	"net"
	"sync"
	"time"
)

// dir is a direction of a proxied connection.
type dir uint8

const (
	toTarget   dir = iota // client to target
	fromTarget            // target to client
)

// chunk is one read of a pump, or the FIN that ended its reads.
type chunk struct {
	b       []byte // owned by the chunk; nil for a FIN
	fin     bool
	arrived time.Time
	u       float64 // the chunk's share of the jitter, in [0, 1)
}

// verdict is a pump's decision about a chunk.
type verdict uint8

const (
	pass verdict = iota // queue it (reader) or deliver it (writer)
	drop                // blackholed: count it and carry on
	stop                // the connection is cut: count it and return
	hold                // not due yet: wait out the delay (writer)
)

// conn is one proxied connection: the client's end, and the target's once
// dialed.
type conn struct {
	p      *Proxy
	client net.Conn
	cancel context.CancelFunc // cancels the dial
	done   chan struct{}      // closed by closeLocked

	// Protected by p.mu.
	upstream net.Conn // nil until dialed
	cut      bool     // closed abortively; Invariant: cut iff done is closed
	tainted  bool     // lost a byte or a FIN in a blackhole; Heal cuts it
	held     bool     // accepted in a blackhole: never dialed, only drained
}

func newConn(p *Proxy, nc net.Conn) (*conn, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{p: p, client: nc, cancel: cancel, done: make(chan struct{})}, ctx
}

// run is the connection's goroutine: it dials the target, runs the four
// pumps and waits for them, then closes both ends.
func (c *conn) run(ctx context.Context, target string, held bool) {
	p := c.p
	defer p.wg.Done()
	defer c.finish()
	if held {
		c.discard()
		<-c.done
		return
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	up, err := d.DialContext(ctx, "tcp", target)
	p.mu.Lock()
	if c.cut {
		p.mu.Unlock()
		if up != nil {
			reset(up)
		}
		return
	}
	if err != nil {
		derr := &DialError{Proxy: p.cfg.Name, Target: target, Err: err}
		p.mu.lastDialErr = derr
		p.stats.dialErrors.Add(1)
		sockets := p.closeLocked(c, nil)
		p.mu.Unlock()
		resetAll(sockets)
		p.logger.Debug("netproxy: dial", "err", derr)
		return
	}
	c.upstream = up
	p.mu.Unlock()
	p.stats.connsForwarded.Add(1)

	qTo := make(chan chunk, queueLen)
	qFrom := make(chan chunk, queueLen)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); c.read(c.client, qTo, toTarget) }()
	go func() { defer wg.Done(); c.write(up, qTo, toTarget) }()
	go func() { defer wg.Done(); c.read(up, qFrom, fromTarget) }()
	go func() { defer wg.Done(); c.write(c.client, qFrom, fromTarget) }()
	wg.Wait()
	c.drain(qTo, toTarget)
	c.drain(qFrom, fromTarget)

	// Both directions ended. If a blackhole swallowed a FIN, the peer must
	// not see the connection close before Heal resets it.
	p.mu.Lock()
	wait := c.tainted && !c.cut
	p.mu.Unlock()
	if wait {
		<-c.done
	}
}

// finish forgets c and closes both ends: gracefully after a normal end,
// abortively if c was cut (the cutter resets the sockets too, after
// releasing mu, which may come after this).
func (c *conn) finish() {
	p := c.p
	p.mu.Lock()
	delete(p.mu.conns, c)
	cut := c.cut
	up := c.upstream
	p.mu.Unlock()
	c.cancel()
	closeConn := func(nc net.Conn) { _ = nc.Close() }
	if cut {
		closeConn = reset
	}
	closeConn(c.client)
	if up != nil {
		closeConn(up)
	}
}

// discard reads and drops a held connection's bytes until it ends.
func (c *conn) discard() {
	buf := make([]byte, chunkSize)
	for {
		n, err := c.client.Read(buf)
		c.p.stats.addDropped(toTarget, n)
		if err != nil {
			return
		}
	}
}

// read pumps src into q: the reader of direction d.
func (c *conn) read(src net.Conn, q chan<- chunk, d dir) {
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch := chunk{b: bytes.Clone(buf[:n])}
			switch c.arrive(&ch, d) {
			case stop:
				return
			case pass:
				if !c.enqueue(q, ch, d) {
					return
				}
			}
		}
		if err == nil {
			continue
		}
		if isEOF(err) {
			ch := chunk{fin: true}
			if c.arrive(&ch, d) == pass {
				c.enqueue(q, ch, d)
			}
			return
		}
		// Reset by the peer (or closed by a cut): pass the reset on, unless
		// a blackhole swallows it.
		var sockets []net.Conn
		c.p.mu.Lock()
		if !c.cut {
			if c.p.mu.fault == FaultBlackhole {
				c.tainted = true
			} else {
				sockets = c.p.closeLocked(c, nil)
			}
		}
		c.p.mu.Unlock()
		resetAll(sockets)
		return
	}
}

// arrive decides the fate of a chunk just read, under the current mode,
// and stamps it for the delay.
func (c *conn) arrive(ch *chunk, d dir) verdict {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case c.cut:
		p.stats.addDropped(d, len(ch.b))
		return stop
	case p.mu.fault == FaultBlackhole:
		c.tainted = true
		p.stats.addDropped(d, len(ch.b))
		return drop
	}
	ch.arrived = time.Now()
	ch.u = p.mu.rng.Float64()
	p.stats.inFlight.Add(int64(len(ch.b)))
	return pass
}

// enqueue hands ch to the writer, or reports false if c is cut first.
func (c *conn) enqueue(q chan<- chunk, ch chunk, d dir) bool {
	select {
	case q <- ch:
		return true
	case <-c.done:
		c.p.stats.addDropped(d, len(ch.b))
		c.p.stats.inFlight.Add(-int64(len(ch.b)))
		return false
	}
}

// write delivers q to dst, each chunk once due: the writer of direction d.
func (c *conn) write(dst net.Conn, q <-chan chunk, d dir) {
	for {
		var ch chunk
		select {
		case ch = <-q:
		case <-c.done:
			return
		}
		v := c.depart(ch, d)
		for v == hold {
			v = c.waitDue(ch, d)
		}
		switch v {
		case stop:
			return
		case drop:
			if ch.fin {
				return
			}
			continue
		}
		if ch.fin {
			if err := closeWrite(dst); err != nil {
				c.abort()
			}
			return
		}
		n, err := dst.Write(ch.b)
		c.p.stats.addForwarded(d, n)
		c.p.stats.addDropped(d, len(ch.b)-n)
		c.p.stats.inFlight.Add(-int64(len(ch.b)))
		if err != nil {
			c.abort()
			return
		}
	}
}

// waitDue waits until ch may be due: its delay passes, the delay changes,
// or c is cut. It returns depart's verdict after the wait.
func (c *conn) waitDue(ch chunk, d dir) verdict {
	p := c.p
	p.mu.Lock()
	due := ch.arrived.Add(p.mu.delay + time.Duration(ch.u*float64(p.mu.jitter)))
	changed := p.mu.delayChanged
	p.mu.Unlock()
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
		case <-c.done:
		}
		t.Stop()
	}
	return c.depart(ch, d)
}

// depart decides the fate of a queued chunk when the writer gets to it:
// hold it until due, drop it in a blackhole, or deliver it. Dropped
// chunks are counted here; delivered ones by the writer.
func (c *conn) depart(ch chunk, d dir) verdict {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.cut {
		p.stats.addDropped(d, len(ch.b))
		p.stats.inFlight.Add(-int64(len(ch.b)))
		return stop
	}
	due := ch.arrived.Add(p.mu.delay + time.Duration(ch.u*float64(p.mu.jitter)))
	if time.Now().Before(due) {
		return hold
	}
	if p.mu.fault == FaultBlackhole || c.tainted {
		c.tainted = true
		p.stats.addDropped(d, len(ch.b))
		p.stats.inFlight.Add(-int64(len(ch.b)))
		return drop
	}
	return pass
}

// drain counts the chunks left in q once its pumps have ended.
func (c *conn) drain(q chan chunk, d dir) {
	for {
		select {
		case ch := <-q:
			c.p.stats.addDropped(d, len(ch.b))
			c.p.stats.inFlight.Add(-int64(len(ch.b)))
		default:
			return
		}
	}
}

// abort resets c after an I/O error on either end.
func (c *conn) abort() {
	c.p.mu.Lock()
	sockets := c.p.closeLocked(c, nil)
	c.p.mu.Unlock()
	resetAll(sockets)
}

func closeWrite(nc net.Conn) error {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nc.Close()
}
