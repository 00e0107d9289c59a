package segment

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
)

// appendN appends n batches of recs records each (timestamps ts0, ts0+100, ...)
// and returns their stamped headers.
func appendN(t *testing.T, s *Segment, n, recs int, ts0 int64) []batch.Header {
	t.Helper()
	var hs []batch.Header
	for i := 0; i < n; i++ {
		b := batchtest.Make(t, batchtest.Spec{Records: recs, ValueSize: 100, Timestamp: ts0 + int64(i)*100, Tag: fmt.Sprint(i)})
		h, err := s.Append(b)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		hs = append(hs, h)
	}
	return hs
}

func TestAppendReadEveryOffset(t *testing.T) {
	for _, interval := range []int{1, 512, DefaultIndexInterval, 1 << 20} {
		t.Run(fmt.Sprintf("interval=%d", interval), func(t *testing.T) {
			fs := vfs.NewMem()
			s, err := Create(fs, "", 1000, Options{IndexInterval: interval})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hs := appendN(t, s, 40, 7, 0)
			if got, want := s.NextOffset(), int64(1000+40*7); got != want {
				t.Fatalf("NextOffset = %d, want %d", got, want)
			}
			for _, h := range hs {
				for off := h.BaseOffset; off <= h.LastOffset(); off++ {
					b, err := s.Read(nil, off, 1, math.MaxInt64)
					if err != nil {
						t.Fatalf("read %d: %v", off, err)
					}
					got, err := batch.Validate(b)
					if err != nil {
						t.Fatalf("read %d: %v", off, err)
					}
					if got.BaseOffset != h.BaseOffset || len(b) != h.Size() {
						t.Fatalf("read %d: batch %d (%d bytes), want %d (%d bytes)", off, got.BaseOffset, len(b), h.BaseOffset, h.Size())
					}
				}
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Create(fs, "", 0, Options{IndexInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := appendN(t, s, 10, 5, 0)
	size := hs[0].Size()
	tests := []struct {
		name           string
		offset         int64
		maxBytes       int
		limit          int64
		wantBatches    int
		wantFirstBatch int64
	}{
		{"all", 0, 1 << 20, math.MaxInt64, 10, 0},
		{"max bytes cuts to whole batches", 0, 3*size + 10, math.MaxInt64, 3, 0},
		{"first batch even if over max bytes", 12, 1, math.MaxInt64, 1, 10},
		{"mid batch start", 7, 2 * size, math.MaxInt64, 2, 5},
		{"limit stops before uncommitted batch", 0, 1 << 20, 23, 4, 0},
		{"limit inside batch excludes it", 0, 1 << 20, 22, 4, 0},
		{"at limit nothing", 20, 1 << 20, 20, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := s.Read(nil, tt.offset, tt.maxBytes, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for len(b) > 0 {
				h, err := batch.Validate(b)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 && h.BaseOffset != tt.wantFirstBatch {
					t.Fatalf("first batch %d, want %d", h.BaseOffset, tt.wantFirstBatch)
				}
				if h.LastOffset() >= tt.limit {
					t.Fatalf("batch %d..%d at or above limit %d", h.BaseOffset, h.LastOffset(), tt.limit)
				}
				b = b[h.Size():]
				n++
			}
			if n != tt.wantBatches {
				t.Fatalf("%d batches, want %d", n, tt.wantBatches)
			}
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Create(fs, "", 100, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, 2, 3, 0)
	for _, off := range []int64{-1, 0, 99, 106, 1 << 40} {
		if _, err := s.Read(nil, off, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("Read(%d) = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	good := batchtest.Make(t, batchtest.Spec{Records: 3, ValueSize: 10})
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, batch.ErrTruncated},
		{"short header", good[:30], batch.ErrTruncated},
		{"short body", good[:len(good)-1], batch.ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrInvalidBatch},
		{"bad magic", flip(16), batch.ErrCorrupt},
		{"bad crc", flip(len(good) - 1), batch.ErrCorrupt},
		{"bad attributes", flip(22), batch.ErrCorrupt},
	}
	fs := vfs.NewMem()
	s, err := Create(fs, "", 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(tt.b)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("Append = %v, want %v and ErrInvalidBatch", err, tt.want)
			}
			if s.Size() != 0 || s.NextOffset() != 0 {
				t.Fatalf("segment changed: size %d next %d", s.Size(), s.NextOffset())
			}
		})
	}
	if _, err := s.Append(append([]byte(nil), good...)); err != nil {
		t.Fatalf("good batch after bad ones: %v", err)
	}
}

func TestSealedRejectsAppend(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Create(fs, "", 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 1, 1, 0)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(batchtest.Make(t, batchtest.Spec{Records: 1})); !errors.Is(err, ErrSealed) {
		t.Fatalf("Append on sealed = %v, want ErrSealed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Read(nil, 0, 10, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
}

func TestReopenRebuildsSameIndex(t *testing.T) {
	for _, mode := range []Mode{Active, Sealed} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			fs := vfs.NewMem()
			s, err := Create(fs, "", 0, Options{IndexInterval: 1000})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, s, 50, 4, 1_000)
			if mode == Sealed {
				err = s.Seal()
			} else {
				err = s.Sync()
			}
			if err != nil {
				t.Fatal(err)
			}
			wantIndex, wantTimes := s.mu.index, s.mu.times
			wantNext, wantMax := s.NextOffset(), s.MaxTimestamp()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// Drop the index files: Open must rebuild them identically.
			for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
				if err := fs.Remove(FileName(0, suffix)); err != nil {
					t.Fatal(err)
				}
			}
			s2, err := Open(fs, "", 0, mode, Options{IndexInterval: 1000})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if fmt.Sprint(s2.mu.index) != fmt.Sprint(wantIndex) || fmt.Sprint(s2.mu.times) != fmt.Sprint(wantTimes) {
				t.Fatalf("rebuilt index differs:\n%v\n%v\nwant\n%v\n%v", s2.mu.index, s2.mu.times, wantIndex, wantTimes)
			}
			if s2.NextOffset() != wantNext || s2.MaxTimestamp() != wantMax {
				t.Fatalf("next %d max %d, want %d %d", s2.NextOffset(), s2.MaxTimestamp(), wantNext, wantMax)
			}
			// The active segment writes the rebuilt entries at its next Sync.
			if err := s2.Sync(); err != nil && !errors.Is(err, ErrSealed) {
				t.Fatal(err)
			}
			for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
				if _, err := fs.Stat(FileName(0, suffix)); err != nil {
					t.Fatalf("index file not rewritten: %v", err)
				}
			}
		})
	}
}

func TestFindTimestamp(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Create(fs, "", 0, Options{IndexInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Batches of 5 records at 1000, 1100, ...; record timestamps +0..+4.
	appendN(t, s, 20, 5, 1000)
	tests := []struct {
		ts, from, limit int64
		wantBase        int64
		wantOK          bool
	}{
		{0, 0, math.MaxInt64, 0, true},
		{1000, 0, math.MaxInt64, 0, true},
		{1004, 0, math.MaxInt64, 0, true},
		{1005, 0, math.MaxInt64, 5, true},
		{1100, 0, math.MaxInt64, 5, true},
		{2904, 0, math.MaxInt64, 95, true},
		{2905, 0, math.MaxInt64, 0, false},
		{1000, 12, math.MaxInt64, 10, true},
		{1500, 0, 25, 0, false},
		{1200, 0, 15, 10, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ts=%d,from=%d,limit=%d", tt.ts, tt.from, tt.limit), func(t *testing.T) {
			b, ok, err := s.FindTimestamp(tt.ts, tt.from, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			h, err := batch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != tt.wantBase {
				t.Fatalf("batch %d, want %d", h.BaseOffset, tt.wantBase)
			}
		})
	}
}

func TestTruncateTo(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Create(fs, "", 0, Options{IndexInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := appendN(t, s, 10, 3, 0)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.TruncateTo(7); !errors.Is(err, ErrNotBoundary) {
		t.Fatalf("TruncateTo(7) = %v, want ErrNotBoundary", err)
	}
	if err := s.TruncateTo(31); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("TruncateTo(31) = %v, want ErrOffsetOutOfRange", err)
	}
	if err := s.TruncateTo(12); err != nil {
		t.Fatal(err)
	}
	if s.NextOffset() != 12 || s.Size() != int64(4*hs[0].Size()) || s.Sealed() {
		t.Fatalf("after truncate: next %d size %d sealed %v", s.NextOffset(), s.Size(), s.Sealed())
	}
	if _, err := s.Read(nil, 12, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read truncated = %v", err)
	}
	h := appendN(t, s, 1, 2, 5000)[0]
	if h.BaseOffset != 12 {
		t.Fatalf("append after truncate got base %d, want 12", h.BaseOffset)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(fs, "", 0, Active, Options{IndexInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.NextOffset() != 14 || s2.MaxTimestamp() != 5001 {
		t.Fatalf("reopened: next %d max ts %d", s2.NextOffset(), s2.MaxTimestamp())
	}
}

func TestParseLogName(t *testing.T) {
	tests := []struct {
		name string
		base int64
		ok   bool
	}{
		{"00000000000000000000.log", 0, true},
		{"00000000000000004096.log", 4096, true},
		{FileName(math.MaxInt64, LogSuffix), math.MaxInt64, true},
		{"99999999999999999999.log", 0, false},
		{"0000000000000000409.log", 0, false},
		{"00000000000000004096.index", 0, false},
		{"0000000000000000409x.log", 0, false},
		{"-0000000000000000001.log", 0, false},
	}
	for _, tt := range tests {
		base, ok := ParseLogName(tt.name)
		if base != tt.base || ok != tt.ok {
			t.Errorf("ParseLogName(%q) = %d, %v, want %d, %v", tt.name, base, ok, tt.base, tt.ok)
		}
	}
}
