package partition

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/sluicedb/sluice/log"
)

// crashPoint is an errorfs.Injector that, once armed, lets the first
// allowed operations through and fails every later one: the process is
// taken to have died just before that operation.
type crashPoint struct {
	mu      sync.Mutex
	armed   bool
	allowed int
	ops     int
}

func (c *crashPoint) String() string { return fmt.Sprintf("crash after %d operations", c.allowed) }

func (c *crashPoint) MaybeError(errorfs.Op) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return nil
	}
	c.ops++
	if c.ops > c.allowed {
		return errorfs.ErrInjected
	}
	return nil
}

func (c *crashPoint) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
}

// crashed reports whether an operation was refused.
func (c *crashPoint) crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops > c.allowed
}

// TestSnapshotStoreCrash crashes a node at every file system operation of
// storing a snapshot into a store that already holds one (Create, Persist
// or Write, Close with its reaping of the old one, Release), and checks each
// crash image, keeping only synced data or a random share of the rest: the
// store opens, and lists the old snapshot or the new one or both, each of
// them whole (Open streams exactly its bytes), never a broken one.
func TestSnapshotStoreCrash(t *testing.T) {
	for _, kind := range []string{"linked", "received"} {
		t.Run(kind, func(t *testing.T) {
			total := -1
			for allowed := 0; total < 0; allowed++ {
				if done := crashSnapshotAt(t, kind, allowed); done {
					total = allowed
				}
			}
			t.Logf("%d operations, crashed before each", total)
			if total < 10 {
				t.Fatalf("taking a snapshot took only %d operations", total)
			}
		})
	}
}

// crashSnapshotAt runs one crash of TestSnapshotStoreCrash and reports
// whether the snapshot completed within allowed operations.
func crashSnapshotAt(t *testing.T, kind string, allowed int) bool {
	mem := vfs.NewCrashableMem()
	cp := &crashPoint{allowed: allowed}
	fs := errorfs.Wrap(mem, cp)
	// Pebble stays on the raw file system: only the log and the store
	// crash at the chosen operation.
	e := &storeEnv{fs: mem}
	e.openDB(t)
	cfg := e.config("p0")
	cfg.Log = log.Config{FS: fs, Dir: "logs/p0", SegmentBytes: 2 << 10, IndexInterval: 256}
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	r.Attach(&direct{r: r, term: 2})
	seq := int32(0)
	produceIdempotent(t, r, 5, &seq, 50)

	store, err := NewSnapshotStore(fs, "snapshots", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	// prepare captures a snapshot (and the bytes it must stream) before
	// the crash window; the returned function stores it as raft would.
	prepare := func(index uint64) func() (string, error) {
		if kind == "received" {
			_, stream := snapshotBytes(t, 3+int(index))
			return func() (string, error) {
				sink, err := store.Create(1, index, 2, testConfiguration(), 1, nil)
				if err != nil {
					return "", err
				}
				want[sink.ID()] = stream
				if _, err := sink.Write(stream); err != nil {
					_ = sink.Cancel()
					return sink.ID(), err
				}
				return sink.ID(), sink.Close()
			}
		}
		s, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := s.Persist(&b); err != nil {
			t.Fatal(err)
		}
		return func() (string, error) {
			defer s.Release()
			sink, err := store.Create(1, index, 2, testConfiguration(), 1, nil)
			if err != nil {
				return "", err
			}
			want[sink.ID()] = b.Bytes()
			return sink.ID(), persistInto(s, sink)
		}
	}
	old, err := prepare(10)()
	if err != nil {
		t.Fatal(err)
	}
	produceIdempotent(t, r, 5, &seq, 20)

	take := prepare(20)
	cp.arm()
	newID, err := take()
	if err != nil && !cp.crashed() {
		t.Fatalf("allowed %d: snapshot failed without a crash: %v", allowed, err)
	}
	done := !cp.crashed()

	rng := rand.New(rand.NewPCG(uint64(allowed), 1))
	for _, pct := range []int{0, 50, 100} {
		img := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
		where := fmt.Sprintf("crash after %d operations (unsynced kept %d%%)", allowed, pct)
		s, err := NewSnapshotStore(img, "snapshots", 1)
		if err != nil {
			t.Fatalf("%s: open: %v", where, err)
		}
		list, err := s.List()
		if err != nil {
			t.Fatalf("%s: List: %v", where, err)
		}
		if len(list) == 0 {
			t.Fatalf("%s: no snapshot listed", where)
		}
		sawNew := false
		for _, m := range list {
			if m.ID != old && m.ID != newID {
				t.Fatalf("%s: lists %s, neither the old %s nor the new %s", where, m.ID, old, newID)
			}
			sawNew = sawNew || m.ID == newID
			if _, got := openAll(t, s, m.ID); !bytes.Equal(got, want[m.ID]) {
				t.Fatalf("%s: snapshot %s streams %d bytes, want %d", where, m.ID, len(got), len(want[m.ID]))
			}
		}
		if done && !sawNew {
			t.Fatalf("%s: the finished snapshot %s is missing", where, newID)
		}
	}
	return done
}
