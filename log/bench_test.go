package log

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
)

// The storage benchmarks of issue 2. Compare each Sluice figure with the
// plain-file baseline measured in the same run:
//
//	go test -run XXX -bench 'Append|SequentialRead|Lookup' -count 5 ./log

// batch64K returns a batch of 100-byte records of about 64 KiB.
func batch64K(b *testing.B) []byte {
	b.Helper()
	// 100-byte values, keys of a few bytes: ~120 bytes a record on disk.
	return batchtest.Make(b, batchtest.Spec{Records: 540, ValueSize: 100, Timestamp: 1})
}

func BenchmarkAppend(b *testing.B) {
	data := batch64K(b)
	b.Run("log", func(b *testing.B) {
		l, err := Open(Config{FS: vfs.Default, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Append(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("osfile", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fillLog appends n batches of data to a log in dir and returns it, with
// the high watermark at the end.
func fillLog(b *testing.B, cfg Config, data []byte, n int) *Log {
	b.Helper()
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	buf := append([]byte(nil), data...)
	for i := 0; i < n; i++ {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	return l
}

func BenchmarkSequentialRead(b *testing.B) {
	const total = 128 << 20 // bytes in the log: stays in the page cache
	const chunk = 1 << 20   // bytes per read
	data := batch64K(b)
	dir := b.TempDir()
	l := fillLog(b, Config{FS: vfs.Default, Dir: dir, SegmentBytes: 32 << 20}, data, total/len(data))
	defer l.Close()
	size := l.Size()
	b.Run("log", func(b *testing.B) {
		buf := make([]byte, 0, 2*chunk)
		off := int64(0)
		b.SetBytes(chunk)
		b.ReportAllocs()
		for b.Loop() {
			if off >= l.HighWatermark() {
				off = 0
			}
			out, err := l.Read(buf[:0], off, chunk)
			if err != nil {
				b.Fatal(err)
			}
			// Step past the last batch read, as a consumer does.
			last := lastOffset(out)
			off = last + 1
		}
	})
	b.Run("readat", func(b *testing.B) {
		// The same bytes read from the segment files with plain ReadAt.
		var files []*os.File
		for _, s := range l.Segments() {
			f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%020d.log", s.BaseOffset)))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			files = append(files, f)
		}
		buf := make([]byte, chunk)
		i, pos := 0, int64(0)
		b.SetBytes(chunk)
		b.ReportAllocs()
		for b.Loop() {
			n, _ := files[i].ReadAt(buf, pos)
			pos += int64(n)
			if n < chunk {
				i, pos = (i+1)%len(files), 0
			}
		}
	})
	_ = size
}

// lastOffset returns the last offset of the last batch in b.
func lastOffset(b []byte) int64 {
	var last int64
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return last
		}
		last = h.LastOffset()
		b = b[h.Size():]
	}
	return last
}

// BenchmarkLookup finds a random offset in a log of 1,000 segments.
// index: the in-memory part, segment search and sparse-index floor.
// locate: that plus the short scan of batch headers on disk (Locate).
// read: that plus copying the batch out (Read with maxBytes 1).
func BenchmarkLookup(b *testing.B) {
	data := batchtest.Make(b, batchtest.Spec{Records: 30, ValueSize: 100, Timestamp: 1}) // ~4 KiB
	const segments, perSegment = 1000, 8
	l := fillLog(b, Config{FS: vfs.Default, Dir: b.TempDir(), SegmentBytes: int64(perSegment * len(data))}, data, segments*perSegment)
	defer l.Close()
	if n := len(l.Segments()); n != segments {
		b.Fatalf("%d segments, want %d", n, segments)
	}
	hw := l.HighWatermark()
	b.Run("index", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			off := rng.Int64N(hw)
			l.mu.RLock()
			_ = l.segmentForLocked(off).IndexFloor(off)
			l.mu.RUnlock()
		}
	})
	b.Run("locate", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Locate(rng.Int64N(hw)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 0, 64<<10)
		b.ReportAllocs()
		for b.Loop() {
			out, err := l.Read(buf[:0], rng.Int64N(hw), 1)
			if err != nil || len(out) == 0 {
				b.Fatal(err, len(out))
			}
		}
	})
}
