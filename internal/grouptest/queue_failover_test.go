package grouptest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// The shape of TestQueueFailoverNoLoss.
const (
	foPartitions = 4
	foFailovers  = 2
	// The sends come in phases, each released by a gate: one before the
	// failovers; per failover one while messages are held, one after the
	// stop (sends during the election and with the node down), one from
	// its restart on; and one at the end.
	foPhases    = 3*foFailovers + 2
	foMessages  = 500 * foPhases
	foProducers = 2
	foSendBatch = 10
	foConsumers = 4
	foBatch     = 10 // messages per Receive
	foHold      = 3  // messages held unacked per partition of a node about to stop
	foVisible   = 3 * time.Second
)

// TestQueueFailoverNoLoss: a queue over a 4-partition stream; two
// producers send foMessages messages while four consumers receive and ack
// them; twice, a different node leading some of the partitions stops
// (consumers hold a few of its messages unacked just before) and later
// comes back. At the end every message whose send was acknowledged has
// been acked, the queue has nothing pending, each message came from one
// partition and offset, nothing was delivered after its ack had returned,
// a leader never gave a message the same receive count twice, and the
// duplicates are logged and bounded by what was in flight.
//
// Receive counts: a queue with max receives replicates them, so they
// survive the failovers (a held message comes back from the new leader
// with a higher count, and no count ever repeats); a queue without max
// receives counts receives on the leader only, and after a failover its
// counts start again (DESIGN.md, "Receive counts"), which is logged.
func TestQueueFailoverNoLoss(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxReceives int
	}{
		{"replicated-counts", 100}, // never reached: no message is dead-lettered
		{"leader-counts", 0},
	} {
		t.Run(tc.name, func(t *testing.T) { testQueueFailover(t, tc.maxReceives) })
	}
}

func testQueueFailover(t *testing.T, maxReceives int) {
	f := newFixture(t, foPartitions)
	ctx := context.Background()
	cfg := client.QueueConfig{Name: "jobs", Stream: f.stream, VisibilityTimeout: foVisible}
	if maxReceives > 0 {
		if _, err := f.cl.CreateStream(ctx, client.StreamConfig{Name: "dead", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		cfg.MaxReceives, cfg.DeadLetterStream = maxReceives, "dead"
	}
	if _, err := f.cl.CreateQueue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	l := newLedger(maxReceives > 0)
	runCtx, stopRun := context.WithCancel(ctx)
	var consumers, producers sync.WaitGroup
	t.Cleanup(func() { stopRun(); producers.Wait(); consumers.Wait() })
	for i := range foConsumers {
		cl := f.newClient()
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			l.consume(runCtx, cl, i)
		}()
	}
	gates := make([]chan struct{}, foPhases)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	for p := range foProducers {
		producers.Add(1)
		go func() {
			defer producers.Done()
			l.produce(runCtx, f.cl, p, gates)
		}()
	}

	open := func(phase int) { close(gates[phase]) }
	open(0)
	var victims []int
	for cycle := 1; cycle <= foFailovers; cycle++ {
		groups, leaders := f.leaders()
		victim := -1
		for _, n := range leaders {
			if !slices.Contains(victims, n) {
				victim = n
				break
			}
		}
		if victim < 0 {
			t.Fatalf("failover %d: every leader (%v) was stopped before", cycle, leaders)
		}
		victims = append(victims, victim)
		var parts []int32
		for p, n := range leaders {
			if n == victim {
				parts = append(parts, int32(p))
			}
		}
		// The consumers keep foHold messages of each of the victim's
		// partitions unacked; the stop comes while the producers send.
		l.holdFrom(parts)
		open(3*cycle - 2)
		waitUntil(t, 30*time.Second, fmt.Sprintf("failover %d: %d messages held from partitions %v", cycle, foHold*len(parts), parts),
			func() bool { return len(l.heldNow()) == foHold*len(parts) })
		held := l.heldNow()
		stopped := time.Now()
		f.c.Stop(t, victim)
		open(3*cycle - 1)
		for _, p := range parts {
			f.c.PartitionLeader(t, groups[p]) // a new leader
		}
		f.waitRedelivered(l, held, stopped, 30*time.Second)
		// The next delivery of a held message comes from the new leader
		// (or, if leadership moved on its own first, from another
		// leader, or from the same one once the lease ended).
		restarted, early := 0, 0
		for _, h := range held {
			next := l.nextDelivery(h.id, h.start)
			if next.start.Before(stopped) {
				early++
			}
			if next.count > h.count {
				continue
			}
			restarted++
			if l.replicated || next.epoch == h.epoch {
				t.Errorf("failover %d: message %d (partition %d offset %d) had receive count %d in epoch %d, then %d in epoch %d",
					cycle, h.id, h.part, h.offset, h.count, h.epoch, next.count, next.epoch)
			}
		}
		if !l.replicated {
			t.Logf("failover %d: %d of %d held messages came back from a new leader with a receive count no higher than before (leader-only counts start again)",
				cycle, restarted, len(held))
		}
		if early > 0 {
			t.Logf("failover %d: %d held messages came back before the stop (leadership moved on its own, or a lease ended)", cycle, early)
		}
		t.Logf("%s failover %d: node %d (partitions %v) stopped; %d held messages delivered again %v later",
			stopped.Format("15:04:05.000"), cycle, victim, parts, len(held), time.Since(stopped).Round(time.Millisecond))
		open(3 * cycle)
		f.c.Restart(t, victim)
		f.waitPreferredLeaders()
		t.Logf("%s failover %d: node %d back and leading again", time.Now().Format("15:04:05.000"), cycle, victim)
	}
	open(foPhases - 1)
	producers.Wait()
	t.Logf("%s sends done, %d messages not acked yet", time.Now().Format("15:04:05.000"), len(l.unacked()))

	// Drain, with the cluster healthy.
	waitUntil(t, 60*time.Second, "every message sent acked", func() bool { return len(l.unacked()) == 0 })
	t.Logf("%s every message acked", time.Now().Format("15:04:05.000"))
	f.waitDrained("jobs", 30*time.Second)
	stopRun()
	consumers.Wait()
	l.verify(t)
	if maxReceives > 0 {
		info, err := f.cl.DescribeStream(ctx, "dead")
		if err != nil {
			t.Fatal(err)
		}
		if hw := info.Partitions[0].HighWatermark; hw != 0 {
			t.Errorf("%d messages dead-lettered; none was received %d times", hw, maxReceives)
		}
	}
}

// waitRedelivered waits until each held message has been delivered again
// (by a receive that started after the one that got it), and says what
// is known when one was not.
func (f *fixture) waitRedelivered(l *ledger, held []delivery, stopped time.Time, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var missing []delivery
		for _, h := range held {
			if l.nextDelivery(h.id, h.start) == nil {
				missing = append(missing, h)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			_, drained := f.queueDrained("jobs")
			l.mu.Lock()
			for _, h := range missing {
				f.t.Errorf("held message %d (partition %d offset %d, count %d) not delivered again %v after its leader stopped: %s",
					h.id, h.part, h.offset, h.count, timeout, describe(l.deliveries[h.id]))
			}
			recent := 0
			for _, ds := range l.deliveries {
				for _, d := range ds {
					if d.start.After(stopped) {
						recent++
					}
				}
			}
			f.t.Errorf("%d deliveries since the stop; failures %v %v; queue %s", recent, l.errs, l.firstErr, drained)
			l.mu.Unlock()
			f.t.FailNow()
		}
		<-time.After(20 * time.Millisecond)
	}
}
