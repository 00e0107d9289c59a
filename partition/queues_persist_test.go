package partition

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/replication"
)

// TestQueuesSurviveCrash applies produces, queue updates (ops accepted and
// refused), deletes and log start moves, crashes the node on a crashable
// file system (only synced data kept, or some or all of the rest), and
// reopens it: the replica comes back with the queue states of its last
// checkpoint, and raft's replay of the entries after it gives the same
// answers and the same states as before the crash.
func TestQueuesSurviveCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	r := newNode(t, mem).open(t, "p0") // CheckpointEvery 4
	defer r.Close()
	var (
		entries []replication.Entry
		resps   []any
		states  = [][]string{nil} // by applied index
	)
	apply := func(cmd []byte) {
		e := replication.Entry{Index: uint64(len(entries) + 1), Term: 1, Data: cmd}
		resp := r.Apply(e)
		if _, fatal := resp.(*replication.FatalError); fatal {
			t.Fatalf("entry %d: %v", e.Index, resp)
		}
		entries, resps, states = append(entries, e), append(resps, resp), append(states, describeQueues(r, 40))
	}
	ts := int64(1_000)
	produce := func() { ts++; apply(encodeProduce(nil, ts, plain(t, 5))) }
	update := func(q string, ops ...QueueOp) { ts++; apply(queueCmd(ts, q, ops...)) }

	produce()                                          // 1: [0, 5)
	update("a", qInit(0), qRecv(1), qRecv(2), qAck(1)) // 2
	update("b", qInit(3), qRecv(3), qRecv(9))          // 3: 9 is past the log end
	produce()                                          // 4: [5, 10), checkpoint
	update("a", qAck(0), qRecv(7), qAck(2), qRecv(2))  // 5
	apply(encodeAdvanceLogStart(4))                    // 6: floors move, checkpoint
	update("b", qRecv(3), qAck(4), qAckRange(6, 8))    // 7
	apply(queueDeleteCmd("a"))                         // 8
	update("a", qRecv(1))                              // 9: unknown
	produce()                                          // 10: [10, 15), checkpoint
	update("c", qInit(10), qRecv(12), qAck(14))        // 11
	update("b", qAck(3), qInit(0), qRecv(11))          // 12
	produce()                                          // 13: [15, 20)
	update("c", qRecv(12), qAck(13), qRecv(19))        // 14: checkpoint
	update("b", qRecv(15), qAckRange(9, 12), qAck(20)) // 15: 20 is past the log end
	produce()                                          // 16: [20, 25)
	update("c", qAckRange(0, 12), qInit(1), qRecv(20), // 17: 12 acked, then not counted
		qRecv(24), qAck(12), qRecv(12), qAckRange(21, 30))
	final := describeQueues(r, 40)
	if len(final) != 2 || len(states[14]) != 2 || slices.Equal(final, states[14]) {
		t.Fatalf("final queues %q, at the checkpoint %q", final, states[14])
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for _, pct := range []int{0, 50, 100} {
		t.Run(fmt.Sprint("unsynced kept ", pct, "%"), func(t *testing.T) {
			img := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
			r2 := newNode(t, img).open(t, "p0")
			defer r2.Close()
			if r2.AppliedIndex() != 14 {
				t.Fatalf("reopened at applied %d, want the checkpoint at 14", r2.AppliedIndex())
			}
			if got := describeQueues(r2, 40); !slices.Equal(got, states[14]) {
				t.Fatalf("reopened with\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(states[14], "\n"))
			}
			checkQueueBytes(t, r2)
			for i, e := range entries {
				resp := r2.Apply(e)
				if e.Index <= 14 {
					if resp != nil {
						t.Fatalf("replay of %d (before the checkpoint): %v", e.Index, resp)
					}
					continue
				}
				if !reflect.DeepEqual(resp, resps[i]) {
					t.Fatalf("replay of %d: %#v, first time %#v", e.Index, resp, resps[i])
				}
				if got := describeQueues(r2, 40); !slices.Equal(got, states[e.Index]) {
					t.Fatalf("after replaying %d:\n%s\nwant\n%s", e.Index, strings.Join(got, "\n"), strings.Join(states[e.Index], "\n"))
				}
			}
			if r2.HighWatermark() != r.HighWatermark() || r2.queueBytes != r.queueBytes ||
				!bytes.Equal(referenceQueueTable(t, r2), referenceQueueTable(t, r)) {
				t.Fatalf("replayed: hw %d, table %d bytes; want %d, %d", r2.HighWatermark(), r2.queueBytes,
					r.HighWatermark(), r.queueBytes)
			}
		})
	}
}

// makeQueues gives r three queues with done ranges and receive counts.
func makeQueues(t testing.TB, r *Replica) {
	t.Helper()
	ctx := context.Background()
	end := r.HighWatermark()
	for i, q := range []string{"orders", "emails", "grüße"} {
		start := r.LogStartOffset() + int64(i)
		ops := []QueueOp{qInit(start)}
		for off := start; off < end; off++ {
			ops = append(ops, qRecv(off))
			if off%3 == 0 {
				ops = append(ops, qRecv(off))
			}
			if off%4 == 1 {
				ops = append(ops, qAck(off))
			}
		}
		res, err := r.UpdateQueue(ctx, q, ops)
		if err != nil {
			t.Fatal(err)
		}
		for j, x := range res {
			if x.Err != nil {
				t.Fatalf("%s op %d: %v", q, j, x.Err)
			}
		}
	}
}

// TestQueuesSnapshot: a snapshot carries the queue states to another
// replica, replacing the ones it had, through the stream (Persist into a
// buffer) and through a SnapshotStore that keeps it as links; both are
// the documented format.
func TestQueuesSnapshot(t *testing.T) {
	for _, path := range []string{"stream", "store"} {
		t.Run(path, func(t *testing.T) {
			e := newStoreEnv(t, "mem")
			src := e.open(t, "p0")
			defer src.Close()
			src.Attach(&direct{r: src, term: 2})
			seq := int32(0)
			produceIdempotent(t, src, 4, &seq, 40)
			commitOffsets(t, src, 2)
			makeQueues(t, src)
			wantQueues := describeQueues(src, src.HighWatermark()+1)
			want := referenceStream(3, src.AppliedIndex(), src.clock, src.LogStartOffset(), src.log().LogEndOffset(),
				src.producers.appendTo(nil), referenceOffsetTable(src.CommittedOffsets()), referenceQueueTable(t, src),
				snapshotPrefixes(t, src))
			s, err := src.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Release()
			// Updates after the snapshot are not in it.
			if _, err := src.UpdateQueue(context.Background(), "later", []QueueOp{qInit(0)}); err != nil {
				t.Fatal(err)
			}
			var got []byte
			switch path {
			case "stream":
				var buf bytes.Buffer
				if err := s.Persist(&buf); err != nil {
					t.Fatal(err)
				}
				got = buf.Bytes()
			case "store":
				store := e.store(t, 2)
				sink := createSink(t, store, 2, src.AppliedIndex())
				if err := persistInto(s, sink); err != nil {
					t.Fatal(err)
				}
				id, _ := parseSnapshotID(sink.ID())
				if !exists(t, e.fs, store.path(id, manifestName)) {
					t.Fatal("snapshot not kept as links")
				}
				_, got = openAll(t, store, sink.ID())
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("snapshot of %d bytes differs from the format's encoding (%d bytes)", len(got), len(want))
			}

			dst := newNode(t, vfs.NewMem()).open(t, "p0")
			defer dst.Close()
			dst.Attach(&direct{r: dst})
			if _, err := dst.Produce(context.Background(), plain(t, 5)); err != nil {
				t.Fatal(err)
			}
			if _, err := dst.UpdateQueue(context.Background(), "dst only", []QueueOp{qInit(0), qRecv(1)}); err != nil {
				t.Fatal(err)
			}
			if err := dst.Restore(bytes.NewReader(got)); err != nil {
				t.Fatal(err)
			}
			if gotQueues := describeQueues(dst, src.HighWatermark()+1); len(wantQueues) != 3 || !slices.Equal(gotQueues, wantQueues) {
				t.Fatalf("restored queues\n%s\nwant\n%s", strings.Join(gotQueues, "\n"), strings.Join(wantQueues, "\n"))
			}
			checkQueueBytes(t, dst)
			// The restore was checkpointed with them: a restart keeps them.
			ck, ok, err := loadCheckpoint(dst.cfg.DB, "p0")
			if err != nil || !ok || len(ck.queues) != 3 {
				t.Fatalf("checkpoint after restore: %d queues, %v %v", len(ck.queues), ok, err)
			}
			// And the restored states go on.
			dst.Attach(&direct{r: dst, index: dst.AppliedIndex()})
			res, err := dst.UpdateQueue(context.Background(), "orders", []QueueOp{qRecv(src.HighWatermark() - 1)})
			if err != nil || res[0].Err != nil || res[0].Count != 2 {
				t.Fatalf("receive after restore: %+v %v", res, err)
			}
		})
	}
}

// TestRestoreSnapshotV2: a version 2 snapshot stream (from before queues)
// restores the log and the committed offsets and leaves no queues,
// replacing those the replica had.
func TestRestoreSnapshotV2(t *testing.T) {
	src, _ := snapshotBytes(t, 40)
	v2 := referenceStream(2, src.AppliedIndex(), src.clock, src.LogStartOffset(), src.log().LogEndOffset(),
		src.producers.appendTo(nil), referenceOffsetTable(src.CommittedOffsets()), nil, snapshotPrefixes(t, src))
	dst := newNode(t, vfs.NewMem()).open(t, "p0")
	defer dst.Close()
	dst.Attach(&direct{r: dst})
	if _, err := dst.UpdateQueue(context.Background(), "q", []QueueOp{qInit(0)}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(v2)); err != nil {
		t.Fatal(err)
	}
	if got := dst.Queues(); len(got) != 0 || dst.queueBytes != 4 {
		t.Fatalf("after a v2 restore: queues %q (%d bytes)", got, dst.queueBytes)
	}
	if got, want := dst.CommittedOffsets(), src.CommittedOffsets(); len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("offsets %+v, want %+v", got, want)
	}
	if dst.AppliedIndex() != src.AppliedIndex() || dst.HighWatermark() != src.HighWatermark() {
		t.Fatalf("restored applied %d hw %d; source %d %d", dst.AppliedIndex(), dst.HighWatermark(), src.AppliedIndex(), src.HighWatermark())
	}
}

