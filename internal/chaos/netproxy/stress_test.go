package netproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestCloseWithLiveConnections closes a proxy holding connections in
// every state (forwarding, with bytes queued behind a delay, held in a
// blackhole) and checks that Close returns, every client is
// cut, and no goroutine is left.
func TestCloseWithLiveConnections(t *testing.T) {
	// Not parallel: goleak.VerifyNone looks at every goroutine.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := startServer(t)
	defer srv.close() // before VerifyNone; idempotent
	p, err := Start(Config{Target: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() // on failure; idempotent
	idle := dial(t, p.Addr())
	roundTrip(t, idle, "idle")
	queued := dial(t, p.Addr())
	roundTrip(t, queued, "queued")
	if err := p.Delay(time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := queued.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bytes queued", func() bool { return p.State().InFlight > 0 })
	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	held := dial(t, p.Addr())
	waitFor(t, "connection held", func() bool { return p.State().ConnsHeld == 1 })

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{idle, held} {
		expectCut(t, c)
	}
	// queued may hold echoes from before the delay; it must end, though.
	if err := queued.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, queued); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("queued connection not cut")
	}
	st := p.State()
	if st.Conns != 0 || st.InFlight != 0 || st.ConnsCut != 3 {
		t.Fatalf("after Close: %v", st)
	}
}

// TestConcurrentFaults flips faults at random while clients stream bytes
// through the proxy, under -race. Whatever a client gets back must be a
// prefix of what it sent: faults may cut a stream short but never leave a
// hole in it, reorder it or corrupt it.
func TestConcurrentFaults(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p := startProxy(t, Config{Target: srv.addr(), Seed: 1})
	const clients = 4
	var (
		stop     atomic.Bool
		verified atomic.Int64
		wg       sync.WaitGroup
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for conn := 0; !stop.Load(); conn++ {
				verified.Add(streamEcho(t, p.Addr(), uint64(i<<20+conn), &stop))
			}
		}()
	}
	stopClients := func() {
		stop.Store(true)
		wg.Wait()
	}
	defer stopClients() // on failure; idempotent

	rng := rand.New(rand.NewPCG(2, 3))
	tick := time.NewTicker(2 * time.Millisecond)
	flips := 0
	for ; flips < 300 || verified.Load() == 0; flips++ {
		if flips > 5000 {
			t.Errorf("no bytes verified after %d flips", flips)
			break
		}
		<-tick.C
		var err error
		switch rng.IntN(7) {
		case 0:
			err = p.Partition()
		case 1:
			err = p.Blackhole()
		case 2, 3:
			err = p.Heal()
		case 4:
			err = p.DelayJitter(time.Duration(rng.IntN(3))*time.Millisecond, time.Duration(rng.IntN(3))*time.Millisecond)
		case 5:
			err = p.Delay(0)
		case 6:
			_ = p.State().String()
		}
		if err != nil {
			t.Error(err)
		}
	}
	tick.Stop()
	if err := errors.Join(p.Heal(), p.DelayJitter(0, 0)); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), "healed")
	stopClients()
	st := p.State()
	t.Logf("%d flips, %d bytes verified; %v", flips, verified.Load(), st)
	if st.ConnsAccepted < 2 {
		t.Fatalf("too little traffic: %v", st)
	}
}

// streamEcho sends a stream seeded by seed through addr, a chunk at a
// time, until the connection fails or stop is set, checking that the echo
// is a prefix of what was sent. It reports the bytes checked.
func streamEcho(t *testing.T, addr string, seed uint64, stop *atomic.Bool) int64 {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		// A partition may reset the connection before the dial returns.
		return 0
	}
	defer c.Close()
	out := make([]byte, 4096)
	in := make([]byte, 4096)
	var sent, got uint64 // byte i of the stream is streamByte(seed, i)
	for !stop.Load() {
		n := 1 + int((sent*7919)%uint64(len(out)))
		for i := range n {
			out[i] = streamByte(seed, sent+uint64(i))
		}
		// Short deadlines: a blackhole or a full delay queue must not stop
		// the loop from seeing stop.
		_ = c.SetDeadline(time.Now().Add(20 * time.Millisecond))
		w, err := c.Write(out[:n])
		sent += uint64(w)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		for got < sent {
			r, err := c.Read(in[:min(uint64(len(in)), sent-got)])
			for i := range r {
				if in[i] != streamByte(seed, got) {
					t.Errorf("stream %d: byte %d is %#x, want %#x: the echo is not a prefix of the stream",
						seed, got, in[i], streamByte(seed, got))
					return int64(got)
				}
				got++
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return int64(got)
			}
		}
	}
	return int64(got)
}

func streamByte(seed, i uint64) byte {
	x := (seed+1)*0x9e3779b97f4a7c15 ^ i*0xbf58476d1ce4e5b9
	return byte(x>>32 ^ x>>7)
}
