package netproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// proxy, mesh and test server must be closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ioTimeout bounds every read, write and condition the tests expect to
// happen: long enough for a loaded 2-core machine, and only reached when a
// test fails.
const ioTimeout = 10 * time.Second

// waitFor polls cond every few milliseconds until it returns true, and
// fails the test if that takes longer than ioTimeout. It is for conditions
// driven by other goroutines (the proxy's pumps), never a bare sleep.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, ioTimeout)
		case <-tick.C:
		}
	}
}

// testServer is a target: it echoes what each connection sends until EOF,
// then closes it, and counts what it accepted and received. Tests may also
// write on its end of a connection (conn) to send bytes to the client.
type testServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	accepted atomic.Int64
	received atomic.Int64

	mu    sync.Mutex
	conns []net.Conn // in accept order
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				s.received.Add(int64(n))
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// conn returns the server's end of the i-th accepted connection.
func (s *testServer) conn(t testing.TB, i int) net.Conn {
	t.Helper()
	waitFor(t, "server accepts the connection", func() bool { return s.accepted.Load() > int64(i) })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[i]
}

// close stops the server, closes its connections and waits for its
// goroutines. Idempotent.
func (s *testServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func startProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// dial connects to addr and closes the connection at the end of the test.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg on c and reads its echo.
func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// expectCut reads c until it fails, and fails the test unless it fails
// with a reset or EOF, without a byte, before the deadline.
func expectCut(t testing.TB, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not cut within %v", ioTimeout)
	}
	if n != 0 {
		t.Fatalf("cut connection delivered %d bytes", n)
	}
}
