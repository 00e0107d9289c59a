package log

import (
	"errors"
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/segment"
)

// faultInjector is an errorfs.Injector that, while armed, fails every
// operation that match accepts (after letting the first skip through).
type faultInjector struct {
	under vfs.FS // the wrapped FS, for torn writes

	mu    sync.Mutex
	armed bool
	match func(errorfs.Op) bool
	skip  int
	err   error
	// torn, with an OpFileWriteAt, is written at the operation's offset
	// before the error is returned: the first part of the write landed.
	torn []byte
	hits int
}

func (f *faultInjector) String() string { return "faultInjector" }

func (f *faultInjector) MaybeError(op errorfs.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed || !f.match(op) {
		return nil
	}
	if f.skip > 0 {
		f.skip--
		return nil
	}
	f.hits++
	if f.torn != nil && op.Kind == errorfs.OpFileWriteAt {
		file, err := f.under.OpenReadWrite(op.Path, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		_, err = file.WriteAt(f.torn, op.Offset)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return f.err
}

func (f *faultInjector) arm(match func(errorfs.Op) bool, skip int, err error, torn []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed, f.match, f.skip, f.err, f.torn, f.hits = true, match, skip, err, torn, 0
}

// disarm stops injecting and returns how many errors were injected.
func (f *faultInjector) disarm() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = false
	return f.hits
}

func opOn(kind errorfs.OpKind, pathSuffix string) func(errorfs.Op) bool {
	return func(op errorfs.Op) bool { return op.Kind == kind && strings.HasSuffix(op.Path, pathSuffix) }
}

// TestFaultInjection injects ENOSPC and EIO into the writes, syncs, creates
// and directory syncs that Append and Sync do, with and without a roll. The
// error must surface (errors.Is with the errno); the failed batch must not
// become visible and the log end must not move; every earlier batch must
// still read back. After a write error the log takes appends again once the
// fault is gone; after an fsync error it refuses them (segment.ErrFailed)
// but still serves reads. Either way the log reopens consistent on the
// underlying FS, and on a crash image of it.
func TestFaultInjection(t *testing.T) {
	const dir = "p0"
	// newSeg is the file name of the segment a roll would create.
	newSeg := func(l *Log, suffix string) string { return segment.FileName(l.LogEndOffset(), suffix) }
	tests := []struct {
		name  string
		errno syscall.Errno
		// match picks the operation to fail, given the log before the
		// failing call; skip lets that many matching operations through.
		match func(l *Log) func(errorfs.Op) bool
		skip  int
		sync  bool // the failing call is Sync; otherwise Append
		roll  bool // the failing Append rolls first
		torn  bool // half of the failing write lands
		// failed: after the error the log refuses writes (segment.ErrFailed).
		failed bool
	}{
		{name: "write ENOSPC", errno: syscall.ENOSPC,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, segment.LogSuffix) }},
		{name: "write EIO", errno: syscall.EIO,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, segment.LogSuffix) }},
		{name: "torn write EIO", errno: syscall.EIO, torn: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, segment.LogSuffix) }},
		{name: "sync EIO", errno: syscall.EIO, sync: true, failed: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileSync, segment.LogSuffix) }},
		{name: "sync ENOSPC", errno: syscall.ENOSPC, sync: true, failed: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileSync, segment.LogSuffix) }},
		{name: "sync: index write EIO", errno: syscall.EIO, sync: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, segment.IndexSuffix) }},
		{name: "roll: create ENOSPC", errno: syscall.ENOSPC, roll: true,
			match: func(l *Log) func(errorfs.Op) bool { return opOn(errorfs.OpCreate, newSeg(l, segment.LogSuffix)) }},
		{name: "roll: create EIO", errno: syscall.EIO, roll: true,
			match: func(l *Log) func(errorfs.Op) bool { return opOn(errorfs.OpCreate, newSeg(l, segment.LogSuffix)) }},
		{name: "roll: directory sync EIO after create", errno: syscall.EIO, roll: true, skip: 1, // the first is Seal's
			match: func(*Log) func(errorfs.Op) bool {
				return func(op errorfs.Op) bool { return op.Kind == errorfs.OpFileSync && op.Path == dir }
			}},
		{name: "roll: write ENOSPC to the new segment", errno: syscall.ENOSPC, roll: true,
			match: func(l *Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, newSeg(l, segment.LogSuffix)) }},
		{name: "roll: index write EIO while sealing", errno: syscall.EIO, roll: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileWriteAt, segment.IndexSuffix) }},
		{name: "roll: sync EIO while sealing", errno: syscall.EIO, roll: true, failed: true,
			match: func(*Log) func(errorfs.Op) bool { return opOn(errorfs.OpFileSync, segment.LogSuffix) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			inj := &faultInjector{under: mem}
			cfg := Config{FS: errorfs.Wrap(mem, inj), Dir: dir, SegmentBytes: 8192, IndexInterval: 256, Logger: discardLogger()}
			l := mustOpen(t, cfg)
			m := &crashModel{}
			small := func(tag string) []byte {
				return batchtest.Make(t, batchtest.Spec{Records: 1 + len(tag)%3, ValueSize: 40, Timestamp: 5000, Tag: tag})
			}
			// Seven batches in one segment: six synced, one not.
			for i := 0; i < 7; i++ {
				m.mustAppend(t, l, batchtest.Make(t, batchtest.Spec{Records: 4, ValueSize: 80, Timestamp: int64(1000 + 10*i), Tag: string(rune('a' + i))}))
				if i == 5 {
					if err := l.Sync(); err != nil {
						t.Fatal(err)
					}
					m.durable = m.end()
				}
			}
			l.SetHighWatermark(m.end())
			if n := len(l.Segments()); n != 1 {
				t.Fatalf("setup: %d segments", n)
			}
			b := small("victim")
			if tt.roll {
				b = batchtest.Make(t, batchtest.Spec{Records: 2, ValueSize: 4000, Timestamp: 6000, Tag: "big"})
			}
			end, size := l.LogEndOffset(), l.Size()

			var torn []byte
			if tt.torn {
				torn = b[:len(b)/2]
			}
			inj.arm(tt.match(l), tt.skip, tt.errno, torn)
			var err error
			if tt.sync {
				err = l.Sync()
			} else {
				_, err = l.Append(b)
			}
			if hits := inj.disarm(); hits == 0 {
				t.Fatalf("the fault was never hit (call returned %v)", err)
			}
			if !errors.Is(err, tt.errno) {
				t.Fatalf("got %v, want an error matching %v", err, tt.errno)
			}

			// Nothing new is visible, and everything before still is.
			l.SetHighWatermark(math.MaxInt64)
			if l.LogEndOffset() != end || l.HighWatermark() != end || l.Size() != size {
				t.Fatalf("after the failure: end %d, hw %d, size %d; want %d, %d, %d",
					l.LogEndOffset(), l.HighWatermark(), l.Size(), end, end, size)
			}
			if got, err := l.Read(nil, end, 1<<20); err != nil || len(got) != 0 {
				t.Fatalf("read at the log end: %d bytes, %v", len(got), err)
			}
			checkLog(t, l, m, false)

			if tt.failed {
				_, err := l.Append(small("refused"))
				if !errors.Is(err, segment.ErrFailed) || !errors.Is(err, tt.errno) {
					t.Fatalf("append after a failed fsync = %v, want segment.ErrFailed wrapping %v", err, tt.errno)
				}
				if err := l.Sync(); !errors.Is(err, segment.ErrFailed) {
					t.Fatalf("sync after a failed fsync = %v, want segment.ErrFailed", err)
				}
				if l.LogEndOffset() != end {
					t.Fatalf("refused append moved the log end to %d", l.LogEndOffset())
				}
				checkLog(t, l, m, false)
			} else {
				if tt.torn {
					// Recovery cuts the torn bytes past the end.
					if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					l = mustOpen(t, cfg)
					checkLog(t, l, m, false)
					if n := countBroken(t, mem, dir); n != 1 {
						t.Fatalf("%d .broken files after reopening over a torn write, want 1", n)
					}
				}
				// Appends resume, a small one first: after a failed roll it
				// must not land in a segment that was already sealed.
				m.mustAppend(t, l, small("retry"))
				m.mustAppend(t, l, b)
				m.mustAppend(t, l, small("after"))
				if err := l.Sync(); err != nil {
					t.Fatalf("sync after the fault is gone: %v", err)
				}
				m.durable = m.end()
				l.SetHighWatermark(m.end())
				checkLog(t, l, m, false)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}

			// A crash image holds at least what was synced; the FS itself
			// holds everything that was written.
			crashed := cfg
			crashed.FS = mem.CrashClone(vfs.CrashCloneCfg{})
			cl := mustOpen(t, crashed)
			checkLog(t, cl, m, true)
			if err := cl.Close(); err != nil {
				t.Fatal(err)
			}
			plain := cfg
			plain.FS = mem
			l2 := mustOpen(t, plain)
			checkLog(t, l2, m, false)
			m.mustAppend(t, l2, small("reopened"))
			l2.SetHighWatermark(m.end())
			checkLog(t, l2, m, false)
		})
	}
}

func countBroken(t *testing.T, fs vfs.FS, dir string) int {
	t.Helper()
	n := 0
	for name := range snapshotDir(t, fs, dir) {
		if strings.HasSuffix(name, segment.BrokenSuffix) {
			n++
		}
	}
	return n
}
