package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/segment"
)

// storeEnv is one node's files for the snapshot store tests: a file
// system (in memory, or the OS's under a temp dir), a Pebble and paths.
type storeEnv struct {
	fs   vfs.FS
	root string // "" in memory
	db   *pebble.DB
}

func newStoreEnv(t testing.TB, kind string) *storeEnv {
	t.Helper()
	e := &storeEnv{}
	switch kind {
	case "mem":
		e.fs = vfs.NewMem()
	case "crashable":
		e.fs = vfs.NewCrashableMem()
	case "os":
		e.fs, e.root = vfs.Default, t.TempDir()
	default:
		t.Fatalf("file system kind %q", kind)
	}
	e.openDB(t)
	return e
}

func (e *storeEnv) openDB(t testing.TB) {
	t.Helper()
	if err := e.fs.MkdirAll(e.path("db"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(e.path("db"), &pebble.Options{FS: e.fs, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { _ = db.Close() })
}

func (e *storeEnv) path(elem ...string) string {
	if e.root == "" {
		return e.fs.PathJoin(elem...)
	}
	return e.fs.PathJoin(append([]string{e.root}, elem...)...)
}

func (e *storeEnv) config(id string) Config {
	return Config{
		ID:              id,
		DB:              e.db,
		Log:             log.Config{FS: e.fs, Dir: e.path("logs", id), SegmentBytes: 2 << 10, IndexInterval: 256},
		CheckpointEvery: 1 << 20, // only the snapshot's and retention's checkpoints
		Logger:          discard(),
	}
}

func (e *storeEnv) open(t testing.TB, id string) *Replica {
	t.Helper()
	r, err := Open(e.config(id))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func (e *storeEnv) store(t testing.TB, retain int) *SnapshotStore {
	t.Helper()
	s, err := NewSnapshotStore(e.fs, e.path("snapshots"), retain)
	if err != nil {
		t.Fatalf("NewSnapshotStore: %v", err)
	}
	return s
}

// produceIdempotent produces n 3-record batches from producer pid,
// continuing its sequence from *seq.
func produceIdempotent(t testing.TB, r *Replica, pid int64, seq *int32, n int) {
	t.Helper()
	for range n {
		if _, err := r.Produce(context.Background(), idempotent(t, pid, 0, *seq, 3)); err != nil {
			t.Fatal(err)
		}
		*seq += 3
	}
}

// snapshotPrefixes returns what a snapshot of r holds of each segment: the
// bytes of every segment at or above the log start (as log.OpenFiles
// picks them), by base offset.
func snapshotPrefixes(t testing.TB, r *Replica) map[int64][]byte {
	t.Helper()
	lg := r.log()
	start, end := lg.LogStartOffset(), lg.LogEndOffset()
	out := map[int64][]byte{}
	for _, s := range lg.Segments() {
		if s.NextOffset <= start && s.NextOffset < end {
			continue
		}
		out[s.BaseOffset] = readFilePrefix(t, r.cfg.Log.FS, r.cfg.Log.FS.PathJoin(r.cfg.Log.Dir, segment.FileName(s.BaseOffset, segment.LogSuffix)), s.Size)
	}
	return out
}

func readFilePrefix(t testing.TB, fs vfs.FS, name string, n int64) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		t.Fatal(err)
	}
	return b
}

// referenceStream encodes a snapshot stream of the given version from the
// documented format (snapshot.go), independently of the code under test;
// offs (the offset table) is left out of version 1, queues (the queue
// table) out of versions 1 and 2.
func referenceStream(version byte, applied uint64, clock, logStart, logEnd int64, prods, offs, queues []byte, segs map[int64][]byte) []byte {
	be := binary.BigEndian
	b := append([]byte("SLPS"), version)
	b = be.AppendUint64(b, applied)
	b = be.AppendUint64(b, uint64(clock))
	b = be.AppendUint64(b, uint64(logStart))
	b = be.AppendUint64(b, uint64(logEnd))
	b = be.AppendUint32(b, uint32(len(prods)))
	b = append(b, prods...)
	if version >= 2 {
		b = be.AppendUint32(b, uint32(len(offs)))
		b = append(b, offs...)
	}
	if version >= 3 {
		b = be.AppendUint32(b, uint32(len(queues)))
		b = append(b, queues...)
	}
	b = be.AppendUint32(b, uint32(len(segs)))
	bases := make([]int64, 0, len(segs))
	for base := range segs {
		bases = append(bases, base)
	}
	slices.Sort(bases)
	for _, base := range bases {
		b = be.AppendUint64(b, uint64(base))
		b = be.AppendUint64(b, uint64(len(segs[base])))
		b = append(b, segs[base]...)
	}
	return be.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func testConfiguration() raft.Configuration {
	return raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "n1", Address: "n1/p0"},
		{Suffrage: raft.Nonvoter, ID: "n2", Address: "n2/p0"},
	}}
}

