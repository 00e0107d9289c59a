package partition

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/replication"
)

// node is one replica's files: a file system, its Pebble and a log dir.
type node struct {
	fs vfs.FS
	db *pebble.DB
}

func newNode(t testing.TB, fs vfs.FS) *node {
	t.Helper()
	if err := fs.MkdirAll("db", 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{fs: fs, db: db}
	t.Cleanup(func() { _ = n.db.Close() })
	return n
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	// pebble's Fatalf must not return; tests never reach it.
	_ = format
	_ = args
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (n *node) config(id string) Config {
	return Config{
		ID:              id,
		DB:              n.db,
		Log:             log.Config{FS: n.fs, Dir: "logs/" + id, SegmentBytes: 4 << 10, IndexInterval: 256},
		CheckpointEvery: 4,
		Logger:          discard(),
	}
}

func (n *node) open(t testing.TB, id string) *Replica {
	t.Helper()
	r, err := Open(n.config(id))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// direct is a Proposer that applies each command at once, as a one-replica
// raft group would, and records the commands so they can be replayed.
type direct struct {
	mu    sync.Mutex
	r     *Replica
	term  uint64
	index uint64
	log   []replication.Entry
}

func (d *direct) Propose(_ context.Context, cmd []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.index++
	e := replication.Entry{Index: d.index, Term: d.term, Data: append([]byte(nil), cmd...)}
	d.log = append(d.log, e)
	resp := d.r.Apply(e)
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// idempotent builds a batch of n records from producer pid.
func idempotent(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{Timestamp: 1000 + int64(i), Key: []byte("k"), Value: []byte("value")}
	}
	b, err := batch.Append(nil, recs, batch.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func plain(t testing.TB, n int) []byte {
	return batchtest.Make(t, batchtest.Spec{Records: n, ValueSize: 40, Timestamp: 5000})
}

func headerOf(t testing.TB, b []byte) batch.Header {
	t.Helper()
	h, err := batch.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
