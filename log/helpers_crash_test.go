package log

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
)

// Helpers shared by the crash, corruption and fault-injection tests.

var seedFlag = flag.Uint64("seed", 0, "replay one randomized crash test iteration with this seed (also env SLUICE_SEED)")

// crashSeeds returns the seeds for a randomized test: the one given with
// -seed or SLUICE_SEED, or n seeds drawn from the clock.
func crashSeeds(t *testing.T, n int) []uint64 {
	t.Helper()
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	if env := os.Getenv("SLUICE_SEED"); env != "" {
		seed, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_SEED=%q: %v", env, err)
		}
		return []uint64{seed}
	}
	base := uint64(time.Now().UnixNano())
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// modelBatch is one batch as Append stamped it.
type modelBatch struct {
	base, last int64
	raw        []byte
	recs       []modelRecord
}

// modelRecord is the offset and timestamp of one record.
type modelRecord struct{ off, ts int64 }

// crashModel is what a log must hold: the batches appended and not truncated
// away, the log start, and the durable point.
type crashModel struct {
	batches []modelBatch // contiguous offsets, oldest first
	first   int64        // base offset of the log when batches is empty
	start   int64        // log start offset
	// firstSegment is the base offset of the oldest segment: segments
	// deleted below it must not come back after a crash.
	firstSegment int64
	// durable is an offset below which every batch survives a crash: the
	// log end at the last successful Sync, or the end of the newest sealed
	// segment, lowered by truncation.
	durable int64
}

func (m *crashModel) end() int64 {
	if n := len(m.batches); n > 0 {
		return m.batches[n-1].last + 1
	}
	return m.first
}

func (m *crashModel) clone() *crashModel {
	c := *m
	c.batches = slices.Clone(m.batches)
	return &c
}

// find returns the batch whose base offset is base.
func (m *crashModel) find(base int64) (modelBatch, bool) {
	i := sort.Search(len(m.batches), func(i int) bool { return m.batches[i].base >= base })
	if i < len(m.batches) && m.batches[i].base == base {
		return m.batches[i], true
	}
	return modelBatch{}, false
}

// truncate drops every batch at or above offset, a batch boundary.
func (m *crashModel) truncate(offset int64) {
	i := sort.Search(len(m.batches), func(i int) bool { return m.batches[i].base >= offset })
	m.batches = m.batches[:i]
	m.durable = min(m.durable, offset)
}

// boundaries returns the batch boundaries in [from, end].
func (m *crashModel) boundaries(from int64) []int64 {
	var out []int64
	for _, b := range m.batches {
		if b.base >= from {
			out = append(out, b.base)
		}
	}
	return append(out, m.end())
}

// appendRandom appends one random batch (record count, value size, codec
// and timestamp from rng) to l and records it in m.
func (m *crashModel) appendRandom(t *testing.T, l *Log, rng *rand.Rand, ts *int64, tag string) {
	t.Helper()
	codecs := []batch.Codec{batch.None, batch.None, batch.None, batch.Gzip, batch.Snappy, batch.LZ4, batch.Zstd}
	*ts += rng.Int64N(40) - 10 // mostly rising, sometimes back in time
	b := batchtest.Make(t, batchtest.Spec{
		Records:   1 + rng.IntN(12),
		ValueSize: rng.IntN(300),
		Timestamp: *ts,
		Tag:       tag,
		Codec:     codecs[rng.IntN(len(codecs))],
	})
	m.mustAppend(t, l, b)
}

// mustAppend appends b to l and records it in m.
func (m *crashModel) mustAppend(t *testing.T, l *Log, b []byte) batch.Header {
	t.Helper()
	h, err := l.Append(b)
	if err != nil {
		t.Fatalf("append at %d: %v", m.end(), err)
	}
	if h.BaseOffset != m.end() {
		t.Fatalf("append got base offset %d, want the log end %d", h.BaseOffset, m.end())
	}
	rs, err := batch.DecodeRecords(b, nil, 1<<20)
	if err != nil {
		t.Fatalf("appended batch at %d does not decode: %v", h.BaseOffset, err)
	}
	mb := modelBatch{base: h.BaseOffset, last: h.LastOffset(), raw: b}
	for _, r := range rs {
		mb.recs = append(mb.recs, modelRecord{r.Offset, r.Timestamp})
	}
	m.batches = append(m.batches, mb)
	return h
}

