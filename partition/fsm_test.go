package partition

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/replication"
)

func TestProduceAssignsContiguousOffsets(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	defer r.Close()
	d := &direct{r: r, term: 3}
	r.Attach(d)
	ctx := context.Background()
	want := int64(0)
	for i := 1; i <= 20; i++ {
		res, err := r.Produce(ctx, plain(t, i))
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != want || res.LastOffset != want+int64(i)-1 || res.Duplicate {
			t.Fatalf("batch %d: %+v, want base %d", i, res, want)
		}
		want += int64(i)
	}
	if r.HighWatermark() != want {
		t.Fatalf("high watermark %d, want %d", r.HighWatermark(), want)
	}
	// Every fetched batch carries the raft term as its leader epoch.
	out, err := r.Fetch(ctx, nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h, err := batch.Validate(out)
	if err != nil || h.PartitionLeaderEpoch != 3 {
		t.Fatalf("fetched batch epoch %d, err %v", h.PartitionLeaderEpoch, err)
	}
}

func TestProduceRejectsBadBatches(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	defer r.Close()
	d := &direct{r: r}
	r.Attach(d)
	good := plain(t, 2)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	for name, b := range map[string][]byte{
		"empty":    nil,
		"crc":      bad,
		"trailing": append(append([]byte(nil), good...), 0),
		"short":    good[:40],
	} {
		if _, err := r.Produce(context.Background(), b); !errors.Is(err, ErrInvalidBatch) {
			t.Errorf("%s: %v, want ErrInvalidBatch", name, err)
		}
	}
	if d.index != 0 {
		t.Fatalf("%d bad batches were proposed", d.index)
	}
	// A bad batch that reaches the state machine anyway (another leader's
	// bug) is refused the same way on every replica, not fatal.
	resp := r.Apply(replication.Entry{Index: 1, Data: encodeProduce(nil, 0, bad)})
	if err, _ := resp.(error); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("Apply(bad batch) = %v", resp)
	}
	if r.HighWatermark() != 0 || r.AppliedIndex() != 1 {
		t.Fatalf("hw %d applied %d", r.HighWatermark(), r.AppliedIndex())
	}
}

func TestUndecodableCommandIsFatal(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	defer r.Close()
	for name, cmd := range map[string][]byte{
		"empty":         nil,
		"version":       {9, cmdProduce, 0, 0, 0, 0, 0, 0, 0, 0},
		"type":          {commandVersion, 77},
		"short produce": {commandVersion, cmdProduce, 1},
		"advance len":   {commandVersion, cmdAdvanceLogStart, 1},
		"short commit":  commitCmd(1, "g", 1, 0, 0, "")[:20],
		"commit extra":  append(commitCmd(1, "g", 1, 0, 0, ""), 0),
		"short delete":  deleteCmd("g", 1)[:6],
	} {
		resp := r.Apply(replication.Entry{Index: 5, Data: cmd})
		var fe *replication.FatalError
		if err, _ := resp.(error); !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Apply = %v, want a FatalError wrapping ErrCorrupt", name, resp)
		}
	}
	if r.AppliedIndex() != 0 {
		t.Fatalf("applied index moved to %d past a fatal entry", r.AppliedIndex())
	}
}