// TestOpenCheckpointV2: a replica whose stored checkpoint is version 2
// (written before queues) opens with its offsets and no queues, and its
// next checkpoint is version 3.
func TestOpenCheckpointV2(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	r.Attach(&direct{r: r, term: 1})
	if _, err := r.Produce(context.Background(), plain(t, 5)); err != nil {
		t.Fatal(err)
	}
	commitOffsets(t, r, 2)
	if err := r.checkpoint(); err != nil {
		t.Fatal(err)
	}
	wantOffsets := r.CommittedOffsets()
	ck, _, err := loadCheckpoint(n.db, "p0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	v2 := referenceCheckpointV2(ck.applied, ck.logEnd, ck.clock, ck.producers.appendTo(nil), ck.offsets.appendTo(nil))
	if err := n.db.Set(checkpointKey("p0"), v2, nil); err != nil {
		t.Fatal(err)
	}
	r = n.open(t, "p0")
	defer r.Close()
	if r.AppliedIndex() != ck.applied || !slices.Equal(r.CommittedOffsets(), wantOffsets) || len(r.Queues()) != 0 || r.queueBytes != 4 {
		t.Fatalf("opened at %d with offsets %+v, queues %q", r.AppliedIndex(), r.CommittedOffsets(), r.Queues())
	}
	r.Attach(&direct{r: r, term: 1, index: r.AppliedIndex()})
	if _, err := r.UpdateQueue(context.Background(), "q", []QueueOp{qInit(1)}); err != nil {
		t.Fatal(err)
	}
	if err := r.checkpoint(); err != nil {
		t.Fatal(err)
	}
	v, closer, err := n.db.Get(checkpointKey("p0"))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if v[0] != checkpointVersion {
		t.Fatalf("checkpoint written as version %d", v[0])
	}
}
