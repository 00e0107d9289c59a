package partition

import (
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/replication"
)

// BenchmarkSnapshotPersist measures what raft pays for one snapshot of a
// replica holding 256 MiB of segments on the OS file system: Snapshot (a
// checkpoint, then links or open files), Persist into the store's sink, and
// Close (fsyncs, reaping). "copy" is raft's FileSnapshotStore, which gets
// the whole stream; "link" is SnapshotStore, which takes the staged links.
// The bytes/s figure is the log size over the time per snapshot.
//
//	go test -run XXX -bench SnapshotPersist -benchtime 10x ./partition
func BenchmarkSnapshotPersist(b *testing.B) {
	for _, tc := range benchStores {
		b.Run(tc.name, func(b *testing.B) {
			e, r := benchReplica(b)
			store := tc.store(b, e)
			b.SetBytes(r.log().Size())
			b.ReportAllocs()
			index := uint64(0)
			for b.Loop() {
				index++
				benchSnapshot(b, r, store, index)
			}
		})
	}
}

// BenchmarkSnapshotOpen measures the other side: Open and read the whole
// stream, as raft does to send a snapshot to a follower. FileSnapshotStore
// reads the file twice (Open checks its CRC-64); SnapshotStore reads the
// linked segments once, computing the stream's CRC-32C on the way.
//
//	go test -run XXX -bench SnapshotOpen -benchtime 10x ./partition
func BenchmarkSnapshotOpen(b *testing.B) {
	for _, tc := range benchStores {
		b.Run(tc.name, func(b *testing.B) {
			e, r := benchReplica(b)
			store := tc.store(b, e)
			id := benchSnapshot(b, r, store, 1)
			buf := make([]byte, 1<<20)
			b.SetBytes(r.log().Size())
			b.ReportAllocs()
			for b.Loop() {
				_, rc, err := store.Open(id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, buf); err != nil {
					b.Fatal(err)
				}
				_ = rc.Close()
			}
		})
	}
}

var benchStores = []struct {
	name  string
	store func(b *testing.B, e *storeEnv) replication.SnapshotStore
}{
	{"copy", func(b *testing.B, e *storeEnv) replication.SnapshotStore {
		s, err := replication.NewFileSnapshots(e.path("snapshots"), 2)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
	{"link", func(b *testing.B, e *storeEnv) replication.SnapshotStore { return e.store(b, 2) }},
}

// benchReplica returns a replica on the OS file system holding 256 MiB of
// segments of 64 MiB, in batches of about 1 MiB.
func benchReplica(b *testing.B) (*storeEnv, *Replica) {
	b.Helper()
	e := newStoreEnv(b, "os")
	cfg := e.config("p0")
	cfg.Log.SegmentBytes = 64 << 20
	cfg.Log.IndexInterval = 0
	r, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	r.Attach(&direct{r: r, term: 1})
	data := batchtest.Make(b, batchtest.Spec{Records: 1000, ValueSize: 1024, Timestamp: 1})
	for r.log().Size() < 256<<20 {
		if _, err := r.Produce(b.Context(), data); err != nil {
			b.Fatal(err)
		}
	}
	return e, r
}

// benchSnapshot takes one snapshot of r into store as raft would, and
// returns its id.
func benchSnapshot(b *testing.B, r *Replica, store replication.SnapshotStore, index uint64) string {
	s, err := r.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Release()
	sink, err := store.Create(1, index, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := persistInto(s, sink); err != nil {
		b.Fatal(err)
	}
	return sink.ID()
}
