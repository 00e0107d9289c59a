package replication

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, io.EOF }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }

// TestFuturesBindShutdown checks that the pinned hashicorp/raft still lets
// bindShutdown release waiters (see futures.go): if this fails after a raft
// upgrade, Stop could hang on stranded proposals.
func TestFuturesBindShutdown(t *testing.T) {
	conf := raft.DefaultConfig()
	conf.LocalID = "a"
	conf.Logger = hclog.NewNullLogger()
	_, trans := raft.NewInmemTransport("a")
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	stop := make(chan struct{})
	// Not bootstrapped: the node is a follower with no leader, so these
	// futures stay unanswered until stop closes.
	apply := r.Apply([]byte("x"), time.Second)
	barrier := r.Barrier(time.Second)
	for name, f := range map[string]raft.Future{"apply": apply, "barrier": barrier} {
		if !bindShutdown(f, stop) {
			t.Fatalf("%s future (%T) has no settable ShutdownCh", name, f)
		}
	}
	if bindShutdown(apply, stop) {
		t.Fatal("binding twice must not replace the channel")
	}
	close(stop)
	done := make(chan error, 2)
	go func() { done <- apply.Error() }()
	go func() { done <- barrier.Error() }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("released future reported success")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a bound future did not return after stop closed")
		}
	}
}
