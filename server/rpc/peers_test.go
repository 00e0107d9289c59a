package rpc

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestPeersDialVia: a peer's address is dialled at the address the node
// maps it to (Config.DialVia), and cached under the peer's address.
func TestPeersDialVia(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	const peerAddr = "peer.invalid:7070" // not resolvable: only the mapping reaches it
	p := newPeers(func(a string) string {
		if a == peerAddr {
			return ln.Addr().String()
		}
		return a
	})
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := p.conn(ctx, peerAddr)
	if err != nil {
		t.Fatalf("conn via the mapped address: %v", err)
	}
	if again, err := p.conn(ctx, peerAddr); err != nil || again != cc {
		t.Errorf("second conn = %p, %v; want the cached %p", again, err, cc)
	}
}
