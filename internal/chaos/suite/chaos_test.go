package suite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/chaos/checker"
	"github.com/sluicedb/sluice/internal/chaos/history"
	"github.com/sluicedb/sluice/internal/chaos/netproxy"
	"github.com/sluicedb/sluice/internal/chaos/proccluster"
)

var (
	chaosDuration = flag.Duration("chaos.duration", 40*time.Second,
		"how long the workload runs under faults (the CI's bounded mode is the default; a long run: -chaos.duration 30m)")
	chaosSeed = flag.Uint64("chaos.seed", 0, "the nemesis's seed (0: from the clock; the test logs it)")
	chaosOut  = flag.String("chaos.out", "", "where a failed run writes its history, report and seed, and where the nodes "+
		"keep their data and logs (default: temporary directories, the nodes' removed at the end)")
)

const (
	chaosStream     = "chaos"
	chaosPartitions = 3
	chaosProducers  = 3
	chaosReaders    = 2
	produceEvery    = 5 * time.Millisecond // per producer
	readBytes       = 16 << 10             // per read under the faults
)

// TestChaos runs idempotent keyed producers and readers against a 3-node
// cluster of real processes whose nodes talk through a fault-injecting
// proxy mesh, while a nemesis kills and restarts, pauses and resumes, and
// isolates nodes (one at a time, so a majority stays up). Every operation
// goes into a history; after the faults heal and the writers stop, each
// partition is read whole, and the checker judges the history: no
// acknowledged record lost, none duplicated, offsets contiguous, each
// producer's keys in order, no phantom reads, and linearizable
// append/read on a sample of partitions. A failure writes the history,
// the report and the seed (replay with -chaos.seed).
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, duration %v", seed, *chaosDuration)
	ctx, cancel := context.WithTimeout(context.Background(), *chaosDuration+5*time.Minute)
	defer cancel()
	c, mesh := meshCluster(t, ctx)
	rec := history.NewRecorder()

	admin, err := client.New(ctx, client.Config{Servers: c.ClientAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	inv := rec.Now()
	if _, err := admin.CreateStream(ctx, client.StreamConfig{Name: chaosStream, Partitions: chaosPartitions}); err != nil {
		t.Fatal(err)
	}
	rec.Append(history.Op{Process: -2, Kind: history.KindCreateStream, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
		Stream: &history.StreamSpec{Name: chaosStream, Partitions: chaosPartitions}})

	inv = rec.Now()
	if _, err := admin.CreateStream(ctx, client.StreamConfig{Name: chaosDead, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	rec.Append(history.Op{Process: -2, Kind: history.KindCreateStream, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
		Stream: &history.StreamSpec{Name: chaosDead, Partitions: 1}})
	inv = rec.Now()
	if _, err := admin.CreateQueue(ctx, client.QueueConfig{Name: chaosQueue, CreateStream: true, Partitions: chaosQueueParts,
		VisibilityTimeout: 3 * time.Second, MaxReceives: chaosMaxReceives, DeadLetterStream: chaosDead}); err != nil {
		t.Fatal(err)
	}
	rec.Append(history.Op{Process: -2, Kind: history.KindCreateStream, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
		Stream: &history.StreamSpec{Name: chaosQueue, Partitions: chaosQueueParts}})
	rec.Append(history.Op{Process: -2, Kind: history.KindCreateQueue, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
		Queue: &history.QueueSpec{Name: chaosQueue, Stream: chaosQueue, DeadLetter: chaosDead, MaxReceives: chaosMaxReceives}})

	// Writers and readers run under the faults; consumers run on until
	// they have caught up after.
	runCtx, stopRun := context.WithCancel(ctx)
	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	stopConsuming := make(chan struct{})
	marks := newFinalMarks()
	var writers, consumers sync.WaitGroup
	process := 0
	next := func() int { process++; return process - 1 }
	for range chaosProducers {
		p := next()
		writers.Go(func() { produceLoop(t, runCtx, c, rec, p) })
	}
	for i := range chaosReaders {
		p := next()
		writers.Go(func() { readLoop(runCtx, c, rec, p, seed+uint64(i)) })
	}
	sender := next()
	writers.Go(func() { queueSender(t, runCtx, c, rec, sender) })
	for range 2 {
		p := next()
		consumers.Go(func() { groupMember(t, consumeCtx, c, rec, p, stopConsuming, marks) })
	}
	for range 2 {
		p := next()
		consumers.Go(func() { queueConsumer(t, consumeCtx, c, rec, p, stopConsuming) })
	}
	faults := nemesis(t, runCtx, c, mesh, rec, seed, *chaosDuration)
	stopRun()
	writers.Wait()
	t.Logf("nemesis: %d faults; %d operations", faults, rec.Len())

	// Heal everything, read every partition whole, and let the consumers
	// catch up with it.
	healAll(t, ctx, c, mesh, rec)
	hw := map[int32]int64{}
	for part := range int32(chaosPartitions) {
		hw[part] = finalRead(t, ctx, c, rec, chaosStream, part)
	}
	for part := range int32(chaosQueueParts) {
		finalRead(t, ctx, c, rec, chaosQueue, part)
	}
	marks.setHW(hw)
	close(stopConsuming)
	drained := make(chan struct{})
	go func() { consumers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(3 * time.Minute):
		stopConsumers()
		<-drained
		t.Errorf("the group and queue consumers did not catch up within 3 minutes of the heal")
	}
	recordGroupOffsets(t, ctx, admin, rec)
	// The dead-letter stream last: the consumers' nacks dead-letter the
	// last poison messages while they drain.
	finalRead(t, ctx, c, rec, chaosDead, 0)
	t.Logf("%d dead letters", readDeadLetters(t, ctx, admin, rec))
	ops := rec.Ops()
	report, err := checker.Check(ops, checker.Config{Seed: int64(seed), LinPartitions: checker.AllPartitions})
	if err != nil {
		t.Fatalf("the history does not check: %v", err)
	}
	if !report.OK() {
		dir := *chaosOut
		if dir == "" {
			dir, _ = os.MkdirTemp("", "sluice-chaos-")
		}
		paths, werr := checker.WriteFailure(dir, int64(seed), ops, report)
		t.Fatalf("the checker found violations (seed %d; written %v %v):\n%s", seed, paths, werr, report)
	}
	t.Logf("checker: ok\n%s", report)
}

// produceLoop sends keyed records with an idempotent producer until ctx
// ends, recording each as an op when its result comes.
func produceLoop(t *testing.T, ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, process int) {
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	p, err := cl.NewProducer(client.ProducerConfig{DeliveryTimeout: 30 * time.Second})
	if err != nil {
		t.Error(err)
		return
	}
	name := fmt.Sprintf("p%d", process)
	tick := time.NewTicker(produceEvery)
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			// Wait for what is in flight: an unknown result is recorded
			// as such.
			fctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			_ = p.Close(fctx)
			cancel()
			return
		case <-tick.C:
		}
		key := fmt.Sprintf("k%d", seq%16)
		value := history.NewValue(name, seq)
		inv := rec.Now()
		p.Produce(ctx, client.Record{Stream: chaosStream, Partition: client.AnyPartition, Key: []byte(key), Value: []byte(value)},
			func(r client.RecordResult, err error) {
				op := history.Op{Process: process, Kind: history.KindProduce, Invoke: inv, Complete: rec.Now(),
					Produce: &history.Produce{Stream: chaosStream, Partition: history.AnyPartition, Key: key, Value: value,
						Producer: name, Seq: seq, Idempotent: true, Ordered: true}}
				switch {
				case err == nil:
					op.Outcome = history.OK
					op.Produce.Result = &history.Position{Partition: r.Partition, Offset: r.Offset}
				case errors.Is(err, client.ErrRecordTooLarge), errors.Is(err, client.ErrInvalidArgument):
					op.Outcome, op.Error = history.Failed, err.Error()
				default:
					op.Outcome, op.Error = history.Unknown, err.Error()
				}
				rec.Append(op)
			})
	}
}

// nodeAPIs dials every node's client port directly (not through the
// mesh: clients are outside the faults).
func nodeAPIs(c *proccluster.Cluster) ([]sluicev1.SluiceClient, func()) {
	var conns []*grpc.ClientConn
	var apis []sluicev1.SluiceClient
	for _, addr := range c.ClientAddrs() {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			continue // not an address: leaves that node out
		}
		conns = append(conns, cc)
		apis = append(apis, sluicev1.NewSluiceClient(cc))
	}
	return apis, func() {
		for _, cc := range conns {
			_ = cc.Close()
		}
	}
}

