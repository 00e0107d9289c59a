package replication

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestStopDuringProposals stops a leader while proposals keep arriving.
// Every Propose returns (a success, or an error saying the outcome is
// unknown or the group stopped), Stop returns, and no goroutine is left.
// Under -race it also checks that a Propose starting its waiter while Stop
// waits for the waiters is ordered with that wait (it was not: the chaos
// scenarios caught wg.Add racing wg.Wait).
func TestStopDuringProposals(t *testing.T) {
	for round := 0; round < 5; round++ {
		db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: &storeLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		gs, err := NewStore(db).Group("g")
		if err != nil {
			t.Fatal(err)
		}
		net := NewFaultNet(uint64(round))
		tr := net.Transport("g", "n1")
		g, err := StartGroup(GroupConfig{ID: "g", NodeID: "n1", Store: gs, Snapshots: NewMemSnapshots(), Transport: tr,
			StateMachine: countSM{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Timing: Timing{HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
				LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 2 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Bootstrap([]Peer{{ID: "n1", Addr: string(tr.LocalAddr())}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, g.Ready)

		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		var bad []error
		for p := 0; p < 8; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := g.Propose(ctx, []byte("x"))
					cancel()
					mu.Lock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrStopped), errors.Is(err, ErrOutcomeUnknown):
						mu.Unlock()
						return
					default:
						bad = append(bad, err)
						mu.Unlock()
						return
					}
					mu.Unlock()
				}
			}()
		}
		waitFor(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return ok >= 20
		})
		if err := g.Stop(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("round %d: proposals failed with unexpected errors: %v", round, bad)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
