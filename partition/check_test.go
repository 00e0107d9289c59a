package partition

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/segment"
)

// TestCheck checks a closed replica as repair does: Check must report
// exactly what Open refuses, and the admission hook must refuse a produce
// before anything is proposed.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, n *node, segs []log.SegmentInfo)
		wantErr error // nil: Check and Open succeed
	}{
		{"intact", func(*testing.T, *node, []log.SegmentInfo) {}, nil},
		{"segment removed from the end", func(t *testing.T, n *node, segs []log.SegmentInfo) {
			// The log is intact but shorter than the checkpoint says.
			for _, s := range segs[len(segs)-2:] {
				if err := n.fs.Remove(n.fs.PathJoin("logs/p", segment.FileName(s.BaseOffset, segment.LogSuffix))); err != nil {
					t.Fatal(err)
				}
			}
		}, ErrCorrupt},
		{"log directory gone", func(t *testing.T, n *node, _ []log.SegmentInfo) {
			if err := n.fs.RemoveAll("logs/p"); err != nil {
				t.Fatal(err)
			}
		}, ErrCorrupt},
		{"byte flipped in a sealed segment", func(t *testing.T, n *node, segs []log.SegmentInfo) {
			name := n.fs.PathJoin("logs/p", segment.FileName(segs[0].BaseOffset, segment.LogSuffix))
			f, err := n.fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, 100); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0xff
			if _, err := f.WriteAt(b, 100); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(f.Sync(), f.Close()); err != nil {
				t.Fatal(err)
			}
		}, segment.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t, vfs.NewMem())
			r := n.open(t, "p")
			r.Attach(&direct{r: r})
			for range 60 {
				if _, err := r.Produce(context.Background(), plain(t, 5)); err != nil {
					t.Fatal(err)
				}
			}
			segs := r.log().Segments()
			if len(segs) < 3 {
				t.Fatalf("only %d segments", len(segs))
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, n, segs)
			err := Check(n.config("p"))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check = %v, want %v", err, tt.wantErr)
			}
			r2, oerr := Open(n.config("p"))
			if (oerr == nil) != (err == nil) {
				t.Fatalf("Open = %v, Check = %v: they disagree", oerr, err)
			}
			if oerr == nil {
				_ = r2.Close()
			}
		})
	}
}

// TestAdmitRefusesProduce: an Admit error refuses the produce before it is
// proposed, and nothing is appended.
func TestAdmitRefusesProduce(t *testing.T) {
	n := newNode(t, vfs.NewMem())
	full := errors.New("disk full")
	var refuse bool
	cfg := n.config("p")
	cfg.Admit = func() error {
		if refuse {
			return full
		}
		return nil
	}
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &direct{r: r}
	r.Attach(d)
	if _, err := r.Produce(context.Background(), plain(t, 2)); err != nil {
		t.Fatal(err)
	}
	refuse = true
	if _, err := r.Produce(context.Background(), plain(t, 2)); !errors.Is(err, full) {
		t.Fatalf("Produce = %v, want the Admit error", err)
	}
	if d.index != 1 || r.log().LogEndOffset() != 2 {
		t.Fatalf("after a refused produce: %d commands, log end %d; want 1, 2", d.index, r.log().LogEndOffset())
	}
	refuse = false
	if res, err := r.Produce(context.Background(), plain(t, 2)); err != nil || res.BaseOffset != 2 {
		t.Fatalf("Produce after Admit allows again = %+v, %v", res, err)
	}
}
