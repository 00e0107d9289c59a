package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/internal/fsutil"
)

// Corruption tables in the style of etcd's wal tests: damage the bytes of a
// closed segment on the file system, open it, and check that the result is
// either a repaired torn tail of the active segment or a *CorruptError that
// changed nothing on disk.

const (
	crDir      = "seg"
	crBase     = int64(100)
	crInterval = 1500 // a sparse index: several batches after the last entry
	crSector   = 512
)

// crFixture is a closed segment on a MemFS and what was written to it.
type crFixture struct {
	fs    *vfs.MemFS
	raw   [][]byte // stamped bytes of each batch, in order
	hs    []batch.Header
	pos   []int64 // position of each batch in the .log
	data  []byte  // the whole .log
	index []byte  // the .index and .timeindex files as Close left them
	times []byte
}

func crOptions() Options {
	return Options{IndexInterval: crInterval, Logger: slog.New(slog.DiscardHandler)}
}

// crTimestamps are the first-record timestamps of the fixture batches. They
// are not monotonic, so that the time index is not trivially the offset
// index.
var crTimestamps = []int64{1000, 1100, 1050, 1300, 1200, 1400, 1400, 1700, 1500, 1800, 2000, 1900, 2100, 2300, 2200, 2500}

// crBuild writes the fixture segment: sixteen batches of mixed codecs and
// sizes, the last one large. sealed seals it; otherwise it is synced and
// closed as an active segment.
func crBuild(t *testing.T, sealed bool) *crFixture {
	t.Helper()
	f := &crFixture{fs: vfs.NewMem()}
	if err := f.fs.MkdirAll(crDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Create(f.fs, crDir, crBase, crOptions())
	if err != nil {
		t.Fatal(err)
	}
	codecs := []batch.Codec{batch.None, batch.None, batch.Gzip, batch.None, batch.Snappy, batch.LZ4, batch.None, batch.Zstd}
	var pos int64
	for i, ts := range crTimestamps {
		sp := batchtest.Spec{Records: 1 + i%4, ValueSize: 90 + 10*(i%3), Timestamp: ts, Tag: fmt.Sprint("b", i), Codec: codecs[i%len(codecs)]}
		if i == len(crTimestamps)-1 {
			sp.Records, sp.ValueSize, sp.Codec = 8, 200, batch.None
		}
		b := batchtest.Make(t, sp)
		h, err := s.Append(b)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		f.raw = append(f.raw, b)
		f.hs = append(f.hs, h)
		f.pos = append(f.pos, pos)
		pos += int64(len(b))
	}
	if sealed {
		err = s.Seal()
	}
	if err == nil {
		err = s.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	f.data = crRead(t, f.fs, f.name(LogSuffix))
	f.index = crRead(t, f.fs, f.name(IndexSuffix))
	f.times = crRead(t, f.fs, f.name(TimeIndexSuffix))
	if int64(len(f.data)) != pos {
		t.Fatalf("fixture .log is %d bytes, appended %d", len(f.data), pos)
	}
	if len(f.index) < 2*indexEntrySize || len(f.times) == 0 {
		t.Fatalf("fixture index too small: %d index bytes, %d time index bytes", len(f.index), len(f.times))
	}
	return f
}

func (f *crFixture) name(suffix string) string { return f.fs.PathJoin(crDir, FileName(crBase, suffix)) }

// lastIndexPos is the position of the last .index entry. The batch there,
// and every one before it, was fsynced before the entry was written.
func (f *crFixture) lastIndexPos(t *testing.T) int64 {
	t.Helper()
	entries, err := decodeIndex(f.index)
	if err != nil {
		t.Fatal(err)
	}
	return int64(entries[len(entries)-1].pos)
}

// durableEnd is the end of the batch at the last .index entry: damage
// before it is corruption, damage after it a torn tail.
func (f *crFixture) durableEnd(t *testing.T) int64 {
	t.Helper()
	i := f.batchAt(f.lastIndexPos(t))
	return f.pos[i] + int64(len(f.raw[i]))
}

// batchAt returns the index of the batch whose bytes contain position p.
func (f *crFixture) batchAt(p int64) int {
	i, found := slices.BinarySearch(f.pos, p)
	if found {
		return i
	}
	return i - 1
}

// firstChange returns the position of the first byte where b differs from
// the fixture .log (or where one of them ends).
func (f *crFixture) firstChange(b []byte) int64 {
	n := min(len(b), len(f.data))
	for i := 0; i < n; i++ {
		if b[i] != f.data[i] {
			return int64(i)
		}
	}
	return int64(n)
}

func crRead(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	file, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	b, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func crWrite(t *testing.T, fs vfs.FS, name string, b []byte) {
	t.Helper()
	file, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	// A MemFS in an invariants (race) build scrambles the buffer given to
	// Write after writing it.
	if _, err := file.Write(bytes.Clone(b)); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
}

// crSnapshot returns every file in the segment directory with its bytes.
func crSnapshot(t *testing.T, fs vfs.FS) map[string][]byte {
	t.Helper()
	names, err := fs.List(crDir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		out[name] = crRead(t, fs, fs.PathJoin(crDir, name))
	}
	return out
}

// crFlip returns a copy of b with the byte at p inverted.
func crFlip(b []byte, p int64) []byte {
	b = bytes.Clone(b)
	b[p] ^= 0xff
	return b
}

// crZero returns a copy of b with [p, p+n) zeroed (clipped to len(b)).
func crZero(b []byte, p, n int64) []byte {
	b = bytes.Clone(b)
	clear(b[p:min(p+n, int64(len(b)))])
	return b
}

// crSectorAfter returns the first 512-byte sector boundary strictly after p.
func crSectorAfter(p int64) int64 { return (p/crSector + 1) * crSector }

// crCheckBatches checks that the segment holds exactly the first n fixture
// batches, each reading back byte for byte and decoding.
func crCheckBatches(t *testing.T, f *crFixture, s *Segment, n int) {
	t.Helper()
	wantNext, wantSize := crBase, int64(0)
	if n > 0 {
		wantNext, wantSize = f.hs[n-1].LastOffset()+1, f.pos[n-1]+int64(len(f.raw[n-1]))
	}
	if s.NextOffset() != wantNext || s.Size() != wantSize {
		t.Fatalf("segment holds [%d, %d) in %d bytes, want [%d, %d) in %d bytes",
			crBase, s.NextOffset(), s.Size(), crBase, wantNext, wantSize)
	}
	crCheckReads(t, f, s, n)
}

// crCheckReads checks that the first n fixture batches read back byte for
// byte, by their first and last offsets, and decode.
func crCheckReads(t *testing.T, f *crFixture, s *Segment, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		h := f.hs[i]
		for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
			got, err := s.Read(nil, off, 1, math.MaxInt64)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if !bytes.Equal(got, f.raw[i]) {
				t.Fatalf("read %d: got %d bytes, want batch %d (%d bytes)", off, len(got), i, len(f.raw[i]))
			}
		}
		if _, err := batch.DecodeRecords(f.raw[i], nil, 1<<20); err != nil {
			t.Fatalf("batch %d does not decode: %v", i, err)
		}
	}
}

// crCheckIndexFiles checks that both index files on disk decode and match
// the segment's in-memory indexes.
func crCheckIndexFiles(t *testing.T, fs vfs.FS, s *Segment) {
	t.Helper()
	index, err := decodeIndex(crRead(t, fs, s.path(IndexSuffix)))
	if err != nil {
		t.Fatalf(".index does not decode: %v", err)
	}
	times, err := decodeTimeIndex(crRead(t, fs, s.path(TimeIndexSuffix)))
	if err != nil {
		t.Fatalf(".timeindex does not decode: %v", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !slices.Equal(index, s.mu.index) || !slices.Equal(times, s.mu.times) {
		t.Fatalf("index files %v %v differ from memory %v %v", index, times, s.mu.index, s.mu.times)
	}
}

// crCheckFindTimestamp compares FindTimestamp with a scan of the first n
// fixture batches for every interesting timestamp.
func crCheckFindTimestamp(t *testing.T, f *crFixture, s *Segment, n int) {
	t.Helper()
	for _, ts := range []int64{0, 1001, 1100, 1150, 1302, 1450, 1700, 1900, 2003, 2207, 2400, 2507, 9999} {
		want := -1
		for i := 0; i < n; i++ {
			if f.hs[i].MaxTimestamp >= ts {
				want = i
				break
			}
		}
		got, ok, err := s.FindTimestamp(ts, crBase, math.MaxInt64)
		if err != nil {
			t.Fatalf("FindTimestamp(%d): %v", ts, err)
		}
		switch {
		case want < 0 && ok:
			t.Fatalf("FindTimestamp(%d) found a batch, want none", ts)
		case want >= 0 && (!ok || !bytes.Equal(got, f.raw[want])):
			t.Fatalf("FindTimestamp(%d) = %d bytes, ok %v; want batch %d", ts, len(got), ok, want)
		}
	}
}

// TestOpenRepairsTornTail damages the tail of an active segment after the
// batch its last index entry points at (the durable point). Open must cut the .log at the first bad batch,
// keep the cut bytes in a .broken file, keep every batch before it, and take
// appends again.
func TestOpenRepairsTornTail(t *testing.T) {
	tests := []struct {
		name string
		// damage returns the new .log bytes and the position where recovery
		// must cut them.
		damage func(t *testing.T, f *crFixture) (log []byte, cut int64)
	}{
		{"truncated mid-batch", func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return f.data[:f.pos[last]+int64(len(f.raw[last])/2)], f.pos[last]
		}},
		{"truncated mid-header", func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return f.data[:f.pos[last]+batch.HeaderSize-5], f.pos[last]
		}},
		{"truncated to one byte past a batch", func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return f.data[:f.pos[last]+1], f.pos[last]
		}},
		{"short garbage appended", func(t *testing.T, f *crFixture) ([]byte, int64) {
			return append(bytes.Clone(f.data), bytes.Repeat([]byte{0xee}, 10)...), int64(len(f.data))
		}},
		{"long garbage appended", func(t *testing.T, f *crFixture) ([]byte, int64) {
			return append(bytes.Clone(f.data), bytes.Repeat([]byte{0xee}, 700)...), int64(len(f.data))
		}},
		{"zeros appended", func(t *testing.T, f *crFixture) ([]byte, int64) {
			return append(bytes.Clone(f.data), make([]byte, crSector)...), int64(len(f.data))
		}},
		{"stale whole batch appended", func(t *testing.T, f *crFixture) ([]byte, int64) {
			// A valid batch with the wrong base offset: an old write that
			// was overwritten in memory but not on disk.
			return append(bytes.Clone(f.data), f.raw[3]...), int64(len(f.data))
		}},
		{"zeroed sector after the durable point", func(t *testing.T, f *crFixture) ([]byte, int64) {
			p := crSectorAfter(f.durableEnd(t) - 1)
			if p >= int64(len(f.data)) {
				t.Fatalf("fixture has no sector after the durable point %d", f.durableEnd(t))
			}
			b := crZero(f.data, p, crSector)
			return b, f.pos[f.batchAt(f.firstChange(b))]
		}},
		{"zeroed sector at the file end", func(t *testing.T, f *crFixture) ([]byte, int64) {
			p := (int64(len(f.data)) - 1) / crSector * crSector
			if p < f.durableEnd(t) {
				t.Fatalf("last sector %d is not after the durable point %d", p, f.durableEnd(t))
			}
			b := crZero(f.data, p, crSector)
			return b, f.pos[f.batchAt(f.firstChange(b))]
		}},
		{"flipped byte after the durable point", func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return crFlip(f.data, f.pos[last]+200), f.pos[last]
		}},
		{"all of the last batch zeroed", func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return crZero(f.data, f.pos[last], int64(len(f.raw[last]))), f.pos[last]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := crBuild(t, false)
			damaged, cut := tt.damage(t, f)
			if cut < f.durableEnd(t) {
				t.Fatalf("test bug: cut %d is before the durable point %d", cut, f.durableEnd(t))
			}
			crWrite(t, f.fs, f.name(LogSuffix), damaged)
			kept := f.batchAt(cut)
			if cut == int64(len(f.data)) {
				kept = len(f.raw)
			}
			// Check calls a torn tail no damage, and changes nothing.
			unchanged := crSnapshot(t, f.fs)
			if next, err := Check(f.fs, crDir, crBase, Active); err != nil || next != f.nextOffsetAfter(kept) {
				t.Fatalf("Check = %d, %v; want %d, nil", next, err, f.nextOffsetAfter(kept))
			}
			if after := crSnapshot(t, f.fs); !maps.EqualFunc(unchanged, after, bytes.Equal) {
				t.Fatalf("Check changed files: %v -> %v", slices.Sorted(maps.Keys(unchanged)), slices.Sorted(maps.Keys(after)))
			}

			s, err := Open(f.fs, crDir, crBase, Active, crOptions())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			crCheckBatches(t, f, s, kept)
			crCheckFindTimestamp(t, f, s, kept)
			if got := crRead(t, f.fs, f.name(LogSuffix)); !bytes.Equal(got, damaged[:cut]) {
				t.Fatalf(".log is %d bytes after repair, want the %d bytes before the cut", len(got), cut)
			}
			broken := f.fs.PathJoin(crDir, fmt.Sprintf("%020d.%d%s", crBase, cut, BrokenSuffix))
			if got := crRead(t, f.fs, broken); !bytes.Equal(got, damaged[cut:]) {
				t.Fatalf("%s holds %d bytes, want the %d cut bytes", broken, len(got), len(damaged)-int(cut))
			}
			crCheckIndexFiles(t, f.fs, s)

			// Appends resume at the cut, and survive a reopen with no
			// further repair.
			b := batchtest.Make(t, batchtest.Spec{Records: 3, ValueSize: 50, Timestamp: 3000, Tag: "resumed"})
			h, err := s.Append(b)
			if err != nil {
				t.Fatalf("append after repair: %v", err)
			}
			if want := s.BaseOffset() + int64(f.nextOffsetAfter(kept)-crBase); h.BaseOffset != want {
				t.Fatalf("appended at %d, want %d", h.BaseOffset, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			before := crSnapshot(t, f.fs)
			s2, err := Open(f.fs, crDir, crBase, Active, crOptions())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s2.Close()
			crCheckReads(t, f, s2, kept)
			got, err := s2.Read(nil, h.BaseOffset, 1, math.MaxInt64)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("read resumed batch at %d: %d bytes, %v", h.BaseOffset, len(got), err)
			}
			if after := crSnapshot(t, f.fs); !maps.EqualFunc(before, after, bytes.Equal) {
				t.Fatalf("a clean reopen changed files: %v -> %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
		})
	}
}

func (f *crFixture) nextOffsetAfter(n int) int64 {
	if n == 0 {
		return crBase
	}
	return f.hs[n-1].LastOffset() + 1
}

// TestOpenRefusesCorruption damages a sealed segment anywhere, or an active
// segment before its durable point. Open must fail with a *CorruptError
// that names the file and the damaged batch, and leave every file as it was.
func TestOpenRefusesCorruption(t *testing.T) {
	const mid = 7 // a batch in the middle of the fixture
	tests := []struct {
		name   string
		sealed bool
		// damage returns the new .log bytes and the position of the batch
		// that Open must report.
		damage func(t *testing.T, f *crFixture) (log []byte, pos int64)
	}{
		{"sealed: flipped payload byte", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+int64(len(f.raw[mid]))-3), f.pos[mid]
		}},
		{"sealed: flipped CRC byte", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+18), f.pos[mid]
		}},
		{"sealed: flipped attributes byte", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+22), f.pos[mid]
		}},
		{"sealed: flipped base offset byte", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			// Outside the CRC, but the offsets stop being contiguous.
			return crFlip(f.data, f.pos[mid]+7), f.pos[mid]
		}},
		{"sealed: flipped length byte", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+11), f.pos[mid]
		}},
		{"sealed: flipped magic", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+16), f.pos[mid]
		}},
		{"sealed: flipped byte in the first batch", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, batch.HeaderSize+2), 0
		}},
		{"sealed: flipped byte in the last batch", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, int64(len(f.data))-1), f.pos[len(f.pos)-1]
		}},
		{"sealed: zeroed sector in the middle", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			b := crZero(f.data, crSectorAfter(f.pos[mid]), crSector)
			return b, f.pos[f.batchAt(f.firstChange(b))]
		}},
		{"sealed: zeroed first sector", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crZero(f.data, 0, crSector), 0
		}},
		{"sealed: zeroed last sector", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			b := crZero(f.data, (int64(len(f.data))-1)/crSector*crSector, crSector)
			return b, f.pos[f.batchAt(f.firstChange(b))]
		}},
		{"sealed: truncated mid-batch", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			last := len(f.pos) - 1
			return f.data[:f.pos[last]+100], f.pos[last]
		}},
		{"sealed: garbage appended", true, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return append(bytes.Clone(f.data), 0xee, 0xee, 0xee), int64(len(f.data))
		}},
		{"active: zeroed sector spanning the last index entry", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			// The header the last entry points at is zeroed too, so the
			// entry no longer matches; the batch was durable all the same.
			p := f.pos[f.batchAt(f.lastIndexPos(t))-2]
			if p+crSector <= f.lastIndexPos(t) {
				t.Fatalf("test bug: %d+%d does not reach the last entry at %d", p, crSector, f.lastIndexPos(t))
			}
			return crZero(f.data, p, crSector), p
		}},
		{"active: zeroed header at the last index entry", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			p := f.lastIndexPos(t)
			return crZero(f.data, p, batch.HeaderSize), p
		}},
		{"active: flipped payload byte in the batch at the last index entry", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.durableEnd(t)-1), f.lastIndexPos(t)
		}},
		{"active: flipped payload byte before the durable point", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid]+int64(len(f.raw[mid]))-3), f.pos[mid]
		}},
		{"active: zeroed sector before the durable point", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			b := crZero(f.data, crSectorAfter(f.pos[2]), crSector)
			return b, f.pos[f.batchAt(f.firstChange(b))]
		}},
		{"active: flipped magic before the durable point", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			p := f.pos[f.batchAt(f.lastIndexPos(t))-1]
			return crFlip(f.data, p+16), p
		}},
		{"active: flipped base offset in the first batch", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, 5), 0
		}},
		{"active: flipped length before the durable point", false, func(t *testing.T, f *crFixture) ([]byte, int64) {
			return crFlip(f.data, f.pos[mid-4]+9), f.pos[mid-4]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := crBuild(t, tt.sealed)
			damaged, wantPos := tt.damage(t, f)
			if !tt.sealed && wantPos >= f.durableEnd(t) {
				t.Fatalf("test bug: damage at %d is not before the durable point %d", wantPos, f.lastIndexPos(t))
			}
			crWrite(t, f.fs, f.name(LogSuffix), damaged)
			before := crSnapshot(t, f.fs)

			mode := Active
			if tt.sealed {
				mode = Sealed
			}
			// Check finds the same damage as Open, without changing
			// anything; the error names the first offset the damage hides.
			wantOffset := f.nextOffsetAfter(f.batchAt(wantPos))
			if wantPos == int64(len(f.data)) {
				wantOffset = f.nextOffsetAfter(len(f.raw))
			}
			next, cerr := Check(f.fs, crDir, crBase, mode)
			var cce *CorruptError
			if !errors.As(cerr, &cce) || cce.Pos != wantPos || cce.Offset != wantOffset || next != wantOffset {
				t.Fatalf("Check = %d, %v; want a *CorruptError at position %d, offset %d", next, cerr, wantPos, wantOffset)
			}
			if want := fmt.Sprintf("at position %d (offset %d)", wantPos, wantOffset); !strings.Contains(cerr.Error(), want) ||
				!strings.Contains(cerr.Error(), f.name(LogSuffix)) {
				t.Fatalf("Check error %q does not name the file and %q", cerr, want)
			}
			if after := crSnapshot(t, f.fs); !maps.EqualFunc(before, after, bytes.Equal) {
				t.Fatalf("Check changed files: %v -> %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
			s, err := Open(f.fs, crDir, crBase, mode, crOptions())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a corrupt segment")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open = %v (%T), want a *CorruptError", err, err)
			}
			if ce.Path != f.name(LogSuffix) || ce.Pos != wantPos || ce.Offset != wantOffset {
				t.Fatalf("CorruptError at %s:%d, want %s:%d", ce.Path, ce.Pos, f.name(LogSuffix), wantPos)
			}
			if !errors.Is(err, batch.ErrCorrupt) && !errors.Is(err, batch.ErrTruncated) {
				t.Fatalf("cause %v is neither batch.ErrCorrupt nor batch.ErrTruncated", ce.Err)
			}
			after := crSnapshot(t, f.fs)
			if !maps.EqualFunc(before, after, bytes.Equal) {
				t.Fatalf("refused Open changed files: %v -> %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
			for name := range after {
				if strings.HasSuffix(name, BrokenSuffix) {
					t.Fatalf("refused Open wrote %s", name)
				}
			}
		})
	}
}

