package partition

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/replication"
)

// TestOffsetsSurviveCrash applies produces, offset commits (accepted and
// refused) and deletes, crashes the node on a crashable file system (only
// synced data kept, or some or all of the rest), and reopens it: the
// replica comes back with the table of its last checkpoint, and raft's
// replay of the entries after it gives the same answers and the same
// table as before the crash.
func TestOffsetsSurviveCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	r := newNode(t, mem).open(t, "p0") // CheckpointEvery 4
	defer r.Close()
	var (
		entries []replication.Entry
		resps   []any
		states  = [][]CommittedOffset{nil} // by applied index
	)
	apply := func(cmd []byte) {
		e := replication.Entry{Index: uint64(len(entries) + 1), Term: 1, Data: cmd}
		resp := r.Apply(e)
		if _, ok := resp.(*replication.FatalError); ok {
			t.Fatalf("entry %d: %v", e.Index, resp)
		}
		entries, resps, states = append(entries, e), append(resps, resp), append(states, r.CommittedOffsets())
	}
	end := func() int64 { return r.HighWatermark() }
	ts := int64(1_000)
	produce := func() { ts++; apply(encodeProduce(nil, ts, plain(t, 5))) }
	commit := func(g string, inc uint64, gen int32, off int64) {
		ts++
		apply(commitCmd(ts, g, inc, gen, off, fmt.Sprint("at ", off)))
	}

	produce()                   // 1
	commit("g1", 1, 0, end())   // 2
	commit("g2", 1, 1, end()-2) // 3
	produce()                   // 4, checkpoint
	commit("g1", 1, 0, end())   // 5
	commit("g2", 1, 0, 1)       // 6, stale generation
	apply(deleteCmd("g2", 1))   // 7
	commit("g3", 1, 4, 2)       // 8, checkpoint
	produce()                   // 9
	commit("g3", 2, 0, end())   // 10, newer incarnation
	commit("g1", 1, 0, end()+1) // 11, beyond the log end
	commit("g2", 1, 0, 0)       // 12, checkpoint
	produce()                   // 13
	commit("g1", 1, 1, end())   // 14, at the log end of a replayed produce
	commit("g4", 1, 0, end()+1) // 15, beyond the log end
	final := r.CommittedOffsets()
	if len(final) != 3 {
		t.Fatalf("final table %+v", final)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for _, pct := range []int{0, 50, 100} {
		t.Run(fmt.Sprint("unsynced kept ", pct, "%"), func(t *testing.T) {
			img := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
			r2 := newNode(t, img).open(t, "p0")
			defer r2.Close()
			if r2.AppliedIndex() != 12 {
				t.Fatalf("reopened at applied %d, want the checkpoint at 12", r2.AppliedIndex())
			}
			if got := r2.CommittedOffsets(); !slices.Equal(got, states[12]) {
				t.Fatalf("reopened with %+v\nwant %+v", got, states[12])
			}
			for i, e := range entries {
				resp := r2.Apply(e)
				if e.Index <= 12 {
					if resp != nil {
						t.Fatalf("replay of %d (before the checkpoint): %v", e.Index, resp)
					}
					continue
				}
				if !reflect.DeepEqual(resp, resps[i]) {
					t.Fatalf("replay of %d: %#v, first time %#v", e.Index, resp, resps[i])
				}
				if got := r2.CommittedOffsets(); !slices.Equal(got, states[e.Index]) {
					t.Fatalf("after replaying %d: %+v\nwant %+v", e.Index, got, states[e.Index])
				}
			}
			if r2.HighWatermark() != r.HighWatermark() || r2.offsetBytes != r.offsetBytes {
				t.Fatalf("replayed: hw %d, table %d bytes; want %d, %d", r2.HighWatermark(), r2.offsetBytes,
					r.HighWatermark(), r.offsetBytes)
			}
		})
	}
}

