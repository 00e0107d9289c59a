package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/segment"
)

// crashIterations is the number of seeded runs of TestCrashRecovery; -seed
// or SLUICE_SEED replays one.
const crashIterations = 50

// TestCrashRecovery runs random operations on a log over a crashable MemFS
// and, at random points, recovers a copy of the file system as a crash would
// leave it: only what was synced (UnsyncedDataPercent 0), or that plus a
// random share of the unsynced blocks. The recovered log must hold every
// batch below the durable point, nothing that was not appended at its
// offset, no partial batch, and contiguous offsets; and it must take and
// keep new appends.
//
// A seed replays the operations and crash points exactly. Which unsynced
// blocks a crash image keeps also depends on the order in which pebble's
// CrashClone walks its maps, so a failure seen only with a partial image
// may need a few replays.
func TestCrashRecovery(t *testing.T) {
	n := crashIterations
	if testing.Short() {
		n = 10
	}
	for _, seed := range crashSeeds(t, n) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d; replay with: go test ./log -run 'TestCrashRecovery$' -seed %d", seed, seed)
			runCrashIteration(t, seed)
		})
	}
}

func runCrashIteration(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fs := vfs.NewCrashableMem()
	cfg := Config{
		FS:            fs,
		Dir:           "p0",
		SegmentBytes:  int64(2048 + rng.IntN(6144)),
		IndexInterval: 64 + rng.IntN(960),
		Logger:        discardLogger(),
	}
	if rng.IntN(2) == 0 {
		cfg.RetentionBytes = cfg.SegmentBytes * int64(2+rng.IntN(4))
	}
	t.Logf("segment bytes %d, index interval %d, retention bytes %d", cfg.SegmentBytes, cfg.IndexInterval, cfg.RetentionBytes)
	l := mustOpen(t, cfg)
	m := &crashModel{}
	ts := int64(1_700_000_000_000)

	nops := 60 + rng.IntN(60)
	crashAt := []int{rng.IntN(nops), rng.IntN(nops), nops}
	crashPct := []int{0, 1 + rng.IntN(99), rng.IntN(100)}
	for i := 0; i <= nops; i++ {
		for j, at := range crashAt {
			if at == i {
				crashAndRecover(t, fs, cfg, m, crashPct[j], rng)
			}
		}
		if i == nops {
			break
		}
		switch op := rng.IntN(100); {
		case op < 50:
			m.appendRandom(t, l, rng, &ts, fmt.Sprint("op", i))
		case op < 64:
			if err := l.Sync(); err != nil {
				t.Fatalf("op %d: sync: %v", i, err)
			}
			m.durable = m.end()
		case op < 72:
			// The owner commits whole batches: the high watermark is a
			// batch boundary.
			bs := m.boundaries(l.HighWatermark())
			l.SetHighWatermark(bs[rng.IntN(len(bs))])
		case op < 77:
			start, hw := l.LogStartOffset(), l.HighWatermark()
			if err := l.AdvanceLogStart(start + rng.Int64N(hw-start+1)); err != nil {
				t.Fatalf("op %d: advance log start: %v", i, err)
			}
		case op < 80:
			if err := l.ApplyRetention(time.UnixMilli(ts)); err != nil {
				t.Fatalf("op %d: retention: %v", i, err)
			}
		case op < 88:
			// Mostly drop the unsynced tail; sometimes cut deeper.
			to := m.durable
			if to < l.LogStartOffset() || rng.IntN(10) < 3 {
				bs := m.boundaries(l.LogStartOffset())
				to = bs[rng.IntN(len(bs))]
			}
			if err := l.TruncateTo(to); err != nil {
				t.Fatalf("op %d: truncate to %d of [%d, %d): %v", i, to, l.LogStartOffset(), m.end(), err)
			}
			m.truncate(to)
		case op < 94:
			if err := l.Close(); err != nil {
				t.Fatalf("op %d: close: %v", i, err)
			}
			m.durable = m.end()
			l = mustOpen(t, cfg)
			checkLog(t, l, m, false)
		default:
			checkLog(t, l, m, false)
		}
		m.start = l.LogStartOffset()
		segs := l.Segments()
		m.firstSegment = segs[0].BaseOffset
		// Every segment but the last was sealed, so fsynced.
		if len(segs) > 1 {
			m.durable = max(m.durable, segs[len(segs)-2].NextOffset)
		}
	}
	checkLog(t, l, m, false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// crashAndRecover takes a crash copy of fs, opens the log on it and checks
// it against m, then appends to it and checks it again after a clean
// reopen. fs and m are not changed.
func crashAndRecover(t *testing.T, fs *vfs.MemFS, cfg Config, m *crashModel, pct int, rng *rand.Rand) {
	t.Helper()
	cc := vfs.CrashCloneCfg{UnsyncedDataPercent: pct}
	if pct > 0 {
		cc.RNG = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
	cfg.FS = fs.CrashClone(cc)
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("crash (%d%% unsynced kept) with [%d, %d), durable %d: Open: %v", pct, m.start, m.end(), m.durable, err)
	}
	defer l.Close()
	snap := m.clone()
	end := checkLog(t, l, snap, true)
	t.Logf("crash (%d%% unsynced kept): appended [%d, %d), durable %d, recovered [%d, %d): %s",
		pct, m.start, m.end(), m.durable, l.LogStartOffset(), end, describeSegments(l))
	snap.truncate(end)
	snap.start = l.LogStartOffset()
	snap.firstSegment = l.Segments()[0].BaseOffset

	ts := int64(1_800_000_000_000)
	for k := 0; k < 1+rng.IntN(4); k++ {
		snap.appendRandom(t, l, rng, &ts, fmt.Sprint("resumed", k))
	}
	l.SetHighWatermark(snap.end())
	checkLog(t, l, snap, false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snap.durable = snap.end()
	l2 := mustOpen(t, cfg)
	checkLog(t, l2, snap, false)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashScenarios recovers from crashes after the operations that delete
// segment files or move the log start. Deleted segments must stay deleted:
// a segment file that comes back after TruncateTo dropped it holds offsets
// the log has reused (the log then refuses to open, or serves the old
// records again); one that comes back after AdvanceLogStart lies wholly
// below the log start. A log start checkpointed past what survived must not
// hide the appends made after recovery.
func TestCrashScenarios(t *testing.T) {
	big := func(tag string) []byte {
		return batchtest.Make(t, batchtest.Spec{Records: 10, ValueSize: 280, Timestamp: 1000, Tag: tag})
	}
	small := func(tag string) []byte {
		return batchtest.Make(t, batchtest.Spec{Records: 2, ValueSize: 100, Timestamp: 2000, Tag: tag})
	}
	tests := []struct {
		name string
		run  func(t *testing.T, l *Log, m *crashModel)
	}{
		{"truncate away the active segment, append to the one before", func(t *testing.T, l *Log, m *crashModel) {
			m.mustAppend(t, l, big("a"))
			h := m.mustAppend(t, l, big("b")) // rolls: b alone in the second segment
			if len(l.Segments()) != 2 {
				t.Fatalf("want two segments, have %s", describeSegments(l))
			}
			if err := l.TruncateTo(h.BaseOffset); err != nil {
				t.Fatal(err)
			}
			m.truncate(h.BaseOffset)
			m.mustAppend(t, l, small("c")) // fits the first segment
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			m.durable = m.end()
		}},
		{"truncate away synced segments", func(t *testing.T, l *Log, m *crashModel) {
			m.mustAppend(t, l, big("a"))
			h := m.mustAppend(t, l, big("b"))
			m.mustAppend(t, l, big("c"))
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := l.TruncateTo(h.BaseOffset); err != nil {
				t.Fatal(err)
			}
			m.truncate(h.BaseOffset)
			m.durable = m.end()
		}},
		{"advance the log start past sealed segments", func(t *testing.T, l *Log, m *crashModel) {
			for _, tag := range []string{"a", "b", "c", "d"} {
				m.mustAppend(t, l, big(tag))
			}
			l.SetHighWatermark(m.end())
			if err := l.AdvanceLogStart(m.batches[2].base + 1); err != nil {
				t.Fatal(err)
			}
			m.start = l.LogStartOffset()
			m.durable = m.batches[3].base
		}},
		{"advance the log start past the durable end", func(t *testing.T, l *Log, m *crashModel) {
			m.mustAppend(t, l, small("a"))
			m.mustAppend(t, l, small("b"))
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			m.durable = m.end()
			m.mustAppend(t, l, small("c"))
			h := m.mustAppend(t, l, small("d"))
			l.SetHighWatermark(m.end())
			if err := l.AdvanceLogStart(h.BaseOffset + 1); err != nil {
				t.Fatal(err)
			}
			m.start = l.LogStartOffset()
		}},
		{"advance the log start past everything", func(t *testing.T, l *Log, m *crashModel) {
			for _, tag := range []string{"a", "b", "c"} {
				m.mustAppend(t, l, big(tag))
			}
			l.SetHighWatermark(m.end())
			if err := l.AdvanceLogStart(m.end()); err != nil {
				t.Fatal(err)
			}
			m.start = l.LogStartOffset()
			m.durable = m.end()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			cfg := Config{FS: fs, Dir: "p0", SegmentBytes: 4096, IndexInterval: 512, Logger: discardLogger()}
			l := mustOpen(t, cfg)
			m := &crashModel{}
			tt.run(t, l, m)
			checkLog(t, l, m, false)
			m.firstSegment = l.Segments()[0].BaseOffset
			rng := rand.New(rand.NewPCG(1, 2))
			crashAndRecover(t, fs, cfg, m, 0, rng)
			crashAndRecover(t, fs, cfg, m, 50, rng)
		})
	}
}

// corruptLog is a closed multi-segment log on a MemFS and what it holds.
type corruptLog struct {
	fs   *vfs.MemFS
	cfg  Config
	m    *crashModel
	segs []SegmentInfo
}

// buildCorruptLog writes a log of four or more segments whose log start is
// inside the first one (so a checkpoint exists) and whose active segment
// has batches both before and after its last index entry.
func buildCorruptLog(t *testing.T) *corruptLog {
	t.Helper()
	c := &corruptLog{fs: vfs.NewMem(), m: &crashModel{}}
	c.cfg = Config{FS: c.fs, Dir: "p0", SegmentBytes: 4096, IndexInterval: 1024, Logger: discardLogger()}
	l := mustOpen(t, c.cfg)
	ts := int64(5000)
	for i := 0; len(l.Segments()) < 4 || i < 40; i++ {
		ts += int64(i%7) * 10
		c.m.mustAppend(t, l, batchtest.Make(t, batchtest.Spec{Records: 1 + i%5, ValueSize: 60 + i%90, Timestamp: ts - int64(i%3)*25, Tag: fmt.Sprint(i)}))
	}
	// Two small batches, which stay behind the last index entry.
	for i := 0; i < 2; i++ {
		c.m.mustAppend(t, l, batchtest.Make(t, batchtest.Spec{Records: 1, ValueSize: 10, Timestamp: ts + 100, Tag: fmt.Sprint("tail", i)}))
	}
	l.SetHighWatermark(c.m.end())
	if err := l.AdvanceLogStart(3); err != nil {
		t.Fatal(err)
	}
	c.m.start = 3
	c.segs = l.Segments()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c.m.durable = c.m.end()
	last := len(c.segs) - 1
	if d := c.durableEnd(t, last); d == 0 || d >= c.segs[last].Size {
		t.Fatalf("fixture: durable end %d of the active segment (%d bytes) leaves no torn-able tail", d, c.segs[last].Size)
	}
	return c
}

func (c *corruptLog) file(i int, suffix string) string {
	return c.fs.PathJoin(c.cfg.Dir, segment.FileName(c.segs[i].BaseOffset, suffix))
}

// batchesOf returns the batches of segment i and their positions in its file.
func (c *corruptLog) batchesOf(i int) (pos []int64, bs []modelBatch) {
	var p int64
	for _, b := range c.m.batches {
		if b.base >= c.segs[i].BaseOffset && b.base < c.segs[i].NextOffset {
			pos, bs = append(pos, p), append(bs, b)
			p += int64(len(b.raw))
		}
	}
	return pos, bs
}

// durableEnd returns the end of the batch that the last .index entry of
// segment i points at, or 0 with no entries.
func (c *corruptLog) durableEnd(t *testing.T, i int) int64 {
	t.Helper()
	idx := readFile(t, c.fs, c.file(i, segment.IndexSuffix))
	if len(idx) == 0 {
		return 0
	}
	last := int64(binary.BigEndian.Uint32(idx[len(idx)-4:]))
	pos, bs := c.batchesOf(i)
	for j, p := range pos {
		if p == last {
			return p + int64(len(bs[j].raw))
		}
	}
	t.Fatalf("index entry at %d is not a batch boundary", last)
	return 0
}

// firstAfter returns the index of the first batch of segment i that starts
// at or after position p.
func (c *corruptLog) firstAfter(i int, p int64) int {
	pos, _ := c.batchesOf(i)
	for j, q := range pos {
		if q >= p {
			return j
		}
	}
	return len(pos)
}

// TestOpenCorruptLog damages the files of a closed log. A torn tail of the
// active segment is cut off and kept in a .broken file; damaged or missing
// index files are rebuilt; anything else makes Open fail with
// segment.ErrCorrupt or ErrCorrupt and leaves every file as it was.
func TestOpenCorruptLog(t *testing.T) {
	type result struct {
		// brokenAt is the active-segment position where Open must cut a
		// torn tail, or -1.
		brokenAt int64
		// segErr names the segment and position of a segment.ErrCorrupt.
		segErr      bool
		seg         int
		pos         int64
		logErr      bool // ErrCorrupt
		needsRepair bool
	}
	active := func(c *corruptLog) int { return len(c.segs) - 1 }
	tests := []struct {
		name   string
		damage func(t *testing.T, c *corruptLog) result
	}{
		{"active: torn mid-batch", func(t *testing.T, c *corruptLog) result {
			a := active(c)
			pos, bs := c.batchesOf(a)
			j := len(pos) - 1
			name := c.file(a, segment.LogSuffix)
			writeFile(t, c.fs, name, readFile(t, c.fs, name)[:pos[j]+int64(len(bs[j].raw))/2])
			return result{brokenAt: pos[j]}
		}},
		{"active: garbage after the last batch", func(t *testing.T, c *corruptLog) result {
			name := c.file(active(c), segment.LogSuffix)
			b := readFile(t, c.fs, name)
			writeFile(t, c.fs, name, append(b, bytes.Repeat([]byte{0xee}, 100)...))
			return result{brokenAt: int64(len(b))}
		}},
		{"active: zeroed sector after the durable point", func(t *testing.T, c *corruptLog) result {
			a := active(c)
			name := c.file(a, segment.LogSuffix)
			b := readFile(t, c.fs, name)
			d := c.durableEnd(t, a)
			sector := d / 512 * 512
			clear(b[max(sector, d):min(sector+512, int64(len(b)))])
			writeFile(t, c.fs, name, b)
			pos, _ := c.batchesOf(a)
			return result{brokenAt: pos[c.firstAfter(a, d)]}
		}},
		{"active: flipped byte before the durable point", func(t *testing.T, c *corruptLog) result {
			a := active(c)
			name := c.file(a, segment.LogSuffix)
			writeFile(t, c.fs, name, flipByte(readFile(t, c.fs, name), batch.HeaderSize+1))
			return result{brokenAt: -1, segErr: true, seg: a, pos: 0}
		}},
		{"sealed: flipped byte", func(t *testing.T, c *corruptLog) result {
			pos, bs := c.batchesOf(1)
			j := len(pos) / 2
			name := c.file(1, segment.LogSuffix)
			writeFile(t, c.fs, name, flipByte(readFile(t, c.fs, name), pos[j]+int64(len(bs[j].raw))-1))
			return result{brokenAt: -1, segErr: true, seg: 1, pos: pos[j]}
		}},
		{"sealed: zeroed sector", func(t *testing.T, c *corruptLog) result {
			name := c.file(0, segment.LogSuffix)
			b := readFile(t, c.fs, name)
			clear(b[1024:1536])
			writeFile(t, c.fs, name, b)
			pos, _ := c.batchesOf(0)
			j := c.firstAfter(0, 1024+1) - 1
			return result{brokenAt: -1, segErr: true, seg: 0, pos: pos[j]}
		}},
		{"sealed: truncated", func(t *testing.T, c *corruptLog) result {
			pos, _ := c.batchesOf(2)
			name := c.file(2, segment.LogSuffix)
			b := readFile(t, c.fs, name)
			writeFile(t, c.fs, name, b[:len(b)-1])
			return result{brokenAt: -1, segErr: true, seg: 2, pos: pos[len(pos)-1]}
		}},
		{"sealed: torn tail in the next-to-last segment", func(t *testing.T, c *corruptLog) result {
			s := active(c) - 1
			name := c.file(s, segment.LogSuffix)
			b := readFile(t, c.fs, name)
			writeFile(t, c.fs, name, append(b, 0xee, 0xee))
			return result{brokenAt: -1, segErr: true, seg: s, pos: int64(len(b))}
		}},
		{"index files: all removed", func(t *testing.T, c *corruptLog) result {
			for i := range c.segs {
				for _, suffix := range []string{segment.IndexSuffix, segment.TimeIndexSuffix} {
					if err := c.fs.Remove(c.file(i, suffix)); err != nil {
						t.Fatal(err)
					}
				}
			}
			return result{brokenAt: -1, needsRepair: true}
		}},
		{"index files: garbage", func(t *testing.T, c *corruptLog) result {
			for i := range c.segs {
				writeFile(t, c.fs, c.file(i, segment.IndexSuffix), []byte("garbage!!"))
				writeFile(t, c.fs, c.file(i, segment.TimeIndexSuffix), bytes.Repeat([]byte{0xff}, 24))
			}
			return result{brokenAt: -1, needsRepair: true}
		}},
		{"index files: sealed .index points elsewhere", func(t *testing.T, c *corruptLog) result {
			idx := readFile(t, c.fs, c.file(1, segment.IndexSuffix))
			idx[len(idx)-1]-- // a position inside a batch
			writeFile(t, c.fs, c.file(1, segment.IndexSuffix), idx)
			return result{brokenAt: -1, needsRepair: true}
		}},
		{"gap between segments", func(t *testing.T, c *corruptLog) result {
			for _, suffix := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
				if err := c.fs.Remove(c.file(1, suffix)); err != nil {
					t.Fatal(err)
				}
			}
			return result{brokenAt: -1, logErr: true}
		}},
		{"gap between segments and a torn active tail", func(t *testing.T, c *corruptLog) result {
			for _, suffix := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
				if err := c.fs.Remove(c.file(active(c)-1, suffix)); err != nil {
					t.Fatal(err)
				}
			}
			name := c.file(active(c), segment.LogSuffix)
			writeFile(t, c.fs, name, append(readFile(t, c.fs, name), 0xee, 0xee, 0xee))
			return result{brokenAt: -1, logErr: true}
		}},
		{"checkpoint: bad CRC", func(t *testing.T, c *corruptLog) result {
			name := c.fs.PathJoin(c.cfg.Dir, checkpointName)
			writeFile(t, c.fs, name, flipByte(readFile(t, c.fs, name), 7))
			return result{brokenAt: -1, logErr: true}
		}},
		{"checkpoint: short", func(t *testing.T, c *corruptLog) result {
			writeFile(t, c.fs, c.fs.PathJoin(c.cfg.Dir, checkpointName), encodeCheckpoint(3)[:checkpointSize-1])
			return result{brokenAt: -1, logErr: true}
		}},
		{"checkpoint: empty", func(t *testing.T, c *corruptLog) result {
			writeFile(t, c.fs, c.fs.PathJoin(c.cfg.Dir, checkpointName), nil)
			return result{brokenAt: -1, logErr: true}
		}},
		{"checkpoint: trailing bytes", func(t *testing.T, c *corruptLog) result {
			writeFile(t, c.fs, c.fs.PathJoin(c.cfg.Dir, checkpointName), append(encodeCheckpoint(3), 0))
			return result{brokenAt: -1, logErr: true}
		}},
		{"checkpoint: negative offset", func(t *testing.T, c *corruptLog) result {
			writeFile(t, c.fs, c.fs.PathJoin(c.cfg.Dir, checkpointName), encodeCheckpoint(-3))
			return result{brokenAt: -1, logErr: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := buildCorruptLog(t)
			want := tt.damage(t, c)
			before := snapshotDir(t, c.fs, c.cfg.Dir)
			l, err := Open(c.cfg)
			if want.segErr || want.logErr {
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded on a corrupt log")
				}
				if want.logErr && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want log.ErrCorrupt", err)
				}
				if want.segErr {
					var ce *segment.CorruptError
					if !errors.Is(err, segment.ErrCorrupt) || !errors.As(err, &ce) {
						t.Fatalf("Open = %v, want a *segment.CorruptError", err)
					}
					if wantPath := c.file(want.seg, segment.LogSuffix); ce.Path != wantPath || ce.Pos != want.pos {
						t.Fatalf("CorruptError at %s:%d, want %s:%d", ce.Path, ce.Pos, wantPath, want.pos)
					}
				}
				sameFiles(t, before, snapshotDir(t, c.fs, c.cfg.Dir))
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			m := c.m
			if want.brokenAt >= 0 {
				a := len(c.segs) - 1
				_, bs := c.batchesOf(a)
				j := c.firstAfter(a, want.brokenAt)
				cut := m.end()
				if j < len(bs) {
					cut = bs[j].base
				}
				m.truncate(cut)
				broken := c.fs.PathJoin(c.cfg.Dir, fmt.Sprintf("%020d.%d%s", c.segs[a].BaseOffset, want.brokenAt, segment.BrokenSuffix))
				logName := c.file(a, segment.LogSuffix)
				if got := readFile(t, c.fs, broken); !bytes.Equal(got, before[c.fs.PathBase(logName)][want.brokenAt:]) {
					t.Fatalf("%s holds %d bytes, want the %d cut bytes", broken, len(got), len(before[c.fs.PathBase(logName)])-int(want.brokenAt))
				}
			} else {
				for name := range snapshotDir(t, c.fs, c.cfg.Dir) {
					if strings.HasSuffix(name, segment.BrokenSuffix) {
						t.Fatalf("Open cut a tail: %s", name)
					}
				}
			}
			checkLog(t, l, m, false)
			if want.needsRepair {
				// The rebuilt index files are whole: after Close they are
				// what the undamaged log wrote.
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				after := snapshotDir(t, c.fs, c.cfg.Dir)
				want := buildCorruptLog(t)
				sameFiles(t, snapshotDir(t, want.fs, want.cfg.Dir), after)
				l = mustOpen(t, c.cfg)
			}
			// Appends resume at the log end and survive a reopen.
			m.mustAppend(t, l, batchtest.Make(t, batchtest.Spec{Records: 3, ValueSize: 30, Timestamp: 9000, Tag: "resumed"}))
			l.SetHighWatermark(m.end())
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkLog(t, mustOpen(t, c.cfg), m, false)
		})
	}
}

func flipByte(b []byte, p int64) []byte {
	b[p] ^= 0xff
	return b
}
