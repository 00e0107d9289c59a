package partition

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/segment"
)

// corruptFixture is a store holding one linked and one received snapshot.
type corruptFixture struct {
	e              *storeEnv
	store          *SnapshotStore
	linked, stream snapshotID
}

func newCorruptFixture(t *testing.T) *corruptFixture {
	t.Helper()
	e := newStoreEnv(t, "mem")
	r := e.open(t, "p0")
	t.Cleanup(func() { _ = r.Close() })
	r.Attach(&direct{r: r, term: 1})
	seq := int32(0)
	produceIdempotent(t, r, 3, &seq, 60)
	store := e.store(t, 5)
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := createSink(t, store, 1, 10)
	if err := persistInto(s, sink); err != nil {
		t.Fatal(err)
	}
	s.Release()
	f := &corruptFixture{e: e, store: store}
	f.linked, _ = parseSnapshotID(sink.ID())
	_, stream := snapshotBytes(t, 8)
	sink = createSink(t, store, 1, 20)
	if _, err := sink.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	f.stream, _ = parseSnapshotID(sink.ID())
	return f
}

func (f *corruptFixture) read(t *testing.T, name string) []byte {
	t.Helper()
	fi, err := f.e.fs.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return readFilePrefix(t, f.e.fs, name, fi.Size())
}

func (f *corruptFixture) write(t *testing.T, name string, b []byte) {
	t.Helper()
	_ = f.e.fs.Remove(name) // a link: replace it, do not write through it
	w, err := f.e.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
}

func (f *corruptFixture) flip(t *testing.T, name string, at func(n int) int) {
	t.Helper()
	b := f.read(t, name)
	b[at(len(b))] ^= 0x40
	f.write(t, name, b)
}

func wantFileError(t *testing.T, what string, err error) {
	t.Helper()
	var fe *SnapshotFileError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &fe) {
		t.Fatalf("%s = %v, want a *SnapshotFileError matching ErrCorrupt", what, err)
	}
}

// TestSnapshotStoreCorrupt: damage to a snapshot's files is a typed error
// (matching ErrCorrupt) from whichever call meets it, never a panic or a
// stream of wrong bytes.
func TestSnapshotStoreCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, f *corruptFixture) snapshotID
		// meta: the meta itself is bad, so opening the store and List fail
		// too. Otherwise only Open (or reading) of that snapshot does.
		meta bool
		// atRead: Open succeeds and reading the stream fails.
		atRead bool
	}{
		{name: "meta byte flipped", meta: true, damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.flip(t, f.store.path(f.linked, metaName), func(n int) int { return n / 2 })
			return f.linked
		}},
		{name: "meta truncated", meta: true, damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.write(t, f.store.path(f.stream, metaName), f.read(t, f.store.path(f.stream, metaName))[:20])
			return f.stream
		}},
		{name: "meta empty", meta: true, damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.write(t, f.store.path(f.stream, metaName), nil)
			return f.stream
		}},
		{name: "meta size disagrees with the manifest", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			m, err := f.store.readMeta(f.linked)
			if err != nil {
				t.Fatal(err)
			}
			m.raft.Size++
			b, err := encodeMeta(&m)
			if err != nil {
				t.Fatal(err)
			}
			f.write(t, f.store.path(f.linked, metaName), b)
			return f.linked
		}},
		{name: "manifest byte flipped", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.flip(t, f.store.path(f.linked, manifestName), func(n int) int { return 10 })
			return f.linked
		}},
		{name: "manifest missing", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			if err := f.e.fs.Remove(f.store.path(f.linked, manifestName)); err != nil {
				t.Fatal(err)
			}
			return f.linked
		}},
		{name: "segment link missing", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			if err := f.e.fs.Remove(f.store.path(f.linked, segmentsName, segment.FileName(0, segment.LogSuffix))); err != nil {
				t.Fatal(err)
			}
			return f.linked
		}},
		{name: "segment link short", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			name := f.store.path(f.linked, segmentsName, segment.FileName(0, segment.LogSuffix))
			b := f.read(t, name)
			f.write(t, name, b[:len(b)-1])
			return f.linked
		}},
		{name: "stream truncated", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			name := f.store.path(f.stream, streamName)
			b := f.read(t, name)
			f.write(t, name, b[:len(b)-7])
			return f.stream
		}},
		{name: "stream missing", damage: func(t *testing.T, f *corruptFixture) snapshotID {
			if err := f.e.fs.Remove(f.store.path(f.stream, streamName)); err != nil {
				t.Fatal(err)
			}
			return f.stream
		}},
		{name: "stream byte flipped", atRead: true, damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.flip(t, f.store.path(f.stream, streamName), func(n int) int { return n / 3 })
			return f.stream
		}},
		{name: "stream last byte flipped", atRead: true, damage: func(t *testing.T, f *corruptFixture) snapshotID {
			f.flip(t, f.store.path(f.stream, streamName), func(n int) int { return n - 1 })
			return f.stream
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCorruptFixture(t)
			id := tc.damage(t, f)
			if tc.meta {
				_, err := NewSnapshotStore(f.e.fs, f.e.path("snapshots"), 5)
				wantFileError(t, "NewSnapshotStore", err)
				_, err = f.store.List()
				wantFileError(t, "List", err)
			} else if list, err := f.store.List(); err != nil || len(list) != 2 {
				t.Fatalf("List = %v, %v", list, err)
			}
			meta, rc, err := f.store.Open(id.String())
			if !tc.atRead {
				wantFileError(t, "Open", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			wantFileError(t, "reading the stream", err)
			// A reader that stops at the size sees it too.
			_, rc2, err := f.store.Open(id.String())
			if err != nil {
				t.Fatal(err)
			}
			defer rc2.Close()
			_, err = io.ReadFull(rc2, make([]byte, meta.Size))
			wantFileError(t, "io.ReadFull of the stream", err)
		})
	}
}

