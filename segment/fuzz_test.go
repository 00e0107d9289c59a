package segment

import (
	"errors"
	"math"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
)

func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(make([]byte, indexEntrySize))
	f.Add(appendIndexEntry(appendIndexEntry(nil, indexEntry{1, 100}), indexEntry{2, 200}))
	f.Add(appendIndexEntry(appendIndexEntry(nil, indexEntry{2, 200}), indexEntry{1, 100}))
	f.Add(appendIndexEntry(nil, indexEntry{math.MaxUint32, math.MaxUint32}))
	f.Add(append(appendIndexEntry(nil, indexEntry{1, 100}), 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeIndex(b)
		if err != nil {
			if !errors.Is(err, errIndex) {
				t.Fatalf("error %v is not errIndex", err)
			}
			return
		}
		var out []byte
		for i, e := range entries {
			if i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos) {
				t.Fatalf("entries not increasing at %d", i)
			}
			out = appendIndexEntry(out, e)
		}
		if string(out) != string(b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzDecodeTimeIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, timeIndexEntrySize))
	f.Add(appendTimeEntry(appendTimeEntry(nil, timeEntry{-5, 1}), timeEntry{7, 2}))
	f.Add(appendTimeEntry(appendTimeEntry(nil, timeEntry{7, 1}), timeEntry{7, 2}))
	f.Add(append(appendTimeEntry(nil, timeEntry{math.MaxInt64, math.MaxUint32}), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeTimeIndex(b)
		if err != nil {
			if !errors.Is(err, errIndex) {
				t.Fatalf("error %v is not errIndex", err)
			}
			return
		}
		var out []byte
		for _, e := range entries {
			out = appendTimeEntry(out, e)
		}
		if string(out) != string(b) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzRecover writes arbitrary bytes as a segment's .log and .index files
// and opens it both ways. Open must never panic; a sealed open either
// succeeds or reports ErrCorrupt; an active open of bytes that are not
// corrupt before the durable point succeeds, serves only valid batches with
// contiguous offsets, and takes appends that survive a reopen.
func FuzzRecover(f *testing.F) {
	var valid []byte
	for i := 0; i < 3; i++ {
		b := batchtest.Make(f, batchtest.Spec{Records: 2 + i, ValueSize: 20, Timestamp: int64(i)})
		batch.SetBaseOffset(b, int64(5*i))
		valid = append(valid, b...)
	}
	// Rebase so that the three batches are contiguous from 0: 0..1, 2..4, 5..8.
	first := batchtest.Make(f, batchtest.Spec{Records: 2, ValueSize: 20})
	second := batchtest.Make(f, batchtest.Spec{Records: 3, ValueSize: 20, Codec: batch.Snappy})
	batch.SetBaseOffset(second, 2)
	contiguous := append(append([]byte(nil), first...), second...)
	idx := appendIndexEntry(nil, indexEntry{rel: 2, pos: uint32(len(first))})

	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, batch.HeaderSize), []byte{})
	f.Add(first, []byte{})
	f.Add(contiguous, idx)
	f.Add(append(append([]byte(nil), contiguous...), 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0), idx)
	f.Add(contiguous[:len(contiguous)-5], idx)
	f.Add(valid, []byte{})
	f.Add(append(append([]byte(nil), first...), make([]byte, 512)...), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, logBytes, indexBytes []byte) {
		for _, mode := range []Mode{Sealed, Active} {
			fs := vfs.NewMem()
			writeRaw(t, fs, FileName(0, LogSuffix), logBytes)
			writeRaw(t, fs, FileName(0, IndexSuffix), indexBytes)
			s, err := Open(fs, "", 0, mode, Options{IndexInterval: 64})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("mode %d: Open = %v, want nil or ErrCorrupt", mode, err)
				}
				continue
			}
			checkSegment(t, s)
			if mode == Active {
				b := batchtest.Make(t, batchtest.Spec{Records: 3, ValueSize: 5})
				h, err := s.Append(b)
				if err != nil {
					t.Fatalf("append after recovery: %v", err)
				}
				next := s.NextOffset()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s, err = Open(fs, "", 0, Active, Options{IndexInterval: 64})
				if err != nil {
					t.Fatalf("reopen after append: %v", err)
				}
				if s.NextOffset() != next || h.LastOffset()+1 != next {
					t.Fatalf("reopen: next %d, want %d", s.NextOffset(), next)
				}
				checkSegment(t, s)
			}
			_ = s.Close()
		}
	})
}

func writeRaw(t *testing.T, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkSegment reads the whole segment and checks that every batch validates
// and that offsets are contiguous up to NextOffset.
func checkSegment(t *testing.T, s *Segment) {
	t.Helper()
	off := s.BaseOffset()
	for off < s.NextOffset() {
		b, err := s.Read(nil, off, 1<<16, math.MaxInt64)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("read %d: empty below next offset %d", off, s.NextOffset())
		}
		for len(b) > 0 {
			h, err := batch.Validate(b)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if h.BaseOffset != off {
				t.Fatalf("batch at %d, want %d", h.BaseOffset, off)
			}
			off = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	if off != s.NextOffset() {
		t.Fatalf("read up to %d, next offset %d", off, s.NextOffset())
	}
}

// FuzzParseLogName: a .log file name parses to a base offset of 0 or
// more, whose file name parses back to it; every base offset's file name
// parses back to it.
func FuzzParseLogName(f *testing.F) {
	for _, s := range []string{"", ".log", "00000000000000000000.log", "00000000000000000042.log",
		"09223372036854775807.log", "09223372036854775808.log", "-0000000000000000001.log", "00000000000000000042.index",
		"0000000000000000042.log", "000000000000000000042.log", "00000000000000000042.log.broken", "+0000000000000000042.log"} {
		f.Add(s, int64(42))
	}
	f.Add("", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, name string, base int64) {
		if base >= 0 {
			if got, ok := ParseLogName(FileName(base, LogSuffix)); !ok || got != base {
				t.Fatalf("ParseLogName(%q) = %d, %v", FileName(base, LogSuffix), got, ok)
			}
		}
		got, ok := ParseLogName(name)
		if !ok {
			return
		}
		if got < 0 {
			t.Fatalf("ParseLogName(%q) = %d", name, got)
		}
		if FileName(got, LogSuffix) != name {
			t.Fatalf("ParseLogName(%q) = %d, whose file is %q", name, got, FileName(got, LogSuffix))
		}
	})
}