func createSink(t testing.TB, s *SnapshotStore, term, index uint64) raft.SnapshotSink {
	t.Helper()
	sink, err := s.Create(1, index, term, testConfiguration(), 3, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return sink
}

// persistInto does what raft does with a snapshot and a sink.
func persistInto(snap interface{ Persist(io.Writer) error }, sink raft.SnapshotSink) error {
	if err := snap.Persist(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func openAll(t testing.TB, s *SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read snapshot %s: %v", id, err)
	}
	return meta, b
}

func exists(t testing.TB, fs vfs.FS, name string) bool {
	t.Helper()
	_, err := fs.Stat(name)
	return err == nil
}

func TestSnapshotStoreLinked(t *testing.T) {
	cases := []struct {
		name string
		// retain deletes linked segments between Snapshot and Persist.
		retain bool
		// appendAfter writes batches after Snapshot, into the linked
		// active segment.
		appendAfter bool
		// reopen closes and reopens the replica after the snapshot is
		// stored: Open cuts the appends after the checkpoint off the
		// active segment (in place on the OS file system, where the
		// snapshot links that very inode).
		reopen bool
	}{
		{name: "quiet"},
		{name: "retention", retain: true},
		{name: "appends", appendAfter: true},
		{name: "retention and appends", retain: true, appendAfter: true},
		{name: "appends then reopen", appendAfter: true, reopen: true},
		{name: "everything", retain: true, appendAfter: true, reopen: true},
	}
	for _, kind := range []string{"mem", "crashable", "os"} {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				e := newStoreEnv(t, kind)
				r := e.open(t, "p0")
				defer func() { _ = r.Close() }()
				d := &direct{r: r, term: 3}
				r.Attach(d)
				seq := int32(0)
				produceIdempotent(t, r, 4, &seq, 120)
				commitOffsets(t, r, 4)
				segs := r.log().Segments()
				if len(segs) < 4 {
					t.Fatalf("only %d segments", len(segs))
				}

				wantSegs := snapshotPrefixes(t, r)
				wantOffsets := r.CommittedOffsets()
				s, err := r.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Release()
				want := referenceStream(3, r.AppliedIndex(), r.clock, r.LogStartOffset(), r.log().LogEndOffset(),
					r.producers.appendTo(nil), referenceOffsetTable(r.CommittedOffsets()), referenceQueueTable(t, r), wantSegs)

				if tc.retain {
					if _, err := d.Propose(context.Background(), encodeAdvanceLogStart(segs[2].BaseOffset)); err != nil {
						t.Fatal(err)
					}
					first := e.fs.PathJoin(r.cfg.Log.Dir, segment.FileName(segs[0].BaseOffset, segment.LogSuffix))
					if exists(t, e.fs, first) {
						t.Fatalf("retention left %s", first)
					}
				}
				if tc.appendAfter {
					produceIdempotent(t, r, 4, &seq, 5)
					commitOffsets(t, r, 6)
				}
				var streamed bytes.Buffer
				if err := s.Persist(&streamed); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(streamed.Bytes(), want) {
					t.Fatalf("streamed snapshot (%d bytes) differs from the format's encoding (%d bytes)", streamed.Len(), len(want))
				}

				store := e.store(t, 2)
				sink := createSink(t, store, 3, 500)
				if err := persistInto(s, sink); err != nil {
					t.Fatal(err)
				}
				s.Release()
				if names, _ := e.fs.List(stagingDir(r.cfg.Log.Dir)); len(names) != 0 {
					t.Fatalf("staging directory still holds %v", names)
				}
				id, _ := parseSnapshotID(sink.ID())
				if !exists(t, e.fs, store.path(id, manifestName)) || exists(t, e.fs, store.path(id, streamName)) {
					t.Fatalf("snapshot %s was not kept as links", sink.ID())
				}
				if tc.reopen {
					if err := r.Close(); err != nil {
						t.Fatal(err)
					}
					r = e.open(t, "p0")
					if r.log().LogEndOffset() >= int64(seq) {
						t.Fatalf("reopen kept the unsnapshotted appends (log end %d)", r.log().LogEndOffset())
					}
				}

				list, err := store.List()
				if err != nil || len(list) != 1 {
					t.Fatalf("List = %v, %v", list, err)
				}
				m := list[0]
				if m.ID != sink.ID() || m.Index != 500 || m.Term != 3 || m.ConfigurationIndex != 3 || m.Version != 1 ||
					m.Size != int64(len(want)) || !slices.Equal(m.Configuration.Servers, testConfiguration().Servers) {
					t.Fatalf("listed meta %+v", m)
				}
				meta, got := openAll(t, store, sink.ID())
				if meta.Size != int64(len(got)) || !bytes.Equal(got, want) {
					t.Fatalf("Open streams %d bytes (meta says %d), want the %d streamed by Persist", len(got), meta.Size, len(want))
				}

				// A fresh replica restored from the store's stream has the
				// same segments, byte for byte.
				dstEnv := newStoreEnv(t, kind)
				dst := dstEnv.open(t, "p0")
				defer func() { _ = dst.Close() }()
				_, rc, err := store.Open(sink.ID())
				if err != nil {
					t.Fatal(err)
				}
				err = dst.Restore(io.LimitReader(rc, meta.Size))
				if err != nil {
					t.Fatalf("Restore: %v", err)
				}
				for range 2 {
					if err := rc.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := rc.Read(make([]byte, 1)); err == nil {
					t.Fatal("read after Close succeeded")
				}
				if got := snapshotPrefixes(t, dst); !mapsEqual(got, wantSegs) {
					t.Fatalf("restored segments differ: %d segments, want %d", len(got), len(wantSegs))
				}
				if got := dst.CommittedOffsets(); len(wantOffsets) != 4 || !slices.Equal(got, wantOffsets) {
					t.Fatalf("restored committed offsets %+v, want %+v", got, wantOffsets)
				}
			})
		}
	}
}

