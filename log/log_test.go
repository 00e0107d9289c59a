package log

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/segment"
)

func openMem(t *testing.T, fs vfs.FS, cfg Config) *Log {
	t.Helper()
	cfg.FS = fs
	if cfg.Dir == "" {
		cfg.Dir = "p0"
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// appendCommit appends n batches of recs records (timestamps ts0, ts0+step,
// ...), advances the high watermark, and returns the headers.
func appendCommit(t *testing.T, l *Log, n, recs int, ts0, step int64) []batch.Header {
	t.Helper()
	var hs []batch.Header
	for i := 0; i < n; i++ {
		b := batchtest.Make(t, batchtest.Spec{Records: recs, ValueSize: 100, Timestamp: ts0 + int64(i)*step, Tag: fmt.Sprint(i)})
		h, err := l.Append(b)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		hs = append(hs, h)
	}
	l.SetHighWatermark(l.LogEndOffset())
	return hs
}

// readAll reads from offset to the high watermark and returns the batch
// headers in order.
func readAll(t *testing.T, l *Log, offset int64, maxBytes int) []batch.Header {
	t.Helper()
	var hs []batch.Header
	for offset < l.HighWatermark() {
		b, err := l.Read(nil, offset, maxBytes)
		if err != nil {
			t.Fatalf("read %d: %v", offset, err)
		}
		if len(b) == 0 {
			t.Fatalf("read %d: no data below high watermark %d", offset, l.HighWatermark())
		}
		for len(b) > 0 {
			h, err := batch.Validate(b)
			if err != nil {
				t.Fatalf("read %d: %v", offset, err)
			}
			hs = append(hs, h)
			b = b[h.Size():]
			offset = h.LastOffset() + 1
		}
	}
	return hs
}

func TestRoundTripManySegments(t *testing.T) {
	for _, cfg := range []Config{
		{SegmentBytes: 4 << 10, IndexInterval: 1},
		{SegmentBytes: 16 << 10, IndexInterval: 4096},
		{SegmentBytes: 1 << 20},
	} {
		t.Run(fmt.Sprintf("segment=%d,index=%d", cfg.SegmentBytes, cfg.IndexInterval), func(t *testing.T) {
			fs := vfs.NewMem()
			l := openMem(t, fs, cfg)
			want := appendCommit(t, l, 200, 5, 0, 10)
			if cfg.SegmentBytes < 1<<20 && len(l.Segments()) < 5 {
				t.Fatalf("only %d segments", len(l.Segments()))
			}
			check := func(l *Log) {
				t.Helper()
				for _, maxBytes := range []int{1, 3000, 1 << 20} {
					got := readAll(t, l, 0, maxBytes)
					if len(got) != len(want) {
						t.Fatalf("maxBytes %d: %d batches, want %d", maxBytes, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("batch %d: %+v, want %+v", i, got[i], want[i])
						}
					}
				}
				// Every offset, including each segment's first and last.
				for _, h := range want {
					for off := h.BaseOffset; off <= h.LastOffset(); off++ {
						b, err := l.Read(nil, off, 1)
						if err != nil {
							t.Fatal(err)
						}
						got, err := batch.Validate(b)
						if err != nil || got.BaseOffset != h.BaseOffset {
							t.Fatalf("read %d: batch %d, %v; want %d", off, got.BaseOffset, err, h.BaseOffset)
						}
					}
				}
			}
			check(l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openMem(t, fs, cfg)
			if l2.HighWatermark() != 1000 || l2.LogEndOffset() != 1000 || l2.LogStartOffset() != 0 {
				t.Fatalf("reopened: start %d hw %d end %d", l2.LogStartOffset(), l2.HighWatermark(), l2.LogEndOffset())
			}
			check(l2)
		})
	}
}

func TestReadOffsetOutOfRange(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{SegmentBytes: 4 << 10})
	appendCommit(t, l, 40, 5, 0, 1)
	if err := l.AdvanceLogStart(50); err != nil {
		t.Fatal(err)
	}
	// Uncommitted tail: appended, high watermark not moved.
	if _, err := l.Append(batchtest.Make(t, batchtest.Spec{Records: 5})); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{-1, 0, 49, 201, 204, 1 << 40} {
		_, err := l.Read(nil, off, 1<<20)
		var oor *OffsetOutOfRangeError
		if !errors.Is(err, ErrOffsetOutOfRange) || !errors.As(err, &oor) {
			t.Fatalf("Read(%d) = %v, want OffsetOutOfRangeError", off, err)
		}
		if oor.Start != 50 || oor.End != 200 {
			t.Fatalf("Read(%d): range [%d, %d), want [50, 200)", off, oor.Start, oor.End)
		}
	}
	b, err := l.Read(nil, 200, 1<<20)
	if err != nil || len(b) != 0 {
		t.Fatalf("Read at high watermark = %d bytes, %v; want nothing", len(b), err)
	}
	b, err = l.Read(nil, 50, 1<<20)
	if err != nil || len(b) == 0 {
		t.Fatalf("Read at log start = %d bytes, %v", len(b), err)
	}
}

func TestWaitWakesOnHighWatermark(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{})
	done := make(chan error, 1)
	go func() { done <- l.Wait(context.Background(), 0) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned early: %v", err)
	default:
	}
	if _, err := l.Append(batchtest.Make(t, batchtest.Spec{Records: 1})); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(1)
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- l.Wait(ctx, 5) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v", err)
	}

	go func() { done <- l.Wait(context.Background(), 5) }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{SegmentBytes: 4 << 10, IndexInterval: 512})
	// 50 batches of 4 records; batch i has timestamps 1000+100i .. +3.
	appendCommit(t, l, 50, 4, 1000, 100)
	tests := []struct {
		ts     int64
		want   int64
		wantOK bool
	}{
		{0, 0, true},
		{1000, 0, true},
		{1002, 2, true},
		{1004, 4, true},
		{1100, 4, true},
		{3000, 80, true},
		{5903, 199, true},
		{5904, 0, false},
	}
	for _, tt := range tests {
		got, ok, err := l.OffsetForTimestamp(tt.ts)
		if err != nil || ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %v, %v; want %d, %v", tt.ts, got, ok, err, tt.want, tt.wantOK)
		}
	}
	// Below the log start the answer moves up to readable offsets.
	if err := l.AdvanceLogStart(10); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := l.OffsetForTimestamp(1000); err != nil || !ok || got != 10 {
		t.Errorf("after log start 10: %d, %v, %v; want 10", got, ok, err)
	}
}