// fetchOnce reads one partition from offset at whichever node answers
// (a node that does not lead it refuses), and records the read.
func fetchOnce(ctx context.Context, apis []sluicev1.SluiceClient, rec *history.Recorder, process int, stream string, part int32,
	from int64, final bool) (*history.FetchResult, error) {
	var lastErr error
	for _, api := range apis {
		inv := rec.Now()
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// Reads under the faults take a small slice: the history keeps
		// every record a read returned, and a long run reads often.
		maxBytes := int32(readBytes)
		if final {
			maxBytes = 1 << 20
		}
		resp, err := api.Fetch(fctx, &sluicev1.FetchRequest{Stream: stream, Partition: part, Offset: from, MaxBytes: maxBytes})
		cancel()
		if err != nil {
			lastErr = err
			continue // not the leader, down, or partitioned: a read that did not happen
		}
		res := &history.FetchResult{LogStart: resp.GetLogStartOffset(), HighWatermark: resp.GetHighWatermark()}
		for b := resp.GetBatches(); len(b) > 0; {
			h, err := batch.Validate(b)
			if err != nil {
				return nil, fmt.Errorf("partition %d at %d: %w", part, from, err)
			}
			recs, err := batch.DecodeRecords(b, nil, 64<<20)
			if err != nil {
				return nil, fmt.Errorf("partition %d at %d: %w", part, from, err)
			}
			for _, r := range recs {
				if r.Offset >= from {
					res.Records = append(res.Records, history.Record{Offset: r.Offset, Value: history.ValueOf(r.Value)})
				}
			}
			b = b[h.Size():]
		}
		if !final {
			rec.Append(history.Op{Process: process, Kind: history.KindFetch, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
				Fetch: &history.Fetch{Stream: stream, Partition: part, From: from, Result: res}})
		}
		return res, nil
	}
	return nil, lastErr
}