func mapsEqual(a, b map[int64][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestSnapshotStoreRestoreFromOwnLinks: a replica restored from its own
// linked snapshot (what StartGroup does after a crash that left the
// replica behind its newest snapshot) reads the links while Restore
// removes the log they point into.
func TestSnapshotStoreRestoreFromOwnLinks(t *testing.T) {
	e := newStoreEnv(t, "os")
	r := e.open(t, "p0")
	defer func() { _ = r.Close() }()
	r.Attach(&direct{r: r, term: 1})
	seq := int32(0)
	produceIdempotent(t, r, 9, &seq, 80)
	want := snapshotPrefixes(t, r)
	applied := r.AppliedIndex()
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store := e.store(t, 2)
	sink := createSink(t, store, 1, applied)
	if err := persistInto(s, sink); err != nil {
		t.Fatal(err)
	}
	s.Release()
	produceIdempotent(t, r, 9, &seq, 10)
	meta, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Restore(io.LimitReader(rc, meta.Size))
	_ = rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotPrefixes(t, r); !mapsEqual(got, want) || r.AppliedIndex() != applied {
		t.Fatalf("restored %d segments at applied %d, want %d at %d", len(got), r.AppliedIndex(), len(want), applied)
	}
	// The snapshot still streams after the log it linked was replaced.
	if _, b := openAll(t, store, sink.ID()); int64(len(b)) != meta.Size {
		t.Fatalf("snapshot streams %d bytes after the restore, want %d", len(b), meta.Size)
	}
}

func TestSnapshotStoreReceived(t *testing.T) {
	_, snap := snapshotBytes(t, 30)
	for _, tc := range []struct {
		name  string
		data  []byte
		chunk int
	}{
		{"one write", snap, len(snap)},
		{"small writes", snap, 7},
		{"large writes", snap, 100 << 10},
		{"empty", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStoreEnv(t, "mem")
			store := e.store(t, 2)
			sink := createSink(t, store, 5, 77)
			for b := tc.data; len(b) > 0; {
				n := min(tc.chunk, len(b))
				if w, err := sink.Write(b[:n]); err != nil || w != n {
					t.Fatalf("Write = %d, %v", w, err)
				}
				b = b[n:]
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			list, err := store.List()
			if err != nil || len(list) != 1 || list[0].Size != int64(len(tc.data)) || list[0].Index != 77 {
				t.Fatalf("List = %+v, %v", list, err)
			}
			// raft closes the sink again after the state machine did.
			if err := sink.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := sink.Cancel(); err != nil {
				t.Fatalf("Cancel after Close: %v", err)
			}
			meta, got := openAll(t, store, sink.ID())
			if !bytes.Equal(got, tc.data) || meta.Size != int64(len(got)) {
				t.Fatalf("Open returns %d bytes, want %d", len(got), len(tc.data))
			}
			if len(tc.data) == 0 {
				return
			}
			dst := e.open(t, "p1")
			defer func() { _ = dst.Close() }()
			_, rc, err := store.Open(sink.ID())
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.Restore(io.LimitReader(rc, meta.Size)); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			// raft and the state machine adapter both close the reader.
			for range 2 {
				if err := rc.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := rc.Read(make([]byte, 1)); err == nil {
				t.Fatal("read after Close succeeded")
			}
		})
	}
}

func TestSnapshotStoreReapAndOrder(t *testing.T) {
	e := newStoreEnv(t, "mem")
	store := e.store(t, 2)
	type made struct {
		id          string
		term, index uint64
	}
	var all []made
	steps := []struct{ term, index uint64 }{{1, 10}, {1, 20}, {2, 15}, {2, 15}, {1, 30}, {2, 14}}
	for _, st := range steps {
		sink := createSink(t, store, st.term, st.index)
		if _, err := sink.Write([]byte("state")); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		all = append(all, made{sink.ID(), st.term, st.index})
	}
	// Newest by term, then index, then creation: the two (2, 15).
	want := []string{all[3].id, all[2].id}
	list, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	names, err := e.fs.List(e.path("snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("store directory holds %v, want %v", names, want)
	}

	// A snapshot being written is neither listed nor reaped.
	open := createSink(t, store, 9, 9)
	if _, err := open.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sink := createSink(t, store, 3, uint64(i))
		if _, err := sink.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := store.List(); err != nil || len(list) != 2 || list[0].Term != 3 || list[0].Index != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if !exists(t, e.fs, e.path("snapshots", open.ID())) {
		t.Fatal("reaping removed a snapshot being written")
	}
	if err := open.Close(); err != nil {
		t.Fatal(err)
	}
	if list, err := store.List(); err != nil || len(list) != 2 || list[0].ID != open.ID() {
		t.Fatalf("List = %v, %v", list, err)
	}
}

func TestSnapshotStoreCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *storeEnv, r *Replica, store *SnapshotStore) raft.SnapshotSink
	}{
		{"stream", func(t *testing.T, e *storeEnv, r *Replica, store *SnapshotStore) raft.SnapshotSink {
			sink := createSink(t, store, 1, 1)
			if _, err := sink.Write([]byte("some bytes")); err != nil {
				t.Fatal(err)
			}
			return sink
		}},
		{"nothing written", func(t *testing.T, e *storeEnv, r *Replica, store *SnapshotStore) raft.SnapshotSink {
			return createSink(t, store, 1, 1)
		}},
		{"linked", func(t *testing.T, e *storeEnv, r *Replica, store *SnapshotStore) raft.SnapshotSink {
			s, err := r.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Release()
			sink := createSink(t, store, 1, 1)
			if err := s.Persist(sink); err != nil {
				t.Fatal(err)
			}
			return sink
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStoreEnv(t, "mem")
			r := e.open(t, "p0")
			defer func() { _ = r.Close() }()
			r.Attach(&direct{r: r, term: 1})
			seq := int32(0)
			produceIdempotent(t, r, 2, &seq, 60)
			before := snapshotPrefixes(t, r)
			store := e.store(t, 2)
			sink := tc.run(t, e, r, store)
			if err := sink.Cancel(); err != nil {
				t.Fatal(err)
			}
			if names, _ := e.fs.List(e.path("snapshots")); len(names) != 0 {
				t.Fatalf("Cancel left %v", names)
			}
			if names, _ := e.fs.List(stagingDir(r.cfg.Log.Dir)); len(names) != 0 {
				t.Fatalf("Release left staged links %v", names)
			}
			if list, err := store.List(); err != nil || len(list) != 0 {
				t.Fatalf("List = %v, %v", list, err)
			}
			if err := sink.Close(); err == nil {
				t.Fatal("Close after Cancel succeeded")
			}
			if got := snapshotPrefixes(t, r); !mapsEqual(got, before) {
				t.Fatal("Cancel changed the log")
			}
		})
	}
}

// TestSnapshotStoreLeftovers: what a crash leaves is removed when the store
// and the replica open, and nothing else is.
func TestSnapshotStoreLeftovers(t *testing.T) {
	e := newStoreEnv(t, "mem")
	r := e.open(t, "p0")
	r.Attach(&direct{r: r, term: 1})
	seq := int32(0)
	produceIdempotent(t, r, 2, &seq, 40)
	if _, err := r.Snapshot(); err != nil { // never released: a crash
		t.Fatal(err)
	}
	staging := stagingDir(r.cfg.Log.Dir)
	if names, _ := e.fs.List(staging); len(names) != 1 {
		t.Fatalf("staging holds %v", names)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	store := e.store(t, 2)
	done := createSink(t, store, 1, 5)
	if _, err := done.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := done.Close(); err != nil {
		t.Fatal(err)
	}
	unfinished := createSink(t, store, 2, 9)
	if _, err := unfinished.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	dir := e.path("snapshots")
	mkfile := func(name string) {
		t.Helper()
		if err := e.fs.MkdirAll(e.fs.PathDir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := e.fs.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	mkfile(e.fs.PathJoin(dir, "1-2-3"+reapSuffix, metaName))
	mkfile(e.fs.PathJoin(dir, "notes.txt"))
	mkfile(e.fs.PathJoin(dir, "007-1-1", metaName)) // not a canonical id: not ours

	store = e.store(t, 2)
	names, err := e.fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"007-1-1", done.ID(), "notes.txt"}; !slices.Equal(names, want) {
		t.Fatalf("store directory holds %v after open, want %v", names, want)
	}
	if list, err := store.List(); err != nil || len(list) != 1 || list[0].ID != done.ID() {
		t.Fatalf("List = %v, %v", list, err)
	}
	// Creation sequences go on past what was on disk.
	next := createSink(t, store, 2, 9)
	defer func() { _ = next.Cancel() }()
	if nid, _ := parseSnapshotID(next.ID()); nid.seq <= 1 {
		t.Fatalf("new snapshot %s reuses a sequence", next.ID())
	}

	r = e.open(t, "p0")
	defer func() { _ = r.Close() }()
	if exists(t, e.fs, staging) {
		t.Fatal("Open left the staged links")
	}
	if r.HighWatermark() != int64(seq) {
		t.Fatalf("high watermark %d after reopen, want %d", r.HighWatermark(), seq)
	}
}

// TestSnapshotStoreOtherFileSystem: a store that cannot take the staged
// links (here another file system; on disk, another device) gets the
// stream instead, byte for byte.
func TestSnapshotStoreOtherFileSystem(t *testing.T) {
	e := newStoreEnv(t, "mem")
	r := e.open(t, "p0")
	defer func() { _ = r.Close() }()
	r.Attach(&direct{r: r, term: 1})
	seq := int32(0)
	produceIdempotent(t, r, 2, &seq, 50)
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := s.Persist(&want); err != nil {
		t.Fatal(err)
	}
	other := newStoreEnv(t, "mem")
	store := other.store(t, 2)
	sink := createSink(t, store, 1, 9)
	if err := persistInto(s, sink); err != nil {
		t.Fatal(err)
	}
	s.Release()
	if names, _ := e.fs.List(stagingDir(r.cfg.Log.Dir)); len(names) != 0 {
		t.Fatalf("Release left staged links %v", names)
	}
	id, _ := parseSnapshotID(sink.ID())
	if !exists(t, other.fs, store.path(id, streamName)) {
		t.Fatal("snapshot not kept as a stream")
	}
	if _, got := openAll(t, store, sink.ID()); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("Open returns %d bytes, want %d", len(got), want.Len())
	}
}

// TestSnapshotStoreArguments: bad arguments are errors, not panics.
func TestSnapshotStoreArguments(t *testing.T) {
	fs := vfs.NewMem()
	for _, retain := range []int{0, -1} {
		if _, err := NewSnapshotStore(fs, "s", retain); err == nil {
			t.Fatalf("retain %d accepted", retain)
		}
	}
	if _, err := NewSnapshotStore(nil, "s", 1); err == nil {
		t.Fatal("nil file system accepted")
	}
	store, err := NewSnapshotStore(fs, "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []raft.SnapshotVersion{0, raft.SnapshotVersionMax + 1} {
		if _, err := store.Create(v, 1, 1, raft.Configuration{}, 0, nil); err == nil {
			t.Fatalf("version %d accepted", v)
		}
	}
	long := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(bytes.Repeat([]byte("x"), 70000))}}}
	if _, err := store.Create(1, 1, 1, long, 0, nil); err == nil {
		t.Fatal("an unencodable configuration accepted")
	}
	for _, id := range []string{"", "1-2", "a-b-c", "01-2-3", "1-2-3"} {
		if _, _, err := store.Open(id); !errors.Is(err, ErrSnapshotNotFound) {
			t.Fatalf("Open(%q) = %v, want ErrSnapshotNotFound", id, err)
		}
	}
}
