package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/sluicedb/sluice/batch"
)

// snapshotBytes produces n batches on a fresh replica (with retention moving
// the log start, committed offsets and queues) and returns the replica and
// its snapshot stream.
func snapshotBytes(t testing.TB, n int) (*Replica, []byte) {
	t.Helper()
	src := newNode(t, vfs.NewMem())
	r := src.open(t, "p0")
	t.Cleanup(func() { _ = r.Close() })
	d := &direct{r: r, term: 2}
	r.Attach(d)
	for i := 0; i < n; i++ {
		if _, err := r.Produce(context.Background(), idempotent(t, 4, 0, int32(i*3), 3)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Propose(context.Background(), encodeAdvanceLogStart(10)); err != nil {
		t.Fatal(err)
	}
	commitOffsets(t, r, 3)
	makeQueues(t, r)
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var buf bytes.Buffer
	if err := s.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	return r, buf.Bytes()
}

func TestSnapshotRestore(t *testing.T) {
	src, snap := snapshotBytes(t, 60)
	dst := newNode(t, vfs.NewMem()).open(t, "p0")
	defer dst.Close()
	// The destination has some unrelated state that the restore replaces.
	dst.Attach(&direct{r: dst})
	if _, err := dst.Produce(context.Background(), plain(t, 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.CommitOffset(context.Background(), OffsetCommit{Group: "dst only", Incarnation: 1, Offset: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.UpdateQueue(context.Background(), "dst only", []QueueOp{qInit(1)}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	// The committed offsets are the source's, and only those.
	if got, want := dst.CommittedOffsets(), src.CommittedOffsets(); len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("restored committed offsets %+v, want %+v", got, want)
	}
	// So are the queues.
	if got, want := describeQueues(dst, src.HighWatermark()), describeQueues(src, src.HighWatermark()); len(want) != 3 || !slices.Equal(got, want) {
		t.Fatalf("restored queues %q, want %q", got, want)
	}
	if dst.AppliedIndex() != src.AppliedIndex() || dst.HighWatermark() != src.HighWatermark() || dst.LogStartOffset() != src.LogStartOffset() {
		t.Fatalf("restored: applied %d hw %d start %d; source %d %d %d", dst.AppliedIndex(), dst.HighWatermark(),
			dst.LogStartOffset(), src.AppliedIndex(), src.HighWatermark(), src.LogStartOffset())
	}
	for off := src.LogStartOffset(); off < src.HighWatermark(); {
		want, err := src.Fetch(context.Background(), nil, off, 4096)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.Fetch(context.Background(), nil, off, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("offset %d: restored bytes differ", off)
		}
		off = lastOffsetOf(t, want) + 1
	}
	// The producer table came along: a retry is a duplicate.
	d := &direct{r: dst, index: dst.AppliedIndex()}
	dst.Attach(d)
	res, err := dst.Produce(context.Background(), idempotent(t, 4, 0, 59*3, 3))
	if err != nil || !res.Duplicate {
		t.Fatalf("retry after restore: %+v, %v", res, err)
	}
}

func TestRestoreRejectsBadStreams(t *testing.T) {
	_, snap := snapshotBytes(t, 10)
	flip := func(i int) []byte {
		b := append([]byte(nil), snap...)
		b[i] ^= 0x10
		return b
	}
	// The offset table follows the producer table and its length.
	offsetTableAt := 41 + int(binary.BigEndian.Uint32(snap[37:])) + 4
	// The queue table follows the offset table and its length.
	queueTableAt := offsetTableAt + int(binary.BigEndian.Uint32(snap[offsetTableAt-4:])) + 4
	cases := map[string][]byte{
		"queue count":    flip(queueTableAt),
		"queue length":   flip(queueTableAt - 2),
		"queue state":    flip(queueTableAt + 4 + 2 + len("emails")),
		"offset count":   flip(offsetTableAt),
		"offset length":  flip(offsetTableAt - 2),
		"empty":          nil,
		"magic":          flip(0),
		"version":        flip(4),
		"truncated":      snap[:len(snap)/2],
		"no trailer":     snap[:len(snap)-4],
		"crc":            flip(len(snap) - 1),
		"segment data":   flip(len(snap) - 100),
		"producer count": flip(41),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			n := newNode(t, vfs.NewMem())
			r := n.open(t, "p0")
			defer r.Close()
			r.Attach(&direct{r: r})
			if _, err := r.Produce(context.Background(), plain(t, 3)); err != nil {
				t.Fatal(err)
			}
			if err := r.Restore(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v, want ErrCorrupt", err)
			}
			// The replica still serves what it had.
			if r.HighWatermark() != 3 {
				t.Fatalf("high watermark %d after a refused restore", r.HighWatermark())
			}
			if _, err := r.Fetch(context.Background(), nil, 0, 100); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func lastOffsetOf(t *testing.T, b []byte) int64 {
	t.Helper()
	last := int64(-1)
	for len(b) > 0 {
		h, err := batch.Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		last = h.LastOffset()
		b = b[h.Size():]
	}
	return last
}

// TestSnapshotWithoutLinks: on a file system that cannot hard-link, a
// snapshot keeps the segment files open as before, and streams the same
// bytes, into any writer or a SnapshotStore, even after retention deleted
// segments it holds.
func TestSnapshotWithoutLinks(t *testing.T) {
	mem := vfs.NewMem()
	noLinks := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpLink {
			return errorfs.ErrInjected
		}
		return nil
	}))
	e := &storeEnv{fs: mem}
	e.openDB(t)
	cfg := e.config("p0")
	cfg.Log.FS = noLinks
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &direct{r: r, term: 1}
	r.Attach(d)
	seq := int32(0)
	produceIdempotent(t, r, 1, &seq, 80)
	segs := r.log().Segments()
	want := referenceStream(3, r.AppliedIndex(), r.clock, r.LogStartOffset(), r.log().LogEndOffset(),
		r.producers.appendTo(nil), referenceOffsetTable(r.CommittedOffsets()), referenceQueueTable(t, r), snapshotPrefixes(t, r))
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	if names, _ := mem.List(stagingDir(cfg.Log.Dir)); len(names) != 0 {
		t.Fatalf("staged %v without links", names)
	}
	if _, err := d.Propose(context.Background(), encodeAdvanceLogStart(segs[2].BaseOffset)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("streamed %d bytes, want %d", buf.Len(), len(want))
	}
	store, err := NewSnapshotStore(noLinks, "snapshots", 2)
	if err != nil {
		t.Fatal(err)
	}
	sink := createSink(t, store, 1, 1)
	if err := persistInto(s, sink); err != nil {
		t.Fatal(err)
	}
	if _, got := openAll(t, store, sink.ID()); !bytes.Equal(got, want) {
		t.Fatalf("store streams %d bytes, want %d", len(got), len(want))
	}
}

// TestPersistDuringApply persists a snapshot into a SnapshotStore while
// the apply path goes on producing and deleting segments (run it with
// -race): the stored snapshot still streams what was captured.
func TestPersistDuringApply(t *testing.T) {
	e := newStoreEnv(t, "os")
	r := e.open(t, "p0")
	defer r.Close()
	d := &direct{r: r, term: 1}
	r.Attach(d)
	seq := int32(0)
	produceIdempotent(t, r, 1, &seq, 100)
	want := referenceStream(3, r.AppliedIndex(), r.clock, r.LogStartOffset(), r.log().LogEndOffset(),
		r.producers.appendTo(nil), referenceOffsetTable(r.CommittedOffsets()), referenceQueueTable(t, r), snapshotPrefixes(t, r))
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store := e.store(t, 2)
	sink := createSink(t, store, 1, 1)
	var wg sync.WaitGroup
	var perr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.Release()
		perr = persistInto(s, sink)
	}()
	for range 5 {
		produceIdempotent(t, r, 1, &seq, 20)
		segs := r.log().Segments()
		if _, err := d.Propose(context.Background(), encodeAdvanceLogStart(segs[len(segs)-2].BaseOffset)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if perr != nil {
		t.Fatal(perr)
	}
	if _, got := openAll(t, store, sink.ID()); !bytes.Equal(got, want) {
		t.Fatalf("store streams %d bytes, want %d", len(got), len(want))
	}
}
