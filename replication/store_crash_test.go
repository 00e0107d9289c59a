package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/hashicorp/raft"
)

// TestCrashDurability runs a seeded sequence of writes on a crashable
// in-memory FS and, at several points, takes a crash image (only synced
// data) and opens it: everything acknowledged must be there, exactly.
func TestCrashDurability(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	mem := vfs.NewCrashableMem()
	db := openStoreDB(t, mem, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	m := newStoreModel()
	ids := []string{"g1", "g10", "g2"}
	crashes := 0
	for step := 0; step < 300; step++ {
		g := mustGroup(t, s, ids[rng.IntN(len(ids))])
		first, _ := g.FirstIndex()
		last, _ := g.LastIndex()
		switch r := rng.IntN(10); {
		case r < 6:
			n := 1 + rng.IntN(8)
			var batch []*raft.Log
			for k := range n {
				l := entry(g.ID(), last+1+uint64(k), uint64(step))
				l.Data = append(l.Data, bytes.Repeat([]byte{byte(step)}, rng.IntN(4096))...)
				batch = append(batch, l)
			}
			m.storeLogs(t, g, batch...)
		case r < 7 && last > 0:
			m.deleteRange(t, g, first, first+uint64(rng.IntN(int(last-first+1)))) // compaction
		case r < 8 && last > 0:
			m.deleteRange(t, g, last-uint64(rng.IntN(4)), last) // conflicting suffix
		default:
			m.set(t, g, "CurrentTerm", binary.BigEndian.AppendUint64(nil, uint64(step)))
			m.set(t, g, fmt.Sprintf("key%d", rng.IntN(4)), fmt.Appendf(nil, "v%d", step))
		}
		if step%50 != 49 {
			continue
		}
		// An unsynced write just before the crash checks the harness: the
		// crash image must not have it.
		unsynced := fmt.Appendf(nil, "unsynced%d", step)
		if err := db.Set(unsynced, []byte("x"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		crashed := mem.CrashClone(vfs.CrashCloneCfg{})
		crashes++
		cdb := openStoreDB(t, crashed, nil)
		m.check(t, NewStore(cdb))
		if _, closer, err := cdb.Get(unsynced); err == nil {
			_ = closer.Close()
			t.Fatal("the crash image holds an unsynced write: the harness is not crashing")
		}
		if err := cdb.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if crashes != 6 {
		t.Fatalf("%d crash points", crashes)
	}
}

// TestCrashDurabilityConcurrent takes crash images while three groups
// write concurrently: every batch acknowledged before an image is taken
// must be in it, and each group's log in it must be a contiguous, decodable
// run from index 1 (Pebble's WAL holds a prefix of the commits).
func TestCrashDurabilityConcurrent(t *testing.T) {
	mem := vfs.NewCrashableMem()
	db := openStoreDB(t, mem, nil)
	defer func() { _ = db.Close() }()
	s := NewStore(db)
	ids := []string{"c1", "c2", "c3"}
	const batchSize, images, spacing = 4, 3, 40
	acked := make([]atomic.Uint64, len(ids))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for gi, id := range ids {
		g := mustGroup(t, s, id)
		wg.Go(func() {
			// Write until told to stop, so that every image is taken with
			// writes in flight (bounded, in case the machine is slow).
			for next := uint64(1); next < 600; next += batchSize {
				select {
				case <-stop:
					return
				default:
				}
				var batch []*raft.Log
				for k := range uint64(batchSize) {
					l := entry(id, next+k, 1)
					l.Data = append(l.Data, make([]byte, 1024)...)
					batch = append(batch, l)
				}
				if err := g.StoreLogs(batch); err != nil {
					errs <- err
					return
				}
				acked[gi].Store(next + batchSize - 1)
			}
		})
	}
	ackedNow := func() []uint64 {
		floor := make([]uint64, len(ids))
		for gi := range ids {
			floor[gi] = acked[gi].Load()
		}
		return floor
	}

	checkImage := func(fs vfs.FS, floor []uint64) {
		t.Helper()
		cdb := openStoreDB(t, fs, nil)
		defer func() { _ = cdb.Close() }()
		cs := NewStore(cdb)
		for gi, id := range ids {
			g := mustGroup(t, cs, id)
			first, _ := g.FirstIndex()
			last, _ := g.LastIndex()
			if last < floor[gi] || (last > 0 && first != 1) {
				t.Errorf("group %q in the crash image: first %d, last %d; want first 1 and last >= %d acknowledged",
					id, first, last, floor[gi])
				return
			}
			for i := uint64(1); i <= last; i++ {
				var got raft.Log
				if err := g.GetLog(i, &got); err != nil || !bytes.HasPrefix(got.Data, entry(id, i, 1).Data) {
					t.Errorf("group %q index %d in the crash image: %v", id, i, err)
					return
				}
			}
		}
	}
	func() {
		defer func() {
			close(stop)
			wg.Wait()
		}()
		for k := range uint64(images) {
			waitFor(t, 30*time.Second, func() bool { return slices.Min(ackedNow()) >= (k+1)*spacing })
			floor := ackedNow() // before the image: acknowledged before the crash
			checkImage(mem.CrashClone(vfs.CrashCloneCfg{}), floor)
		}
	}()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	floor := ackedNow()
	checkImage(mem.CrashClone(vfs.CrashCloneCfg{}), floor)
}

// walFaults fails matching operations on Pebble's WAL files while armed.
type walFaults struct {
	mu    sync.Mutex
	armed bool
	kinds []errorfs.OpKind
	err   error
	hits  int
}

func (f *walFaults) String() string { return "walFaults" }

func (f *walFaults) MaybeError(op errorfs.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed || !strings.HasSuffix(op.Path, ".log") || !slices.Contains(f.kinds, op.Kind) {
		return nil
	}
	f.hits++
	return f.err
}

func (f *walFaults) arm(armed bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = armed
	return f.hits
}

// TestFaultInjection fails Pebble's WAL writes or fsyncs during a
// StoreLogs. Observed with Pebble v2.1.7, and asserted here:
//
//   - StoreLogs returns an error matching ErrStoreFailed and the errno,
//     never nil; the failed batch is not acknowledged and the bounds do not
//     move.
//   - The Store is failed: later writes of every group return
//     ErrStoreFailed without reaching Pebble. Reads go on.
//   - Pebble keeps the WAL error for good: a later DB.Set with Sync, even
//     with the fault gone, hands the error to Logger.Fatalf and returns nil
//     (why the Store does not use Apply). The failed batch is visible in
//     Pebble's memtable although it is not durable. Close returns the error.
//   - A crash image holds everything acknowledged before the fault.
func TestFaultInjection(t *testing.T) {
	syncs := []errorfs.OpKind{errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo}
	tests := []struct {
		name  string
		kinds []errorfs.OpKind
		errno syscall.Errno
	}{
		{"wal write EIO", []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}, syscall.EIO},
		{"wal write ENOSPC", []errorfs.OpKind{errorfs.OpFileWrite, errorfs.OpFileWriteAt}, syscall.ENOSPC},
		{"wal fsync EIO", syncs, syscall.EIO},
		{"wal fsync ENOSPC", syncs, syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			inj := &walFaults{kinds: tt.kinds, err: tt.errno}
			logger := &storeLogger{}
			db := openStoreDB(t, errorfs.Wrap(mem, inj), logger)
			s := NewStore(db)
			m := newStoreModel()
			g, h := mustGroup(t, s, "g"), mustGroup(t, s, "h")
			for i := uint64(1); i <= 10; i += 2 {
				m.storeLogs(t, g, entry("g", i, 1), entry("g", i+1, 1))
			}
			m.storeLogs(t, h, entry("h", 1, 1))
			m.set(t, g, "CurrentTerm", binary.BigEndian.AppendUint64(nil, 1))

			inj.arm(true)
			err := g.StoreLogs([]*raft.Log{entry("g", 11, 1), entry("g", 12, 1)})
			if hits := inj.arm(false); hits == 0 {
				t.Fatalf("the fault was never hit (StoreLogs = %v)", err)
			}
			if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, tt.errno) {
				t.Fatalf("StoreLogs = %v, want ErrStoreFailed wrapping %v", err, tt.errno)
			}
			if !errors.Is(s.Err(), ErrStoreFailed) || !errors.Is(s.Err(), tt.errno) {
				t.Fatalf("Store.Err = %v", s.Err())
			}
			if first, _ := g.FirstIndex(); first != 1 {
				t.Fatalf("first index %d after the failure", first)
			}
			if last, _ := g.LastIndex(); last != 10 {
				t.Fatalf("last index %d after the failure, want 10", last)
			}

			// Every later write of every group is refused by the Store,
			// before it reaches Pebble.
			walIn := db.Metrics().WAL.BytesIn
			writes := map[string]error{
				"StoreLogs":   g.StoreLogs([]*raft.Log{entry("g", 11, 1)}),
				"StoreLog":    h.StoreLog(entry("h", 2, 1)),
				"Set":         h.Set([]byte("k"), []byte("v")),
				"SetUint64":   g.SetUint64([]byte("CurrentTerm"), 2),
				"DeleteRange": g.DeleteRange(1, 2),
				"DeleteGroup": s.DeleteGroup("h"),
			}
			for name, err := range writes {
				if !errors.Is(err, ErrStoreFailed) || !errors.Is(err, tt.errno) {
					t.Errorf("%s after the failure = %v, want ErrStoreFailed wrapping the first error", name, err)
				}
			}
			if in := db.Metrics().WAL.BytesIn; in != walIn {
				t.Errorf("refused writes reached Pebble's WAL: %d bytes in, was %d", in, walIn)
			}
			// Reads go on.
			m.checkEntries(t, s)

			// Pebble's own state after the error.
			var l raft.Log
			if err := g.GetLog(11, &l); err != nil || l.Index != 11 {
				t.Errorf("observed: the failed, non-durable batch is visible in the memtable; now GetLog(11) = %v", err)
			}
			if err := db.Set([]byte("direct"), []byte("x"), pebble.Sync); err != nil {
				t.Errorf("observed: DB.Set after a WAL failure returns nil once Fatalf returns; now %v", err)
			}
			if n := logger.fatalCount(); n != 1 {
				t.Errorf("observed: DB.Set after a WAL failure calls Logger.Fatalf once; now %d calls", n)
			}

			// The crash image holds everything acknowledged.
			crashed := mem.CrashClone(vfs.CrashCloneCfg{})
			if err := db.Close(); !errors.Is(err, tt.errno) {
				t.Errorf("observed: Close returns the WAL error; now %v", err)
			}
			cdb := openStoreDB(t, crashed, nil)
			defer func() { _ = cdb.Close() }()
			cs := NewStore(cdb)
			m.check(t, cs)
			if err := mustGroup(t, cs, "g").StoreLog(entry("g", 11, 2)); err != nil {
				t.Fatalf("writing after a restart: %v", err)
			}
		})
	}
}