func TestRollByAge(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{SegmentAge: time.Second})
	// Batches 300 ms apart: a new segment every 4 batches (0, 1200, 2400...).
	appendCommit(t, l, 12, 1, 0, 300)
	segs := l.Segments()
	var bases []int64
	for _, s := range segs {
		bases = append(bases, s.BaseOffset)
	}
	if fmt.Sprint(bases) != "[0 4 8]" {
		t.Fatalf("segment bases %v, want [0 4 8]", bases)
	}
}

func TestRetention(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	tests := []struct {
		name      string
		cfg       Config
		wantStart int64
	}{
		{"none", Config{}, 0},
		{"by bytes keeps at least the limit", Config{RetentionBytes: 3 * 4096}, 0},
		{"by age", Config{RetentionAge: 500 * time.Second}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewMem()
			tt.cfg.SegmentBytes = 4 << 10
			l := openMem(t, fs, tt.cfg)
			// 100 batches, timestamps 0..990_000 ms in steps of 10 s.
			appendCommit(t, l, 100, 5, 0, 10_000)
			before := l.Segments()
			point := l.RetentionPoint(now)
			// Compute what the policy should keep from the segment list.
			var total int64
			for _, s := range before {
				total += s.Size
			}
			want := int64(0)
			for _, s := range before[:len(before)-1] {
				byAge := tt.cfg.RetentionAge > 0 && s.MaxTimestamp < now.Add(-tt.cfg.RetentionAge).UnixMilli()
				bySize := tt.cfg.RetentionBytes > 0 && total-s.Size >= tt.cfg.RetentionBytes
				if !byAge && !bySize {
					break
				}
				total -= s.Size
				want = s.NextOffset
			}
			if point != want {
				t.Fatalf("RetentionPoint = %d, want %d", point, want)
			}
			if tt.cfg.RetentionBytes+int64(tt.cfg.RetentionAge) > 0 && point == 0 {
				t.Fatalf("retention deleted nothing")
			}
			if err := l.ApplyRetention(now); err != nil {
				t.Fatal(err)
			}
			after := l.Segments()
			if l.LogStartOffset() != point || after[0].BaseOffset != point {
				t.Fatalf("log start %d, first segment %d, want %d", l.LogStartOffset(), after[0].BaseOffset, point)
			}
			if tt.cfg.RetentionBytes > 0 && l.Size() < tt.cfg.RetentionBytes {
				t.Fatalf("size %d fell below retention bytes %d", l.Size(), tt.cfg.RetentionBytes)
			}
			if got := readAll(t, l, point, 1<<20); len(got) == 0 || got[0].BaseOffset != point {
				t.Fatalf("read from new start %d: %v", point, got)
			}
			// The deleted files are gone, and a reopen keeps the start.
			names, _ := fs.List("p0")
			for _, n := range names {
				if base, ok := segment.ParseLogName(n); ok && base < point {
					t.Fatalf("segment %s below log start %d still on disk", n, point)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openMem(t, fs, tt.cfg)
			if l2.LogStartOffset() != point {
				t.Fatalf("reopened log start %d, want %d", l2.LogStartOffset(), point)
			}
		})
	}
}

// TestSetRetention: an altered policy takes effect on an open log; a
// negative one is refused and changes nothing.
func TestSetRetention(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	l := openMem(t, vfs.NewMem(), Config{SegmentBytes: 4 << 10})
	appendCommit(t, l, 100, 5, 0, 10_000)
	if p := l.RetentionPoint(now); p != 0 {
		t.Fatalf("no policy: RetentionPoint = %d", p)
	}
	for _, bad := range []struct {
		bytes int64
		age   time.Duration
	}{{-1, 0}, {0, -time.Second}} {
		if err := l.SetRetention(bad.bytes, bad.age); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("SetRetention(%d, %s) = %v, want ErrInvalidConfig", bad.bytes, bad.age, err)
		}
	}
	if p := l.RetentionPoint(now); p != 0 {
		t.Fatalf("after refused SetRetention: RetentionPoint = %d", p)
	}
	if err := l.SetRetention(4<<10, 0); err != nil {
		t.Fatal(err)
	}
	byBytes := l.RetentionPoint(now)
	if byBytes == 0 {
		t.Fatal("a 4 KiB byte limit keeps everything")
	}
	// Timestamps run 0..990 s; keeping 500 s deletes about half.
	if err := l.SetRetention(0, 500*time.Second); err != nil {
		t.Fatal(err)
	}
	if byAge := l.RetentionPoint(now); byAge == 0 || byAge == byBytes {
		t.Fatalf("by age RetentionPoint = %d (by bytes %d)", byAge, byBytes)
	}
	if err := l.SetRetention(0, 0); err != nil {
		t.Fatal(err)
	}
	if p := l.RetentionPoint(now); p != 0 {
		t.Fatalf("policy removed: RetentionPoint = %d", p)
	}
}