func FuzzDecodeSnapshotMeta(f *testing.F) {
	full := storedMeta{kind: kindStream, streamCRC: 0xdeadbeef, raft: raft.SnapshotMeta{
		Version: 1, Index: 1 << 40, Term: 7, ConfigurationIndex: 3, Size: 1 << 33, Configuration: testConfiguration(),
	}}
	linked := storedMeta{kind: kindLinked, raft: raft.SnapshotMeta{Version: 1}}
	long := storedMeta{kind: kindStream, raft: raft.SnapshotMeta{Version: 1, Configuration: raft.Configuration{
		Servers: []raft.Server{{Suffrage: raft.Staging, ID: raft.ServerID(bytes.Repeat([]byte("i"), 65535)), Address: "a"}},
	}}}
	f.Add([]byte{})
	f.Add([]byte(metaMagic))
	for _, m := range []*storedMeta{&full, &linked, &long} {
		b, err := encodeMeta(m)
		if err != nil {
			f.Fatal(err)
		}
		if _, err := decodeMeta(b); err != nil {
			f.Fatalf("seed does not decode: %v", err)
		}
		f.Add(b)
		f.Add(append(b, 0))
		f.Add(b[:len(b)-5])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again, err := encodeMeta(&m)
		if err != nil {
			t.Fatalf("decoded meta does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzDecodeSnapshotManifest(f *testing.F) {
	p := producers{}
	p.record(headerOf(f, idempotent(f, 3, 1, 0, 2)), 99)
	offs := offsetTable{"g": {Group: "g", Incarnation: 1, Offset: 3, Metadata: "m", CommitTime: 99}}
	full := snapshotManifest{version: manifestVersion, applied: 9, clock: 99, logStart: 4, logEnd: 1 << 40,
		prods: p.appendTo(nil), offs: offs.appendTo(nil), segs: []segmentRef{{0, 100}, {7, 1 << 31}, {1 << 40, 0}}}
	full.queues = testQueueTable().appendTo(nil)
	empty := snapshotManifest{version: manifestVersion}
	v2 := full
	v2.version, v2.queues = manifestVersionV2, nil
	v1 := v2
	v1.version, v1.offs = manifestVersionV1, nil
	emptyV1 := snapshotManifest{version: manifestVersionV1}
	f.Add([]byte{})
	f.Add([]byte(manifestMagic))
	for _, m := range []*snapshotManifest{&full, &empty, &v2, &v1, &emptyV1} {
		b := encodeManifest(m)
		if _, err := decodeManifest(b); err != nil {
			f.Fatalf("seed does not decode: %v", err)
		}
		f.Add(b)
		f.Add(append(b, 0))
		f.Add(b[:len(b)-9])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeManifest(&m), b) {
			t.Fatalf("round trip differs")
		}
		// Sizes stay in range: the stream length does not overflow.
		if n := m.streamSize(); n < m.headerSize() {
			t.Fatalf("stream size %d below its header's %d", n, m.headerSize())
		}
	})
}