// TestRestoreSnapshotV1: a version 1 snapshot stream (from before
// committed offsets) restores the log and leaves no committed offsets,
// replacing those the replica had.
func TestRestoreSnapshotV1(t *testing.T) {
	src, _ := snapshotBytes(t, 40)
	v1 := referenceStream(1, src.AppliedIndex(), src.clock, src.LogStartOffset(), src.log().LogEndOffset(),
		src.producers.appendTo(nil), nil, nil, snapshotPrefixes(t, src))
	dst := newNode(t, vfs.NewMem()).open(t, "p0")
	defer dst.Close()
	dst.Attach(&direct{r: dst})
	if _, err := dst.CommitOffset(context.Background(), OffsetCommit{Group: "g", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	if got := dst.CommittedOffsets(); len(got) != 0 || dst.offsetBytes != 4 {
		t.Fatalf("after a v1 restore: %+v (%d bytes)", got, dst.offsetBytes)
	}
	if dst.AppliedIndex() != src.AppliedIndex() || dst.HighWatermark() != src.HighWatermark() {
		t.Fatalf("restored applied %d hw %d; source %d %d", dst.AppliedIndex(), dst.HighWatermark(), src.AppliedIndex(), src.HighWatermark())
	}
	// The restore was checkpointed as version 2 with the empty table.
	ck, ok, err := loadCheckpoint(dst.cfg.DB, "p0")
	if err != nil || !ok || ck.applied != src.AppliedIndex() || len(ck.offsets) != 0 {
		t.Fatalf("checkpoint after restore: %+v %v %v", ck, ok, err)
	}
}

// TestSnapshotStoreOldManifests: a linked snapshot whose manifest an
// earlier version wrote (version 1: no offset table, no queue table;
// version 2: no queue table) streams the stream of that version it stood
// for, and that restores, with no committed offsets (version 1) and no
// queues.
func TestSnapshotStoreOldManifests(t *testing.T) {
	for _, version := range []byte{manifestVersionV1, manifestVersionV2} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) { testSnapshotStoreOldManifest(t, version) })
	}
}

func testSnapshotStoreOldManifest(t *testing.T, version byte) {
	e := newStoreEnv(t, "mem")
	r := e.open(t, "p0")
	defer r.Close()
	r.Attach(&direct{r: r, term: 1})
	seq := int32(0)
	produceIdempotent(t, r, 1, &seq, 40)
	commitOffsets(t, r, 2)
	makeQueues(t, r)
	wantSegs := snapshotPrefixes(t, r)
	var wantOffs []byte
	var wantOffsets []CommittedOffset
	if version >= 2 {
		wantOffs, wantOffsets = referenceOffsetTable(r.CommittedOffsets()), r.CommittedOffsets()
	}
	want := referenceStream(version, r.AppliedIndex(), r.clock, r.LogStartOffset(), r.log().LogEndOffset(),
		r.producers.appendTo(nil), wantOffs, nil, wantSegs)
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store := e.store(t, 2)
	sink := createSink(t, store, 1, r.AppliedIndex())
	if err := persistInto(s, sink); err != nil {
		t.Fatal(err)
	}
	s.Release()

	// Rewrite the snapshot as an earlier version would have written it.
	id, _ := parseSnapshotID(sink.ID())
	b, err := readSmallFile(e.fs, store.path(id, manifestName), maxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifest(b)
	if err != nil || m.version != manifestVersion || len(m.offs) <= 4 || len(m.queues) <= 4 {
		t.Fatalf("stored manifest version %d, offset table of %d bytes, queue table of %d: %v", m.version, len(m.offs), len(m.queues), err)
	}
	m.version, m.queues = version, nil
	if version < 2 {
		m.offs = nil
	}
	if err := fsutil.WriteFileAtomic(e.fs, store.path(id, manifestName), encodeManifest(&m)); err != nil {
		t.Fatal(err)
	}
	sm, err := store.readMeta(id)
	if err != nil {
		t.Fatal(err)
	}
	sm.raft.Size = int64(len(want))
	mb, err := encodeMeta(&sm)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(e.fs, store.path(id, metaName), mb); err != nil {
		t.Fatal(err)
	}

	meta, got := openAll(t, store, sink.ID())
	if meta.Size != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("v%d snapshot streams %d bytes (meta %d), want the %d of the v%d format", version, len(got), meta.Size, len(want), version)
	}
	dst := newStoreEnv(t, "mem").open(t, "p0")
	defer dst.Close()
	if err := dst.Restore(bytes.NewReader(got)); err != nil {
		t.Fatal(err)
	}
	if gotSegs := snapshotPrefixes(t, dst); !mapsEqual(gotSegs, wantSegs) || !slices.Equal(dst.CommittedOffsets(), wantOffsets) ||
		len(dst.Queues()) != 0 {
		t.Fatalf("restored %d segments (want %d), offsets %+v, queues %q", len(gotSegs), len(wantSegs), dst.CommittedOffsets(), dst.Queues())
	}
}
