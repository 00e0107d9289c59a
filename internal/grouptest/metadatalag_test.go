package grouptest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// TestNoUnknownNamesWhileCatchingUp: a node whose metadata trails the
// metadata leader's (just restarted, or just after a create through
// another node) never answers a final UNKNOWN_QUEUE or UNKNOWN_STREAM for
// a queue or stream that exists: it checks with the metadata leader and
// waits or answers retriably. A name nobody knows is still refused.
func TestNoUnknownNamesWhileCatchingUp(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	unknown := func(err error) bool {
		return errors.Is(err, client.ErrUnknownQueue) || errors.Is(err, client.ErrUnknownStream)
	}
	// Right after creation, through whichever node answers.
	for i := range 10 {
		name := fmt.Sprintf("fresh-%d", i)
		if _, err := f.cl.CreateQueue(ctx, client.QueueConfig{Name: name, Stream: f.stream}); err != nil {
			t.Fatal(err)
		}
		cl := f.newClient()
		if _, err := cl.Receive(ctx, name, 1, 0); unknown(err) {
			t.Errorf("receive right after creating queue %s: %v", name, err)
		}
	}
	// Right after a restart.
	if _, err := f.cl.CreateQueue(ctx, client.QueueConfig{Name: "jobs", Stream: f.stream}); err != nil {
		t.Fatal(err)
	}
	cl := f.newClient()
	for round := range 2 {
		_, leaders := f.leaders()
		victim := leaders[round%4]
		f.c.Stop(t, victim)
		f.produce(round*100, 100)
		f.c.Restart(t, victim)
		restarted := time.Now()
		for time.Since(restarted) < 3*time.Second {
			msgs, err := cl.Receive(ctx, "jobs", 10, 100*time.Millisecond)
			if unknown(err) {
				t.Fatalf("round %d: receive %v after node %d restarted: %v", round, time.Since(restarted), victim, err)
			}
			if len(msgs) > 0 {
				if err := cl.Ack(ctx, msgs...); unknown(err) {
					t.Fatalf("round %d: ack %v after node %d restarted: %v", round, time.Since(restarted), victim, err)
				}
			}
		}
	}
	if _, err := cl.Receive(ctx, "no-such-queue", 1, 0); !errors.Is(err, client.ErrUnknownQueue) {
		t.Errorf("receive from a queue nobody knows: %v", err)
	}
}