func TestIdempotentProducer(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	r := n.open(t, "p0")
	defer r.Close()
	r.Attach(&direct{r: r})
	ctx := context.Background()
	produce := func(b []byte) (ProduceResult, error) { return r.Produce(ctx, b) }

	first, err := produce(idempotent(t, 7, 0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	second, err := produce(idempotent(t, 7, 0, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Retries of either in-flight batch are answered, not written again.
	for _, tc := range []struct {
		b    []byte
		want ProduceResult
	}{
		{idempotent(t, 7, 0, 0, 3), ProduceResult{BaseOffset: first.BaseOffset, LastOffset: first.LastOffset, Duplicate: true}},
		{idempotent(t, 7, 0, 3, 2), ProduceResult{BaseOffset: second.BaseOffset, LastOffset: second.LastOffset, Duplicate: true}},
	} {
		got, err := produce(tc.b)
		if err != nil || got != tc.want {
			t.Fatalf("retry: %+v, %v; want %+v", got, err, tc.want)
		}
	}
	if r.HighWatermark() != 5 {
		t.Fatalf("high watermark %d after retries, want 5", r.HighWatermark())
	}
	var seqErr *SequenceError
	if _, err := produce(idempotent(t, 7, 0, 9, 1)); !errors.As(err, &seqErr) || seqErr.Want != 5 {
		t.Fatalf("gap: %v", err)
	}
	if _, err := produce(idempotent(t, 8, 0, 4, 1)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new producer not at 0: %v", err)
	}
	// A new epoch starts at 0 and fences the old one.
	if _, err := produce(idempotent(t, 7, 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := produce(idempotent(t, 7, 0, 5, 1)); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("old epoch: %v", err)
	}
	// The table survives a restart (checkpoint) and dedups after it.
	if err := r.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := n.open(t, "p0")
	defer r2.Close()
	r2.Attach(&direct{r: r2, index: r.AppliedIndex()})
	got, err := r2.Produce(ctx, idempotent(t, 7, 1, 0, 1))
	if err != nil || !got.Duplicate {
		t.Fatalf("retry after restart: %+v, %v", got, err)
	}
}

func TestSequenceWraps(t *testing.T) {
	if got := nextSeq(2147483646, 1); got != 2147483647 {
		t.Fatal(got)
	}
	if got := nextSeq(2147483647, 1); got != 0 {
		t.Fatal(got)
	}
	if got := nextSeq(2147483640, 10); got != 2 {
		t.Fatal(got)
	}
}

// TestRestartReplaysFromCheckpoint crashes (reopens without closing) a
// replica between checkpoints: the log is cut back to the checkpoint and the
// replayed commands rebuild the same log, byte for byte.
func TestRestartReplaysFromCheckpoint(t *testing.T) {
	fs := vfs.NewMem()
	n := newNode(t, fs)
	r := n.open(t, "p0")
	d := &direct{r: r, term: 1}
	r.Attach(d)
	for i := 0; i < 10; i++ {
		if _, err := r.Produce(context.Background(), idempotent(t, 1, 0, int32(i*2), 2)); err != nil {
			t.Fatal(err)
		}
	}
	want, err := r.Fetch(context.Background(), nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	applied := r.AppliedIndex()
	// CheckpointEvery is 4: the checkpoint is at 8 and two commands follow.
	if err := r.lg.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := r.lg.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := n.open(t, "p0")
	defer r2.Close()
	if r2.AppliedIndex() != 8 || r2.HighWatermark() != 16 {
		t.Fatalf("after restart: applied %d, hw %d; want 8, 16", r2.AppliedIndex(), r2.HighWatermark())
	}
	// Raft replays from before the checkpoint; entries up to it are skipped.
	for _, e := range d.log {
		if resp := r2.Apply(e); resp != nil {
			if err, ok := resp.(error); ok {
				t.Fatalf("replay %d: %v", e.Index, err)
			}
		}
	}
	if r2.AppliedIndex() != applied {
		t.Fatalf("applied %d, want %d", r2.AppliedIndex(), applied)
	}
	got, err := r2.Fetch(context.Background(), nil, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("replayed log differs (%d vs %d bytes)", len(got), len(want))
	}
}

// TestCheckpointTrigger: a checkpoint is taken when either the command
// count or the byte count since the last one reaches its bound.
func TestCheckpointTrigger(t *testing.T) {
	one := len(encodeProduce(nil, 1, plain(t, 2)))
	for _, tc := range []struct {
		name        string
		every       int
		bytes       int64
		produce     int
		wantApplied uint64 // the checkpoint's applied index
	}{
		{"by count", 3, 1 << 30, 7, 6},
		{"by bytes", 1000, int64(2 * one), 5, 4},
		{"bytes just short", 1000, int64(2*one) + 1, 5, 3},
		{"count first", 2, int64(3 * one), 5, 4},
		{"neither reached", 100, 1 << 30, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, vfs.NewMem())
			cfg := n.config("p0")
			cfg.CheckpointEvery, cfg.CheckpointBytes = tc.every, tc.bytes
			r, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.Attach(&direct{r: r, term: 1})
			for range tc.produce {
				if _, err := r.Produce(context.Background(), plain(t, 2)); err != nil {
					t.Fatal(err)
				}
			}
			ck, ok, err := loadCheckpoint(n.db, "p0")
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]uint64{true: ck.applied}[ok]; got != tc.wantApplied {
				t.Fatalf("checkpoint at applied %d (stored %v), want %d", got, ok, tc.wantApplied)
			}
		})
	}
}