// TestOpenRebuildsIndexFiles removes or damages the index files of an
// active and a sealed segment. Open must rebuild them: reads and timestamp
// lookups stay right, and the files on disk end up decoding to exactly what
// the segment wrote.
func TestOpenRebuildsIndexFiles(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the index files; nil content removes the file.
		index, times func(f *crFixture) []byte
	}{
		{name: "missing .index", index: func(*crFixture) []byte { return nil }},
		{name: "missing .timeindex", times: func(*crFixture) []byte { return nil }},
		{name: "both missing", index: func(*crFixture) []byte { return nil }, times: func(*crFixture) []byte { return nil }},
		{name: "empty .index", index: func(*crFixture) []byte { return []byte{} }},
		{name: ".index torn mid-entry", index: func(f *crFixture) []byte { return f.index[:len(f.index)-3] }},
		{name: ".index garbage", index: func(f *crFixture) []byte { return bytes.Repeat([]byte{0xa5}, len(f.index)) }},
		{name: ".index entries out of order", index: func(f *crFixture) []byte {
			b := bytes.Clone(f.index)
			copy(b[len(b)-indexEntrySize:], f.index[:indexEntrySize])
			return b
		}},
		{name: ".index zeroed", index: func(f *crFixture) []byte { return make([]byte, len(f.index)) }},
		{name: ".index points past the end", index: func(f *crFixture) []byte {
			return appendIndexEntry(bytes.Clone(f.index), indexEntry{rel: 1 << 20, pos: 1 << 30})
		}},
		{name: ".index points at the wrong batch", index: func(f *crFixture) []byte {
			// Well formed, but the last entry names the position of the
			// batch before the one it claims.
			entries, _ := decodeIndex(f.index)
			last := entries[len(entries)-1]
			prev := f.pos[f.batchAt(int64(last.pos))-1]
			entries[len(entries)-1].pos = uint32(prev)
			var b []byte
			for _, e := range entries {
				b = appendIndexEntry(b, e)
			}
			return b
		}},
		{name: ".index prefix", index: func(f *crFixture) []byte { return f.index[:indexEntrySize] }},
		{name: ".timeindex garbage", times: func(f *crFixture) []byte { return bytes.Repeat([]byte{0x5a}, 2*timeIndexEntrySize) }},
		{name: ".timeindex torn mid-entry", times: func(f *crFixture) []byte { return f.times[:len(f.times)-1] }},
		{name: ".timeindex entries out of order", times: func(f *crFixture) []byte {
			return append(bytes.Clone(f.times), f.times[:timeIndexEntrySize]...)
		}},
		{name: "both garbage", index: func(f *crFixture) []byte { return []byte("not an index") },
			times: func(f *crFixture) []byte { return []byte("not a time index either") }},
	}
	for _, sealed := range []bool{false, true} {
		for _, tt := range tests {
			name := "active/" + tt.name
			if sealed {
				name = "sealed/" + tt.name
			}
			t.Run(name, func(t *testing.T) {
				f := crBuild(t, sealed)
				for _, d := range []struct {
					suffix string
					fn     func(*crFixture) []byte
				}{{IndexSuffix, tt.index}, {TimeIndexSuffix, tt.times}} {
					switch {
					case d.fn == nil:
					case d.fn(f) == nil:
						if err := f.fs.Remove(f.name(d.suffix)); err != nil {
							t.Fatal(err)
						}
					default:
						crWrite(t, f.fs, f.name(d.suffix), d.fn(f))
					}
				}
				mode := Active
				if sealed {
					mode = Sealed
				}
				s, err := Open(f.fs, crDir, crBase, mode, crOptions())
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				crCheckBatches(t, f, s, len(f.raw))
				crCheckFindTimestamp(t, f, s, len(f.raw))
				if got := crRead(t, f.fs, f.name(LogSuffix)); !bytes.Equal(got, f.data) {
					t.Fatal("index damage changed the .log")
				}
				if sealed {
					// A sealed segment's index files must be whole at once.
					crCheckIndexFiles(t, f.fs, s)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// After Close every entry is on disk, identical to what the
				// undamaged segment wrote.
				if got := crRead(t, f.fs, f.name(IndexSuffix)); !bytes.Equal(got, f.index) {
					t.Fatalf(".index after rebuild = %x, want %x", got, f.index)
				}
				if got := crRead(t, f.fs, f.name(TimeIndexSuffix)); !bytes.Equal(got, f.times) {
					t.Fatalf(".timeindex after rebuild = %x, want %x", got, f.times)
				}
				for name := range crSnapshot(t, f.fs) {
					if strings.HasSuffix(name, BrokenSuffix) {
						t.Fatalf("index damage cut the .log: %s", name)
					}
				}
			})
		}
	}
}

