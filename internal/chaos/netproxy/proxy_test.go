package netproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestForward sends payloads of several sizes through a proxy to an echo
// server and back, then half-closes: the FIN must travel both ways after
// the last byte, and the counters must add up.
func TestForward(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 1000, 100_000, 1 << 20} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			p := startProxy(t, Config{Target: srv.addr()})
			c := dial(t, p.Addr())
			if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, size)
			_, _ = rand.NewChaCha8([32]byte{byte(size)}).Read(want)

			// Write and half-close from a goroutine: a large payload must be
			// read back while it is still being written.
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(want)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c) // ends at the echo server's FIN
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo of %d bytes: got %d bytes, not equal", size, len(got))
			}
			waitFor(t, "the connection ends", func() bool { return p.State().Conns == 0 })
			st := p.State()
			want0 := Stats{ConnsAccepted: 1, ConnsForwarded: 1, BytesToTarget: int64(size), BytesFromTarget: int64(size)}
			if st.Stats != want0 || st.InFlight != 0 {
				t.Fatalf("stats: got %+v, in flight %d; want %+v", st.Stats, st.InFlight, want0)
			}
		})
	}
}

// TestPartition cuts an open connection, resets new ones without
// reaching the target, and heals.
func TestPartition(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p := startProxy(t, Config{Target: srv.addr(), Name: "n1->n2/raft"})
	c1 := dial(t, p.Addr())
	roundTrip(t, c1, "before")

	if err := p.Partition(); err != nil {
		t.Fatal(err)
	}
	expectCut(t, c1)
	// The kernel completes the handshake, so the dial may succeed; the
	// connection is reset at once and never reaches the target.
	if c2, err := net.DialTimeout("tcp", p.Addr(), ioTimeout); err == nil {
		expectCut(t, c2)
		_ = c2.Close()
	}
	waitFor(t, "the new connection is refused", func() bool { return p.State().ConnsRefused == 1 })
	st := p.State()
	if st.Fault != FaultPartition || st.ConnsCut != 1 || st.ConnsForwarded != 1 || srv.accepted.Load() != 1 {
		t.Fatalf("after partition: %v; server accepted %d", st, srv.accepted.Load())
	}
	if got := st.Faults(); got != "partitioned" {
		t.Fatalf("Faults() = %q", got)
	}

	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), "after")
	if st := p.State(); st.Fault != FaultNone || st.ConnsForwarded != 2 {
		t.Fatalf("after heal: %v", st)
	}
}

