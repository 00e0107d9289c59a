package partition

import (
	"cmp"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/segment"
)

// SnapshotStore keeps the raft snapshots of one partition replica
// (replication.SnapshotStore) without copying the log: a snapshot that the
// replica takes is a directory of hard links to its segment files plus a
// small manifest, and Open makes the snapshot stream from them on the fly.
// A snapshot received from the leader is kept as the stream it arrived as.
//
// On-disk layout (file formats in snapshotstore_format.go):
//
//	<dir>/<term>-<index>-<seq>/  one snapshot; the name is raft's id
//	    meta                     raft's SnapshotMeta, kind and stream size;
//	                             written last, atomically: a directory
//	                             without it is unfinished
//	    manifest                 kind linked: the stream's header fields and
//	                             its segments (base offset, byte length)
//	    segments/<base>.log      kind linked: hard links to the segments'
//	                             .log files, of which the first length bytes
//	                             belong to the snapshot
//	    stream                   kind stream: the snapshot stream as received
//	<dir>/<id>.reap              a snapshot being deleted
//
// seq is a creation sequence, one past the largest found at open, so that
// snapshots at the same term and index (raft can take two) differ and List
// can order them. The segments directory starts life as the replica's
// staging directory (see stagingDir) and is renamed in whole; so the store
// must be on the same file system as the replica's log (otherwise Persist
// writes the stream, as with any other store, and logs why).
//
// Recovery at open: unfinished snapshot directories (no meta: a crash
// between Create and Close, or during Cancel) and .reap directories are
// removed. A meta that does not decode is refused with *SnapshotFileError:
// it was written atomically, so it is damage, and raft must not be started
// on an older snapshot's configuration and index in its place.
//
// Durability: Close fsyncs the stream file or the linked files and the
// segments directory, writes the manifest and then the meta atomically
// (fsyncing the snapshot directory each time) and fsyncs the store's
// directory; only then does it reap older snapshots, each renamed to .reap
// and the rename made durable before anything in it is deleted, so that
// a crash leaves every listed snapshot whole.
//
// Concurrency: a SnapshotStore is safe for concurrent use (raft creates
// snapshots on its snapshot goroutine and for InstallSnapshot on its main
// one, and lists and opens them on others); a sink is used by one goroutine.
// mu serializes List, Open and the reaping in Close, so a snapshot is not
// deleted between reading its meta and opening its files; once open, its
// files stay readable after a reap. The store starts no goroutines.
type SnapshotStore struct {
	fs     vfs.FS
	dir    string
	retain int

	mu struct {
		sync.Mutex
		seq uint64 // the next creation sequence
	}
}

var _ replication.SnapshotStore = (*SnapshotStore)(nil)

// Names inside a SnapshotStore directory. On-disk format; never change.
const (
	metaName     = "meta"
	manifestName = "manifest"
	segmentsName = "segments"
	streamName   = "stream"
	reapSuffix   = ".reap"
)

// NewSnapshotStore opens (or creates) the snapshot store in dir, which
// keeps the newest retain snapshots. It removes what a crash left
// unfinished; a damaged snapshot is an error matching ErrCorrupt
// (*SnapshotFileError).
func NewSnapshotStore(fs vfs.FS, dir string, retain int) (*SnapshotStore, error) {
	if fs == nil || dir == "" || retain < 1 {
		return nil, fmt.Errorf("partition: snapshot store needs a file system, a directory and retain >= 1 (got %d)", retain)
	}
	if err := fsutil.MkdirAllSync(fs, dir); err != nil {
		return nil, fmt.Errorf("partition: snapshot store: %w", err)
	}
	s := &SnapshotStore{fs: fs, dir: dir, retain: retain}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("partition: snapshot store: list %s: %w", dir, err)
	}
	for _, name := range names {
		path := fs.PathJoin(dir, name)
		if base, ok := strings.CutSuffix(name, reapSuffix); ok {
			if _, ours := parseSnapshotID(base); ours {
				if err := fs.RemoveAll(path); err != nil {
					return nil, fmt.Errorf("partition: snapshot store: remove %s: %w", path, err)
				}
			}
			continue
		}
		id, ok := parseSnapshotID(name)
		if !ok {
			continue // not ours
		}
		s.mu.seq = max(s.mu.seq, id.seq+1)
		if _, err := s.readMeta(id); errors.Is(err, ErrSnapshotNotFound) {
			if err := fs.RemoveAll(path); err != nil {
				return nil, fmt.Errorf("partition: snapshot store: remove unfinished %s: %w", path, err)
			}
		} else if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// snapshotID names a snapshot: <term>-<index>-<seq>.
type snapshotID struct{ term, index, seq uint64 }

func (id snapshotID) String() string { return fmt.Sprintf("%d-%d-%d", id.term, id.index, id.seq) }

// parseSnapshotID parses the canonical form of a snapshotID only, so that
// one id has one directory.
func parseSnapshotID(name string) (snapshotID, bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return snapshotID{}, false
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != p {
			return snapshotID{}, false
		}
		v[i] = n
	}
	return snapshotID{term: v[0], index: v[1], seq: v[2]}, true
}

