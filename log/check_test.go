package log

import (
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/segment"
)

// TestCheck damages a closed log of several segments in the ways a disk
// can, and checks that Check reports what Open refuses (or nothing, where
// Open recovers), with the offset the damage starts at, and that it
// changes no file.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the closed log and returns the end Check must
		// report; wantErr is what it must match (nil: no damage).
		damage  func(t *testing.T, fs vfs.FS, segs []SegmentInfo) int64
		wantErr error
	}{
		{"intact", func(t *testing.T, fs vfs.FS, segs []SegmentInfo) int64 {
			return segs[len(segs)-1].NextOffset
		}, nil},
		{"flipped byte in a sealed segment", func(t *testing.T, fs vfs.FS, segs []SegmentInfo) int64 {
			name := fs.PathJoin("p0", segment.FileName(segs[1].BaseOffset, segment.LogSuffix))
			b := readFile(t, fs, name)
			b[len(b)-1] ^= 0xff // in the segment's last batch
			writeFile(t, fs, name, b)
			return -1 // somewhere inside segs[1]; checked below
		}, segment.ErrCorrupt},
		{"missing middle segment", func(t *testing.T, fs vfs.FS, segs []SegmentInfo) int64 {
			if err := fs.Remove(fs.PathJoin("p0", segment.FileName(segs[2].BaseOffset, segment.LogSuffix))); err != nil {
				t.Fatal(err)
			}
			return segs[1].NextOffset
		}, ErrCorrupt},
		{"torn tail of the active segment", func(t *testing.T, fs vfs.FS, segs []SegmentInfo) int64 {
			last := segs[len(segs)-1]
			name := fs.PathJoin("p0", segment.FileName(last.BaseOffset, segment.LogSuffix))
			writeFile(t, fs, name, append(readFile(t, fs, name), 0xee, 0xee, 0xee))
			return last.NextOffset
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := openMem(t, fs, Config{SegmentBytes: 4 << 10})
			appendCommit(t, l, 100, 3, 0, 10)
			segs := l.Segments()
			if len(segs) < 4 {
				t.Fatalf("only %d segments", len(segs))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wantEnd := tt.damage(t, fs, segs)
			before := snapshotDir(t, fs, "p0")
			end, err := Check(fs, "p0")
			sameFiles(t, before, snapshotDir(t, fs, "p0"))
			if tt.wantErr == nil {
				if err != nil || end != wantEnd {
					t.Fatalf("Check = %d, %v; want %d, nil", end, err, wantEnd)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check = %d, %v; want %v", end, err, tt.wantErr)
			}
			var ce *segment.CorruptError
			if errors.As(err, &ce) {
				// The damage is in segs[1]: the end is inside it, and the
				// error names its file.
				if end <= segs[1].BaseOffset || end >= segs[1].NextOffset || ce.Offset != end ||
					!strings.Contains(err.Error(), segment.FileName(segs[1].BaseOffset, segment.LogSuffix)) {
					t.Fatalf("Check = %d, %v; want the damage inside segment %d..%d", end, err, segs[1].BaseOffset, segs[1].NextOffset)
				}
			} else if wantEnd >= 0 && end != wantEnd {
				t.Fatalf("Check end = %d, want %d", end, wantEnd)
			}
			// Open agrees: it refuses exactly what Check reports.
			l2, oerr := Open(Config{FS: fs, Dir: "p0", SegmentBytes: 4 << 10, Logger: discardLogger()})
			if (oerr == nil) != (err == nil) {
				t.Fatalf("Open = %v, Check = %v: they disagree", oerr, err)
			}
			if oerr == nil {
				if got := l2.LogEndOffset(); got != end {
					t.Fatalf("Open: log end %d, Check said %d", got, end)
				}
				_ = l2.Close()
			}
		})
	}
}