// checkLog checks l against m: every batch from the log start to the high
// watermark reads back whole, valid, decodable, contiguous and byte for
// byte the one appended at that offset (which decoded when it was
// appended). When crashed is true, l was recovered from a crash: it may hold
// any prefix of m's batches that reaches m.durable, its log start is m.start
// clamped to its end, and every batch is decoded again. Otherwise it must
// hold them all. It returns the log end offset.
func checkLog(t *testing.T, l *Log, m *crashModel, crashed bool) int64 {
	t.Helper()
	start, hw, end := l.LogStartOffset(), l.HighWatermark(), l.LogEndOffset()
	if crashed {
		if end < m.durable || end > m.end() {
			t.Fatalf("recovered log end %d, want in [durable %d, appended %d]", end, m.durable, m.end())
		}
		if want := min(m.start, end); start != want {
			t.Fatalf("recovered log start %d, want %d", start, want)
		}
		if hw != end {
			t.Fatalf("recovered high watermark %d, want the log end %d", hw, end)
		}
	} else if end != m.end() || start != m.start {
		t.Fatalf("log holds [%d, %d), want [%d, %d)", start, end, m.start, m.end())
	}
	if hw < start || hw > end {
		t.Fatalf("high watermark %d outside [%d, %d]", hw, start, end)
	}
	segs := l.Segments()
	for i, s := range segs {
		if i > 0 && segs[i-1].NextOffset != s.BaseOffset {
			t.Fatalf("segment %d starts at %d, the one before ends at %d", i, s.BaseOffset, segs[i-1].NextOffset)
		}
	}
	if crashed && segs[0].BaseOffset < m.firstSegment {
		t.Fatalf("segment [%d, %d), deleted before the crash, is back", segs[0].BaseOffset, segs[0].NextOffset)
	}
	if segs[len(segs)-1].NextOffset != end {
		t.Fatalf("last segment ends at %d, log end is %d", segs[len(segs)-1].NextOffset, end)
	}

	next := int64(-1)
	for off := start; off < hw; off = next {
		out, err := l.Read(nil, off, 1+int(off%5000))
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(out) == 0 {
			t.Fatalf("read %d below the high watermark %d returned nothing", off, hw)
		}
		for len(out) > 0 {
			h, err := batch.Validate(out)
			if err != nil {
				t.Fatalf("read %d: invalid batch: %v", off, err)
			}
			if next < 0 {
				if h.BaseOffset > off || h.LastOffset() < off {
					t.Fatalf("read %d returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
				}
			} else if h.BaseOffset != next {
				t.Fatalf("batch at %d follows one that ended before %d", h.BaseOffset, next)
			}
			want, ok := m.find(h.BaseOffset)
			if !ok || !bytes.Equal(want.raw, out[:h.Size()]) {
				t.Fatalf("batch at %d (%d bytes) is not the one appended there (found %v)", h.BaseOffset, h.Size(), ok)
			}
			if crashed {
				recs, err := batch.DecodeRecords(out, nil, 1<<20)
				if err != nil || len(recs) != int(h.NumRecords) {
					t.Fatalf("batch at %d: %d records, %v", h.BaseOffset, len(recs), err)
				}
			}
			next = h.LastOffset() + 1
			if next > hw {
				t.Fatalf("read returned offset %d past the high watermark %d", h.LastOffset(), hw)
			}
			out = out[h.Size():]
		}
	}
	if start < hw && next != hw {
		t.Fatalf("batches end at %d, high watermark is %d", next, hw)
	}
	checkTimestamps(t, l, m, start, hw)
	return end
}

// checkTimestamps compares OffsetForTimestamp with a scan of m's records in
// [start, hw) for a spread of timestamps.
func checkTimestamps(t *testing.T, l *Log, m *crashModel, start, hw int64) {
	t.Helper()
	var recs []modelRecord
	for _, b := range m.batches {
		for _, r := range b.recs {
			if r.off >= start && r.off < hw {
				recs = append(recs, r)
			}
		}
	}
	var probes []int64
	for i := 0; i < len(recs); i += 1 + len(recs)/7 {
		probes = append(probes, recs[i].ts, recs[i].ts+1)
	}
	probes = append(probes, -1, 1<<50)
	for _, ts := range probes {
		want, wantOK := int64(0), false
		for _, r := range recs {
			if r.ts >= ts {
				want, wantOK = r.off, true
				break
			}
		}
		got, ok, err := l.OffsetForTimestamp(ts)
		if err != nil || ok != wantOK || got != want {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %v, %v; want %d, %v", ts, got, ok, err, want, wantOK)
		}
	}
}

// snapshotDir returns every file of dir with its bytes.
func snapshotDir(t *testing.T, fs vfs.FS, dir string) map[string][]byte {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		out[name] = readFile(t, fs, fs.PathJoin(dir, name))
	}
	return out
}

// sameFiles fails t unless the two snapshots hold the same files and bytes.
func sameFiles(t *testing.T, before, after map[string][]byte) {
	t.Helper()
	if maps.EqualFunc(before, after, bytes.Equal) {
		return
	}
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("%s was removed", name)
		} else if !bytes.Equal(a, b) {
			t.Errorf("%s changed: %d bytes -> %d bytes", name, len(b), len(a))
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
	t.FailNow()
}

func readFile(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	// A MemFS in an invariants (race) build scrambles the buffer given to
	// Write after writing it.
	if _, err := f.Write(bytes.Clone(b)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// mustOpen opens the log described by cfg and closes it when the test ends.
func mustOpen(t *testing.T, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open %s: %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func describeSegments(l *Log) string {
	var b bytes.Buffer
	for _, s := range l.Segments() {
		fmt.Fprintf(&b, "[%d,%d)%dB ", s.BaseOffset, s.NextOffset, s.Size)
	}
	return b.String()
}