// readLoop reads random partitions from random offsets until ctx ends.
func readLoop(ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, process int, seed uint64) {
	apis, closeAll := nodeAPIs(c)
	defer closeAll()
	rng := rand.New(rand.NewPCG(seed, 7))
	hw := make([]int64, chaosPartitions)
	for ctx.Err() == nil {
		part := int32(rng.IntN(chaosPartitions))
		from := int64(0)
		if hw[part] > 0 {
			from = rng.Int64N(hw[part] + 1)
		}
		res, err := fetchOnce(ctx, apis, rec, process, chaosStream, part, from, false)
		if err == nil {
			hw[part] = max(hw[part], res.HighWatermark)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// finalRead reads a partition whole, from its log start to its high
// watermark, at its leader, records it as the final read and returns the
// high watermark.
func finalRead(t *testing.T, ctx context.Context, c *proccluster.Cluster, rec *history.Recorder, stream string, part int32) int64 {
	apis, closeAll := nodeAPIs(c)
	defer closeAll()
	inv := rec.Now()
	var all *history.FetchResult
	deadline := time.Now().Add(2 * time.Minute)
	for from := int64(0); all == nil || from < all.HighWatermark; {
		res, err := fetchOnce(ctx, apis, rec, -1, stream, part, from, true)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("final read of partition %d at %d: %v", part, from, err)
			}
			<-time.After(100 * time.Millisecond)
			continue
		}
		if all == nil {
			all = &history.FetchResult{LogStart: res.LogStart}
			from = res.LogStart
		}
		all.HighWatermark = res.HighWatermark
		for _, r := range res.Records {
			if r.Offset >= from {
				all.Records = append(all.Records, r)
				from = r.Offset + 1
			}
		}
		if len(res.Records) == 0 && from < res.HighWatermark {
			t.Fatalf("final read of partition %d: nothing at %d below the high watermark %d", part, from, res.HighWatermark)
		}
	}
	rec.Append(history.Op{Process: -1, Kind: history.KindFetch, Outcome: history.OK, Invoke: inv, Complete: rec.Now(),
		Fetch: &history.Fetch{Stream: stream, Partition: part, From: all.LogStart, Final: true, Result: all}})
	return all.HighWatermark
}

// nemesis injects one fault at a time until d passes: SIGKILL then
// restart, SIGSTOP then SIGCONT, isolating a node in the mesh (refused
// connections), blackholing it (connections stay open and lose every
// byte: only timeouts notice) or slowing its links (50-250 ms each way,
// with jitter), then healing; each held 1-4 s, with 1-3 s of calm
// between. It returns the number of faults.
func nemesis(t *testing.T, ctx context.Context, c *proccluster.Cluster, mesh *netproxy.Mesh, rec *history.Recorder,
	seed uint64, d time.Duration) int {
	rng := rand.New(rand.NewPCG(seed, 1))
	end := time.Now().Add(d)
	n := 0
	fault := func(action history.FaultAction, node string, note string) {
		now := rec.Now()
		rec.Append(history.Op{Process: -1, Kind: history.KindFault, Outcome: history.OK, Invoke: now, Complete: now,
			Fault: &history.Fault{Action: action, Nodes: []string{node}, Note: note}})
	}
	sleep := func(lo, hi time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(lo + time.Duration(rng.Int64N(int64(hi-lo)))):
		}
	}
	for time.Now().Before(end) && ctx.Err() == nil {
		sleep(time.Second, 3*time.Second)
		i := rng.IntN(3)
		id := c.Addrs()[i].ID
		switch rng.IntN(5) {
		case 0:
			fault(history.FaultKill, id, "")
			if err := c.Kill(i); err != nil {
				t.Errorf("kill %s: %v", id, err)
			}
			sleep(time.Second, 4*time.Second)
			if err := c.Restart(context.Background(), i); err != nil {
				t.Errorf("restart %s: %v", id, err)
			}
			fault(history.FaultRestart, id, "")
		case 1:
			fault(history.FaultStop, id, "")
			if err := c.Pause(i); err != nil {
				t.Errorf("pause %s: %v", id, err)
			}
			sleep(time.Second, 4*time.Second)
			if err := c.Resume(i); err != nil {
				t.Errorf("resume %s: %v", id, err)
			}
			fault(history.FaultCont, id, "")
		case 2:
			fault(history.FaultPartition, id, "isolated")
			if err := mesh.Isolate(id); err != nil {
				t.Errorf("isolate %s: %v", id, err)
			}
			sleep(time.Second, 4*time.Second)
			if err := mesh.HealAll(); err != nil {
				t.Errorf("heal: %v", err)
			}
			fault(history.FaultHeal, id, "")
		case 3:
			fault(history.FaultPartition, id, "blackholed")
			others := slices.DeleteFunc(mesh.Nodes(), func(n string) bool { return n == id })
			if err := errors.Join(mesh.SetFault(netproxy.FaultBlackhole, []string{id}, others),
				mesh.SetFault(netproxy.FaultBlackhole, others, []string{id})); err != nil {
				t.Errorf("blackhole %s: %v", id, err)
			}
			sleep(time.Second, 4*time.Second)
			if err := mesh.HealAll(); err != nil {
				t.Errorf("heal: %v", err)
			}
			fault(history.FaultHeal, id, "")
		case 4:
			d := 50*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond)))
			fault(history.FaultOther, id, fmt.Sprintf("links delayed %v + up to 50ms", d))
			others := slices.DeleteFunc(mesh.Nodes(), func(n string) bool { return n == id })
			if err := errors.Join(mesh.SetDelay(d, 50*time.Millisecond, []string{id}, others),
				mesh.SetDelay(d, 50*time.Millisecond, others, []string{id})); err != nil {
				t.Errorf("delay %s: %v", id, err)
			}
			sleep(time.Second, 4*time.Second)
			if err := mesh.HealAll(); err != nil {
				t.Errorf("heal: %v", err)
			}
			fault(history.FaultHeal, id, "delay over")
		}
		n++
	}
	return n
}

// healAll ends every fault and waits until every node is ready.
func healAll(t *testing.T, ctx context.Context, c *proccluster.Cluster, mesh *netproxy.Mesh, rec *history.Recorder) {
	if err := mesh.HealAll(); err != nil {
		t.Fatal(err)
	}
	for i := range c.Addrs() {
		if !c.Running(i) {
			if err := c.Restart(ctx, i); err != nil {
				t.Fatal(err)
			}
		} else {
			_ = c.Resume(i)
		}
		if err := c.WaitReady(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	now := rec.Now()
	rec.Append(history.Op{Process: -1, Kind: history.KindFault, Outcome: history.OK, Invoke: now, Complete: now,
		Fault: &history.Fault{Action: history.FaultHeal, Note: "all healed, every node ready"}})
}
