package log

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/segment"
)

// SegmentFile is a read-only view of the first Size bytes of one segment's
// .log file, taken by OpenFiles. Those bytes never change (segments are
// append-only), and they stay readable after retention deletes the segment
// because the file is open.
type SegmentFile struct {
	BaseOffset int64
	Size       int64
	f          vfs.File
}

// ReadAt reads from the segment's .log file.
func (s SegmentFile) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Close closes the file.
func (s SegmentFile) Close() error { return s.f.Close() }

// FileSet is the result of OpenFiles.
type FileSet struct {
	LogStart int64
	LogEnd   int64
	Segments []SegmentFile
}

// Close closes every file of the set.
func (fs *FileSet) Close() error {
	var first error
	for _, s := range fs.Segments {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	fs.Segments = nil
	return first
}

// OpenFiles captures the log as it is now, for a snapshot: the log start
// and end offsets and an open file for every segment that holds offsets at
// or above the log start. The caller must Close the set. It runs under the
// writers' lock, so nothing is appended or removed while it runs; the log
// should be Synced first if the bytes must be durable.
func (l *Log) OpenFiles() (*FileSet, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return nil, ErrClosed
	}
	set := &FileSet{LogStart: l.logStart.Load(), LogEnd: l.activeLocked().NextOffset()}
	for _, s := range l.mu.segs {
		if s.NextOffset() <= set.LogStart && s.NextOffset() < set.LogEnd {
			continue
		}
		name := l.cfg.FS.PathJoin(l.cfg.Dir, segment.FileName(s.BaseOffset(), segment.LogSuffix))
		f, err := l.cfg.FS.Open(name)
		if err != nil {
			_ = set.Close()
			return nil, fmt.Errorf("log: open %s: %w", name, err)
		}
		set.Segments = append(set.Segments, SegmentFile{BaseOffset: s.BaseOffset(), Size: s.Size(), f: f})
	}
	return set, nil
}

// ErrNotEmpty reports an Import into a directory that already holds files.
var ErrNotEmpty = errors.New("log: directory not empty")

// Importer writes a log directory from segment bytes, to install a
// snapshot. Open the log afterwards: it verifies every batch and rebuilds
// the indexes.
type Importer struct {
	fs  vfs.FS
	dir string
}

// NewImporter creates dir (which must be missing or empty) and checkpoints
// logStart in it.
func NewImporter(fs vfs.FS, dir string, logStart int64) (*Importer, error) {
	if err := fsutil.MkdirAllSync(fs, dir); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("log: list %s: %w", dir, err)
	}
	if len(names) > 0 {
		return nil, fmt.Errorf("%w: %s has %d files", ErrNotEmpty, dir, len(names))
	}
	if err := writeCheckpoint(fs, dir, logStart); err != nil {
		return nil, err
	}
	return &Importer{fs: fs, dir: dir}, nil
}

// AddSegment writes the size bytes read from r as the .log of the segment
// at base, and fsyncs it.
func (im *Importer) AddSegment(base int64, r io.Reader, size int64) error {
	name := im.fs.PathJoin(im.dir, segment.FileName(base, segment.LogSuffix))
	f, err := im.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("log: create %s: %w", name, err)
	}
	n, err := io.CopyN(f, r, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("log: write %s (%d of %d bytes): %w", name, n, size, err)
	}
	return nil
}

// Finish makes the directory's entries durable.
func (im *Importer) Finish() error {
	if err := fsutil.SyncDir(im.fs, im.dir); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	return nil
}