// TestBlackhole drops bytes both ways, holds new connections, and at Heal
// resets the connections that lost bytes (never delivering those bytes)
// while an idle connection carries on.
func TestBlackhole(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p := startProxy(t, Config{Target: srv.addr()})
	// One at a time, so that server connection i is client connection i.
	var clients [3]net.Conn
	for i := range clients {
		clients[i] = dial(t, p.Addr())
		roundTrip(t, clients[i], "ping")
	}
	up := clients[0]   // sends during the blackhole
	down := clients[1] // receives during the blackhole
	idle := clients[2] // quiet throughout
	received := srv.received.Load()

	if err := p.Blackhole(); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 bytes dropped to the target", func() bool { return p.State().DroppedToTarget == 4 })
	if _, err := srv.conn(t, 1).Write([]byte("gone!")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 bytes dropped from the target", func() bool { return p.State().DroppedFromTarget == 5 })
	held := dial(t, p.Addr())
	if _, err := held.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 more bytes dropped", func() bool { return p.State().DroppedToTarget == 7 })
	st := p.State()
	if st.Fault != FaultBlackhole || st.ConnsHeld != 1 || st.Conns != 4 || st.ConnsCut != 0 {
		t.Fatalf("in blackhole: %v", st)
	}

	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	// What the blackhole swallowed is never delivered: the connections it
	// touched end without a byte.
	for _, c := range []net.Conn{up, down, held} {
		expectCut(t, c)
	}
	roundTrip(t, idle, "still here")
	roundTrip(t, dial(t, p.Addr()), "new after heal")
	if got, want := srv.received.Load(), received+int64(len("still here")+len("new after heal")); got != want {
		t.Fatalf("server received %d bytes, want %d: dropped bytes were delivered", got, want)
	}
	if n := srv.accepted.Load(); n != 4 {
		t.Fatalf("server accepted %d connections, want 4: the held one reached it", n)
	}
	if st := p.State(); st.ConnsCut != 3 {
		t.Fatalf("after heal: %v", st)
	}
}

// TestDelay checks that a delay holds bytes at least that long each way,
// that a change of delay reaches chunks already queued, and that jitter
// never reorders a direction's chunks.
func TestDelay(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p := startProxy(t, Config{Target: srv.addr()})
	c := dial(t, p.Addr())
	roundTrip(t, c, "warm")

	const d = 150 * time.Millisecond
	if err := p.Delay(d); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	roundTrip(t, c, "slow")
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("round trip %v with a delay of %v each way", rtt, d)
	}

	// A chunk queued behind an hour's delay goes as soon as the delay is
	// removed.
	if err := p.Delay(time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the chunk is queued", func() bool { return p.State().InFlight == 1 })
	if err := p.Delay(0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read after Delay(0): %v", err)
	}

	// Jitter far above the time between writes: without FIFO delivery the
	// chunks would come out shuffled.
	if err := p.DelayJitter(time.Millisecond, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := p.State(); st.Delay != time.Millisecond || st.Jitter != 30*time.Millisecond || st.Faults() != "delay 1ms+<30ms" {
		t.Fatalf("state: %v", st)
	}
	var want bytes.Buffer
	for i := range 300 {
		want.WriteString(string(rune('a'+i%26)) + "-" + time.Duration(i).String() + ";")
	}
	werr := make(chan error, 1)
	go func() {
		b := want.Bytes()
		for len(b) > 0 {
			n := min(len(b), 17)
			if _, err := c.Write(b[:n]); err != nil {
				werr <- err
				return
			}
			b = b[n:]
		}
		werr <- nil
	}()
	echo := make([]byte, want.Len())
	if _, err := io.ReadFull(c, echo); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(echo, want.Bytes()) {
		t.Fatalf("jitter reordered bytes:\ngot  %q\nwant %q", echo, want.Bytes())
	}
}

// TestDialError resets a connection whose target refuses, and reports the
// typed error.
func TestDialError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, Config{Target: refusing, Name: "to-nowhere"})
	if c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout); err == nil {
		expectCut(t, c)
		_ = c.Close()
	}
	waitFor(t, "the dial fails", func() bool { return p.State().DialErrors == 1 })
	st := p.State()
	if !errors.Is(st.LastDialError, ErrDial) || !errors.Is(st.LastDialError, syscall.ECONNREFUSED) {
		t.Fatalf("LastDialError = %v", st.LastDialError)
	}
	var de *DialError
	if !errors.As(st.LastDialError, &de) || de.Target != refusing || de.Proxy != "to-nowhere" {
		t.Fatalf("LastDialError = %#v", st.LastDialError)
	}
	if st.ConnsForwarded != 0 || st.ConnsCut != 0 {
		t.Fatalf("state: %v", st)
	}
}

// TestInvalid checks that bad arguments and use after Close give typed
// errors.
func TestInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{},
		{Target: "localhost"},
		{Target: "127.0.0.1:"},
		{Target: "127.0.0.1:1", Listen: "nonsense"},
		{Target: "127.0.0.1:1", DialTimeout: -time.Second},
	} {
		if _, err := Start(cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("Start(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}

	p := startProxy(t, Config{Target: "127.0.0.1:1"})
	for name, err := range map[string]error{
		"Delay(-1)":          p.Delay(-1),
		"DelayJitter(0, -1)": p.DelayJitter(0, -1),
		"SetFault(9)":        p.SetFault(Fault(9)),
		"SetTarget(x)":       p.SetTarget("x"),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Start(Config{Target: "127.0.0.1:1", Listen: p.Addr()}); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Start on a used address = %v, want a listen error", err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Partition": p.Partition(),
		"Blackhole": p.Blackhole(),
		"Heal":      p.Heal(),
		"Delay":     p.Delay(time.Second),
		"SetFault":  p.SetFault(FaultNone),
		"SetTarget": p.SetTarget("127.0.0.1:2"),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if st := p.State(); !st.Closed || st.Faults() != "healthy, closed" {
		t.Errorf("state after Close: %v", st)
	}
}

// TestSetTarget forwards new connections to the new target and leaves the
// open one on the old.
func TestSetTarget(t *testing.T) {
	t.Parallel()
	a, b := startServer(t), startServer(t)
	p := startProxy(t, Config{Target: a.addr()})
	old := dial(t, p.Addr())
	roundTrip(t, old, "a")
	if err := p.SetTarget(b.addr()); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), "b")
	roundTrip(t, old, "a again")
	if a.accepted.Load() != 1 || b.accepted.Load() != 1 || p.State().Target != b.addr() {
		t.Fatalf("accepted a %d b %d; %v", a.accepted.Load(), b.accepted.Load(), p.State())
	}
}