// newer orders ids newest first: by term, then index, then creation.
func newer(a, b snapshotID) int {
	return -cmp.Or(cmp.Compare(a.term, b.term), cmp.Compare(a.index, b.index), cmp.Compare(a.seq, b.seq))
}

func (s *SnapshotStore) path(id snapshotID, names ...string) string {
	p := s.fs.PathJoin(s.dir, id.String())
	for _, n := range names {
		p = s.fs.PathJoin(p, n)
	}
	return p
}

// readMeta reads the meta of snapshot id: ErrSnapshotNotFound when there
// is none (the snapshot is unfinished), *SnapshotFileError when it does not
// decode.
func (s *SnapshotStore) readMeta(id snapshotID) (storedMeta, error) {
	name := s.path(id, metaName)
	b, err := readSmallFile(s.fs, name, maxMetaBytes)
	if err == nil {
		var m storedMeta
		if m, err = decodeMeta(b); err == nil {
			m.raft.ID = id.String()
			return m, nil
		}
	}
	switch {
	case fsutil.IsNotExist(err):
		return storedMeta{}, fmt.Errorf("%w: %s", ErrSnapshotNotFound, id)
	case errors.Is(err, ErrCorrupt):
		return storedMeta{}, &SnapshotFileError{Path: name, Err: err}
	default:
		return storedMeta{}, fmt.Errorf("partition: snapshot %s: %w", id, err)
	}
}

type listedSnapshot struct {
	id   snapshotID
	meta storedMeta
}

// completeLocked returns the finished snapshots, newest first.
func (s *SnapshotStore) completeLocked() ([]listedSnapshot, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("partition: snapshot store: list %s: %w", s.dir, err)
	}
	var out []listedSnapshot
	for _, name := range names {
		id, ok := parseSnapshotID(name)
		if !ok {
			continue
		}
		m, err := s.readMeta(id)
		if errors.Is(err, ErrSnapshotNotFound) {
			continue // being written
		}
		if err != nil {
			return nil, err
		}
		out = append(out, listedSnapshot{id: id, meta: m})
	}
	slices.SortFunc(out, func(a, b listedSnapshot) int { return newer(a.id, b.id) })
	return out, nil
}

// List returns the finished snapshots, newest first (raft.SnapshotStore).
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snaps, err := s.completeLocked()
	if err != nil {
		return nil, err
	}
	out := make([]*raft.SnapshotMeta, len(snaps))
	for i := range snaps {
		out[i] = &snaps[i].meta.raft
	}
	return out, nil
}

// Open returns the snapshot stream of id, exactly meta.Size bytes
// (raft.SnapshotStore). Errors: ErrSnapshotNotFound; *SnapshotFileError
// (matching ErrCorrupt) for a damaged snapshot, which the reader also
// returns for a stream file whose CRC does not match, before the last byte.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	sid, ok := parseSnapshotID(id)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrSnapshotNotFound, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.readMeta(sid)
	if err != nil {
		return nil, nil, err
	}
	var rc io.ReadCloser
	if m.kind == kindLinked {
		rc, err = s.openLinked(sid, m.raft.Size)
	} else {
		rc, err = s.openStream(sid, &m)
	}
	if err != nil {
		return nil, nil, err
	}
	meta := m.raft
	return &meta, rc, nil
}

// openLinked opens the manifest and every linked segment file of id, and
// returns the stream they make.
func (s *SnapshotStore) openLinked(id snapshotID, size int64) (io.ReadCloser, error) {
	name := s.path(id, manifestName)
	b, err := readSmallFile(s.fs, name, maxManifestBytes)
	if err != nil {
		if fsutil.IsNotExist(err) || errors.Is(err, ErrCorrupt) {
			return nil, &SnapshotFileError{Path: name, Err: err}
		}
		return nil, fmt.Errorf("partition: snapshot %s: %w", id, err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, &SnapshotFileError{Path: name, Err: err}
	}
	if got := m.streamSize(); got != size {
		return nil, &SnapshotFileError{Path: name, Err: fmt.Errorf("%w: stream of %d bytes, meta says %d", ErrCorrupt, got, size)}
	}
	r := &linkedReader{}
	src := make([]io.ReaderAt, len(m.segs))
	for i, seg := range m.segs {
		name := s.path(id, segmentsName, segment.FileName(seg.base, segment.LogSuffix))
		f, err := s.fs.Open(name)
		if err != nil {
			_ = r.Close()
			if fsutil.IsNotExist(err) {
				return nil, &SnapshotFileError{Path: name, Err: err}
			}
			return nil, fmt.Errorf("partition: snapshot %s: %w", id, err)
		}
		r.files = append(r.files, f)
		fi, err := f.Stat()
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("partition: snapshot %s: stat %s: %w", id, name, err)
		}
		if fi.Size() < seg.size {
			_ = r.Close()
			return nil, &SnapshotFileError{Path: name, Err: fmt.Errorf("%w: %d bytes, the snapshot has %d", ErrCorrupt, fi.Size(), seg.size)}
		}
		src[i] = f
	}
	r.snapshotStream = newSnapshotStream(&m, src)
	return r, nil
}

