package server

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// pebbleOptions are the options of a node's Pebble database, which holds
// every group's raft log (most of what it writes) and the node's state.
//
// The raft log's values are record batches: compressed by the producer
// when they compress at all, and read back only when a follower lags. So:
//
//   - No block compression: compressing the batches again at each flush
//     and decompressing them at each compaction took a quarter of a
//     node's CPU under load (snappy encode and decode in CPU profiles of
//     sluice bench max-throughput-1kb), for no space gained on compressed
//     or random payloads.
//   - A 64 MiB memtable (default 4 MiB): fewer, larger flushes and fewer
//     L0 files to compact.
//
// Together: +10-15% records/s on max-throughput-1kb (bench/README.md).
func pebbleOptions(cfg Config) *pebble.Options {
	o := &pebble.Options{Logger: pebbleLogger{cfg.Logger}, MemTableSize: 64 << 20}
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	return o
}
