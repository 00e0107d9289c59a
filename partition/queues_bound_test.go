package partition

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/log"
)

// tinyBatch builds a batch of n records of one byte each, no key.
func tinyBatch(t testing.TB, n int) []byte {
	t.Helper()
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{Timestamp: 1000, Value: []byte{'x'}}
	}
	b, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: -1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestQueueStateBounded produces N tiny records, then receives and acks
// every one through UpdateQueue, acking in random order among the
// messages in flight (a window of 1000), with the odd redelivery. The
// queue's state, and the checkpoints that carry it, never grow past what
// the window accounts for, and once everything is acked they hold the
// floor only. N is SLUICE_QUEUE_MESSAGES (default 200,000).
//
// The file system is vfs.NewMem: the figures are Pebble value sizes, and a
// crashable file system copies the whole active segment at every sync.
func TestQueueStateBounded(t *testing.T) {
	n := int64(200_000)
	if s := os.Getenv("SLUICE_QUEUE_MESSAGES"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			t.Fatalf("SLUICE_QUEUE_MESSAGES=%q", s)
		}
		n = v
	}
	const (
		perBatch   = 10_000
		window     = 1000
		opsPerCall = 256
		queue      = "q"
		// Every pending offset has a receive count and at most one done
		// range above it.
		stateBound = ackStateFixed + (ackReceiveBytes+ackRangeBytes)*window
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_QUEUE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_QUEUE_SEED=%q", s)
		}
		seed = v
	}
	t.Logf("seed %d (SLUICE_QUEUE_SEED replays it), %d messages", seed, n)
	rng := rand.New(rand.NewPCG(seed, 1))

	nd := newNode(t, vfs.NewMem())
	cfg := nd.config("p0")
	cfg.Log = log.Config{FS: nd.fs, Dir: "logs/p0", SegmentBytes: 32 << 20}
	cfg.CheckpointEvery = 64
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &direct{r: r, term: 1}
	r.Attach(d)
	ctx := context.Background()

	start := time.Now()
	tiny := tinyBatch(t, perBatch)
	for r.HighWatermark() < n {
		b := tiny
		if left := n - r.HighWatermark(); left < perBatch {
			b = tinyBatch(t, int(left))
		}
		if _, err := r.Produce(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	produced := time.Since(start)

	checkpointSize := func() int {
		t.Helper()
		v, closer, err := nd.db.Get(checkpointKey("p0"))
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		return len(v)
	}
	if err := r.checkpoint(); err != nil {
		t.Fatal(err)
	}
	base := checkpointSize() // no queue
	entryBound := base + queueEntryFixed + len(queue) + stateBound

	start = time.Now()
	if res, err := r.UpdateQueue(ctx, queue, []QueueOp{qInit(0)}); err != nil || res[0].Err != nil {
		t.Fatalf("init: %+v %v", res, err)
	}
	var (
		next                 int64
		inflight             []int64
		ops                  = make([]QueueOp, 0, opsPerCall)
		calls, checkpoints   int
		maxState, maxCkpt    int
		maxRanges, maxRecvs  int
		enc                  []byte
		redelivered, ackSeen int64
	)
	for next < n || len(inflight) > 0 {
		ops = ops[:0]
		for len(ops) < opsPerCall && (next < n || len(inflight) > 0) {
			switch {
			case next < n && len(inflight) < window:
				ops = append(ops, qRecv(next))
				inflight = append(inflight, next)
				next++
			case rng.IntN(100) == 0:
				// A lease ran out: the message goes out again.
				ops = append(ops, qRecv(inflight[rng.IntN(len(inflight))]))
				redelivered++
			default:
				i := rng.IntN(len(inflight))
				ops = append(ops, qAck(inflight[i]))
				inflight[i] = inflight[len(inflight)-1]
				inflight = inflight[:len(inflight)-1]
			}
		}
		res, err := r.UpdateQueue(ctx, queue, ops)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for i, x := range res {
			if x.Err != nil || (ops[i].Kind == QueueReceive && x.Count == 0) || (ops[i].Kind == QueueAck && !x.NewlyDone) {
				t.Fatalf("call %d op %d (%s %d): %+v", calls, i, ops[i].Kind, ops[i].Offset, x)
			}
			if ops[i].Kind == QueueAck {
				ackSeen++
			}
		}
		r.QueueState(queue, func(s *consumergroup.AckState) {
			enc = s.AppendBinary(enc[:0])
			maxState, maxRanges, maxRecvs = max(maxState, len(enc)), max(maxRanges, s.Ranges()), max(maxRecvs, s.Receives())
		})
		if maxState > stateBound {
			t.Fatalf("call %d: queue state of %d bytes, over the bound %d for a window of %d", calls, maxState, stateBound, window)
		}
		if r.sinceCheckpoint == 0 { // this call's command checkpointed
			checkpoints++
			if size := checkpointSize(); size > maxCkpt {
				maxCkpt = size
				if size > entryBound {
					t.Fatalf("call %d: checkpoint of %d bytes, over the bound %d", calls, size, entryBound)
				}
			}
		}
	}
	if err := r.checkpoint(); err != nil {
		t.Fatal(err)
	}
	final := checkpointSize()
	var finalState []byte
	r.QueueState(queue, func(s *consumergroup.AckState) {
		finalState = s.AppendBinary(nil)
		if s.Floor() != n || s.Ranges() != 0 || s.Receives() != 0 {
			t.Errorf("after acking everything: floor %d, %d ranges, %d receive counts", s.Floor(), s.Ranges(), s.Receives())
		}
	})
	if ackSeen != n || len(finalState) != ackStateFixed || final != base+queueEntryFixed+len(queue)+ackStateFixed {
		t.Errorf("acks %d of %d; final state %d bytes, checkpoint %d (%d without the queue)", ackSeen, n, len(finalState), final, base)
	}
	checkQueueBytes(t, r)
	t.Logf("produced %d records in %d batches in %v; %d UpdateQueue calls (%d ops each, %d redeliveries) in %v",
		n, (n+perBatch-1)/perBatch, produced.Round(time.Millisecond), calls, opsPerCall, redelivered, time.Since(start).Round(time.Millisecond))
	t.Logf("queue state: max %d bytes (%d ranges, %d receive counts at most; bound %d), final %d bytes",
		maxState, maxRanges, maxRecvs, stateBound, len(finalState))
	t.Logf("checkpoint value: %d bytes without the queue, max %d over %d checkpoints (bound %d), final %d",
		base, maxCkpt, checkpoints, entryBound, final)
}