// TestReopenAfterProcessCrashThenPowerLoss reopens an active segment whose
// last batches were written but never fsynced (a process crash: the page
// cache still holds them) and whose .index must be rewritten. Recovery keeps
// those batches and points the rebuilt index at them, so it must make them
// durable first: after a power loss that drops every unsynced write, the
// segment still opens, whole.
func TestReopenAfterProcessCrashThenPowerLoss(t *testing.T) {
	for _, pct := range []int{0, 50, 100} {
		t.Run(fmt.Sprintf("unsynced=%d%%", pct), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			if err := fs.MkdirAll(crDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsutil.SyncDir(fs, fs.PathDir(crDir)); err != nil {
				t.Fatal(err)
			}
			opts := Options{IndexInterval: 200, Logger: slog.New(slog.DiscardHandler)}
			s, err := Create(fs, crDir, crBase, opts)
			if err != nil {
				t.Fatal(err)
			}
			var raw [][]byte
			for i := 0; i < 30; i++ {
				b := batchtest.Make(t, batchtest.Spec{Records: 2, ValueSize: 150, Timestamp: int64(1000 + i), Tag: fmt.Sprint(i)})
				if _, err := s.Append(b); err != nil {
					t.Fatal(err)
				}
				raw = append(raw, b)
				if i == 9 {
					if err := s.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The process dies: s is abandoned unsynced. The .index on disk
			// is damaged, so recovery rewrites it.
			crWrite(t, fs, s.path(IndexSuffix), []byte("bad"))
			s2, err := Open(fs, crDir, crBase, Active, opts)
			if err != nil {
				t.Fatalf("reopen after the process crash: %v", err)
			}
			if s2.NextOffset() != s.NextOffset() {
				t.Fatalf("recovered up to %d, want %d", s2.NextOffset(), s.NextOffset())
			}
			// Power loss.
			cc := vfs.CrashCloneCfg{UnsyncedDataPercent: pct}
			if pct > 0 {
				cc.RNG = rand.New(rand.NewPCG(uint64(pct), 7))
			}
			crashed := fs.CrashClone(cc)
			s3, err := Open(crashed, crDir, crBase, Active, opts)
			if err != nil {
				t.Fatalf("reopen after the power loss: %v", err)
			}
			defer s3.Close()
			if s3.NextOffset() != s.NextOffset() {
				t.Fatalf("after the power loss the segment ends at %d, want %d", s3.NextOffset(), s.NextOffset())
			}
			for i, b := range raw {
				off := crBase + 2*int64(i)
				got, err := s3.Read(nil, off, 1, math.MaxInt64)
				if err != nil || !bytes.Equal(got, b) {
					t.Fatalf("read %d: %d bytes, %v", off, len(got), err)
				}
			}
			_ = s2.Close()
			_ = s.Close()
		})
	}
}