// linkedReader is the stream of a linked snapshot; Close closes its files
// (once: later calls do nothing).
type linkedReader struct {
	*snapshotStream
	files []vfs.File
}

func (r *linkedReader) Read(p []byte) (int, error) {
	if r.files == nil {
		return 0, os.ErrClosed
	}
	return r.snapshotStream.Read(p)
}

func (r *linkedReader) Close() error {
	var first error
	for _, f := range r.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.files = nil
	return first
}

// openStream opens the stream file of id.
func (s *SnapshotStore) openStream(id snapshotID, m *storedMeta) (io.ReadCloser, error) {
	name := s.path(id, streamName)
	f, err := s.fs.Open(name)
	if err != nil {
		if fsutil.IsNotExist(err) {
			return nil, &SnapshotFileError{Path: name, Err: err}
		}
		return nil, fmt.Errorf("partition: snapshot %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("partition: snapshot %s: stat %s: %w", id, name, err)
	}
	if fi.Size() != m.raft.Size {
		_ = f.Close()
		return nil, &SnapshotFileError{Path: name, Err: fmt.Errorf("%w: %d bytes, meta says %d", ErrCorrupt, fi.Size(), m.raft.Size)}
	}
	return &streamReader{f: f, path: name, left: m.raft.Size, crc: crc32.New(crcTable), want: m.streamCRC}, nil
}

// streamReader reads a stream file and checks its CRC: the read that
// would return the last byte returns a *SnapshotFileError instead when the
// CRC does not match, so a reader that stops at the size (io.ReadFull,
// io.LimitReader) still sees it.
type streamReader struct {
	f    vfs.File
	path string
	left int64
	crc  hash.Hash32
	want uint32
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.f.Read(p)
	r.crc.Write(p[:n])
	r.left -= int64(n)
	if r.left == 0 {
		if got := r.crc.Sum32(); got != r.want {
			return 0, &SnapshotFileError{Path: r.path, Err: fmt.Errorf("%w: stream CRC %08x, meta says %08x", ErrCorrupt, got, r.want)}
		}
		return n, nil
	}
	if err == io.EOF {
		return n, &SnapshotFileError{Path: r.path, Err: fmt.Errorf("%w: %w, %d bytes short", ErrCorrupt, io.ErrUnexpectedEOF, r.left)}
	}
	return n, err
}

// Close closes the file; later calls do nothing (raft and the state
// machine adapter both close what Open returned).
func (r *streamReader) Close() error {
	if r.f == nil {
		return nil
	}
	f := r.f
	r.f = nil
	return f.Close()
}

// reap deletes the finished snapshots older than the newest retain.
func (s *SnapshotStore) reap() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snaps, err := s.completeLocked()
	if err != nil || len(snaps) <= s.retain {
		return err
	}
	doomed := snaps[s.retain:]
	// Rename first, durably: a crash while deleting must not leave a
	// snapshot with a meta and without some of its files.
	for _, d := range doomed {
		if err := s.fs.Rename(s.path(d.id), s.path(d.id)+reapSuffix); err != nil {
			return fmt.Errorf("partition: reap snapshot %s: %w", d.id, err)
		}
	}
	if err := fsutil.SyncDir(s.fs, s.dir); err != nil {
		return fmt.Errorf("partition: reap snapshots: %w", err)
	}
	for _, d := range doomed {
		if err := s.fs.RemoveAll(s.path(d.id) + reapSuffix); err != nil {
			return fmt.Errorf("partition: reap snapshot %s: %w", d.id, err)
		}
	}
	return nil
}

// ListSnapshots returns the metas of the complete snapshots in dir, newest
// first, without changing anything there (NewSnapshotStore removes
// unfinished snapshots): for tools that look at a stopped node. A missing
// dir holds none.
func ListSnapshots(fs vfs.FS, dir string) ([]*raft.SnapshotMeta, error) {
	if _, err := fs.Stat(dir); fsutil.IsNotExist(err) {
		return nil, nil
	}
	s := &SnapshotStore{fs: fs, dir: dir, retain: 1}
	return s.List()
}