func TestAdvanceLogStart(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{SegmentBytes: 4 << 10})
	appendCommit(t, l, 30, 5, 0, 1)
	// Uncommitted tail.
	if _, err := l.Append(batchtest.Make(t, batchtest.Spec{Records: 5})); err != nil {
		t.Fatal(err)
	}
	if err := l.AdvanceLogStart(151); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("AdvanceLogStart above hw = %v", err)
	}
	if err := l.AdvanceLogStart(33); err != nil {
		t.Fatal(err)
	}
	if err := l.AdvanceLogStart(20); err != nil || l.LogStartOffset() != 33 {
		t.Fatalf("backwards: %v, start %d", err, l.LogStartOffset())
	}
	// Everything committed and more: the active segment rolls and goes.
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.AdvanceLogStart(155); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 1 || segs[0].BaseOffset != 155 || segs[0].Size != 0 {
		t.Fatalf("segments after deleting everything: %+v", segs)
	}
	h, err := l.Append(batchtest.Make(t, batchtest.Spec{Records: 2}))
	if err != nil || h.BaseOffset != 155 {
		t.Fatalf("append after deleting everything: %d, %v", h.BaseOffset, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openMem(t, fs, Config{SegmentBytes: 4 << 10})
	if l2.LogStartOffset() != 155 || l2.LogEndOffset() != 157 {
		t.Fatalf("reopened: start %d end %d", l2.LogStartOffset(), l2.LogEndOffset())
	}
}

func TestTruncateTo(t *testing.T) {
	fs := vfs.NewMem()
	cfg := Config{SegmentBytes: 4 << 10, IndexInterval: 1}
	l := openMem(t, fs, cfg)
	hs := appendCommit(t, l, 60, 5, 0, 1)
	nsegs := len(l.Segments())
	if nsegs < 3 {
		t.Fatalf("want several segments, have %d", nsegs)
	}
	// Cut at the base of the second segment, then inside the first.
	second := l.Segments()[1].BaseOffset
	if err := l.TruncateTo(second); err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) != 1 || l.LogEndOffset() != second || l.HighWatermark() != second {
		t.Fatalf("after truncate to %d: %d segments, end %d, hw %d", second, len(l.Segments()), l.LogEndOffset(), l.HighWatermark())
	}
	if err := l.TruncateTo(12); !errors.Is(err, segment.ErrNotBoundary) {
		t.Fatalf("TruncateTo(12) = %v, want ErrNotBoundary", err)
	}
	if err := l.TruncateTo(second + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("TruncateTo past end = %v", err)
	}
	if err := l.TruncateTo(10); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l, 0, 1<<20)
	if len(got) != 2 || got[1] != hs[1] {
		t.Fatalf("after truncate to 10: %v", got)
	}
	appendCommit(t, l, 3, 5, 0, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openMem(t, fs, cfg)
	if l2.LogEndOffset() != 25 || len(readAll(t, l2, 0, 100)) != 5 {
		t.Fatalf("reopened: end %d", l2.LogEndOffset())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []Config{
		{},
		{Dir: "d", SegmentBytes: -1},
		{Dir: "d", SegmentBytes: MaxSegmentBytes + 1},
		{Dir: "d", SegmentAge: -time.Second},
		{Dir: "d", IndexInterval: -1},
		{Dir: "d", RetentionBytes: -1},
		{Dir: "d", RetentionAge: -time.Second},
	}
	for _, cfg := range tests {
		if _, err := Open(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestClosedLog(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs, Config{})
	appendCommit(t, l, 1, 1, 0, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(batchtest.Make(t, batchtest.Spec{Records: 1})); !errors.Is(err, ErrClosed) {
		t.Errorf("Append = %v", err)
	}
	if _, err := l.Read(nil, 0, 10); !errors.Is(err, ErrClosed) {
		t.Errorf("Read = %v", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync = %v", err)
	}
	if err := l.TruncateTo(0); !errors.Is(err, ErrClosed) {
		t.Errorf("TruncateTo = %v", err)
	}
	if err := l.AdvanceLogStart(1); !errors.Is(err, ErrClosed) {
		t.Errorf("AdvanceLogStart = %v", err)
	}
}
