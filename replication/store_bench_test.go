package replication

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// openBenchDB opens Pebble on the real disk in a temporary directory. The
// memtable is 64 MiB: with Pebble's default of 4 MiB, 1 MiB batches flush a
// memtable every four StoreLogs and the benchmark measures flushes and
// compactions more than the log store (about 2.5x slower per batch here).
func openBenchDB(b *testing.B) *pebble.DB {
	b.Helper()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{FS: vfs.Default, Logger: &storeLogger{}, MemTableSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

// BenchmarkStoreLogs stores batches of 16 entries of 64 KiB (1 MiB per
// StoreLogs, one fsync) on the real disk. With groups > 1 that many groups
// of one Pebble store a batch each concurrently, sharing fsyncs in Pebble's
// commit pipeline; the bytes count all of them.
func BenchmarkStoreLogs(b *testing.B) {
	const entrySize, batchSize = 64 << 10, 16
	for _, groups := range []int{1, 4} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			s := NewStore(openBenchDB(b))
			gs := make([]*GroupStore, groups)
			batches := make([][]*raft.Log, groups)
			data := make([]byte, entrySize)
			for i := range data {
				data[i] = byte(i * 7)
			}
			for i := range gs {
				gs[i] = mustGroup(b, s, fmt.Sprintf("g%d", i))
				for range batchSize {
					batches[i] = append(batches[i], &raft.Log{Term: 1, Type: raft.LogCommand, Data: data})
				}
			}
			store := func(i int, next uint64) {
				for k, l := range batches[i] {
					l.Index = next + uint64(k)
				}
				if err := gs[i].StoreLogs(batches[i]); err != nil {
					b.Error(err)
				}
			}
			b.SetBytes(int64(groups * batchSize * entrySize))
			b.ReportAllocs()
			next := uint64(1)
			for b.Loop() {
				if groups == 1 {
					store(0, next)
				} else {
					var wg sync.WaitGroup
					for i := range gs {
						wg.Go(func() { store(i, next) })
					}
					wg.Wait()
				}
				next += batchSize
			}
		})
	}
}

// BenchmarkGetLog reads entries back in index order, as raft does when it
// replicates to a follower or replays after a restart, from sstables
// (the memtable is flushed first) through Pebble's block cache.
func BenchmarkGetLog(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			db := openBenchDB(b)
			g := mustGroup(b, NewStore(db), "g")
			const n = 512
			var batch []*raft.Log
			for i := range uint64(n) {
				batch = append(batch, &raft.Log{Index: i + 1, Term: 1, Data: make([]byte, size)})
				if len(batch) == 16 {
					if err := g.StoreLogs(batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var l raft.Log
			i := uint64(0)
			for b.Loop() {
				if err := g.GetLog(i%n+1, &l); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
