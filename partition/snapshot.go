package partition

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/segment"
)

// A partition snapshot, as raft streams it to a replica that is far behind
// or new. On-wire format; never change:
//
//	magic "SLPS", version u8 = 3
//	applied u64, clock i64, log start i64, log end i64
//	producer table: length u32, bytes (see producers.appendTo)
//	offset table: length u32, bytes (see offsetTable.appendTo)
//	queue table: length u32, bytes (see queueTable.appendTo)
//	segment count u32, then per segment: base offset i64, size i64, the
//	  first size bytes of its .log
//	CRC-32C (Castagnoli) u32 of every byte before it
//
// Older versions still restore: version 1, written before committed
// offsets existed, has neither the offset table nor the queue table (no
// committed offsets, no queues); version 2, written before queues
// existed, has no queue table (no queues). Snapshot writes version 3 (a
// SnapshotStore streams a snapshot it kept as version 1 or 2 in that
// version).
const (
	snapshotMagic     = "SLPS"
	snapshotVersion   = 3
	snapshotVersionV2 = 2 // no queue table
	snapshotVersionV1 = 1 // no offset table, no queue table

	maxSnapshotProducers = 64 << 20
	maxSnapshotSegments  = 1 << 20
	restoreSuffix        = ".restore"
	restoreCheckpoint    = "restore-checkpoint"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// A snapshot's segments are hard-linked, in Snapshot, into a staging
// directory beside the log:
//
//	<log dir>.staging/<applied index>[-<n>]/<20-digit base offset>.log
//
// Snapshot runs on the apply goroutine, the log's only writer, so the links
// catch every segment before retention (AdvanceLogStart, also applied
// there) can delete one. Persist runs later, concurrently with Apply, and
// reads the links, not the log. A SnapshotStore's sink takes the directory
// over instead of the bytes; Release removes it otherwise. Open removes what
// a crash left there (finishRestore): the group is not running yet.
//
// The links share the log's inodes, and a snapshot uses only the first
// size bytes of each (its prefix). Nothing rewrites a prefix in place:
// appends go after the end, a cut on a file system without Truncate
// writes a new file and renames it over the name, and deleting a segment
// (retention, TruncateTo) only unlinks the log's name. The only cuts in
// place (Truncate on the OS file system) are
//   - segment recovery's, at the first bad batch after a crash, and
//   - the TruncateTo that Open does back to the latest checkpoint's log end
//     (see Open in replica.go; no other caller cuts the log).
//
// Both stay at or above every snapshot's prefix. A snapshot is taken at a
// checkpoint: Snapshot checkpoints first (fsyncing the log), with no Apply
// in between, so its prefixes end at that checkpoint's log end and are
// durable, and recovery finds them intact. Later checkpoints of the same
// log have a log end at least as large (the log end only grows between
// Opens, and Open cuts back to the latest checkpoint, never below it). A
// Restore installs new files, whose later checkpoints may be lower, but
// whose inodes no earlier snapshot links.
const stagingSuffix = ".staging"

// stagingDir is the directory that holds the staged links of the replica
// whose log is in logDir.
func stagingDir(logDir string) string { return logDir + stagingSuffix }

type partitionSnapshot struct {
	m      snapshotManifest
	id     string // the partition
	logger *slog.Logger
	fs     vfs.FS
	// staged is the directory of links to the segments (see stagingDir),
	// or "" when linking failed and files serve Persist instead.
	staged string
	files  *log.FileSet
	// handedOver is set when a sink took the staged directory.
	handedOver bool
}

// stagedSink is a snapshot sink that can take over a snapshot's staged
// links instead of its bytes: SnapshotStore's sinks are. adoptStaged fails
// with errCannotAdopt, and takes nothing, when it cannot (the directory is
// on another file system); the caller then writes the stream.
type stagedSink interface {
	adoptStaged(dir string, m *snapshotManifest) error
}

// Snapshot captures the replica for raft (replication.StateMachine): it
// checkpoints, so the captured state matches a durable log, and hard-links
// every segment file into a staging directory (see stagingDir), so Persist
// can run while Apply goes on and retention deletes segments. A file system
// that cannot link gets the old way: the segment files are kept open.
func (r *Replica) Snapshot() (replication.Snapshot, error) {
	if err := r.checkpoint(); err != nil {
		return nil, err
	}
	files, err := r.log().OpenFiles()
	if err != nil {
		return nil, err
	}
	s := &partitionSnapshot{
		m: snapshotManifest{
			version: snapshotVersion,
			applied: r.applied.Load(), clock: r.clock, logStart: files.LogStart, logEnd: files.LogEnd,
			prods: r.producers.appendTo(nil), offs: r.offsets.table.appendTo(nil), queues: r.queues.table.appendTo(nil),
		},
		id: r.cfg.ID, logger: r.cfg.Logger, fs: r.cfg.Log.FS,
	}
	for _, f := range files.Segments {
		s.m.segs = append(s.m.segs, segmentRef{base: f.BaseOffset, size: f.Size})
	}
	staged, err := r.stageLinks(s.m.segs)
	if err != nil {
		r.cfg.Logger.Warn("partition: cannot hard-link segments for a snapshot; persisting it copies them",
			"partition", r.cfg.ID, "err", err)
		s.files = files
		return s, nil
	}
	if err := files.Close(); err != nil {
		r.cfg.Logger.Warn("partition: closing segment files after a snapshot", "partition", r.cfg.ID, "err", err)
	}
	s.staged = staged
	return s, nil
}

// stageLinks links the .log of every segment of segs into a new staging
// directory and returns it. It runs on the apply goroutine (as Snapshot
// does), which alone creates staging directories, so a name found free
// stays free.
func (r *Replica) stageLinks(segs []segmentRef) (string, error) {
	fs, logDir := r.cfg.Log.FS, r.cfg.Log.Dir
	root := stagingDir(logDir)
	if err := fs.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("mkdir %s: %w", root, err)
	}
	dir := fs.PathJoin(root, fmt.Sprint(r.applied.Load()))
	for n := 1; ; n++ {
		if _, err := fs.Stat(dir); fsutil.IsNotExist(err) {
			break
		} else if err != nil {
			return "", fmt.Errorf("stat %s: %w", dir, err)
		}
		dir = fs.PathJoin(root, fmt.Sprintf("%d-%d", r.applied.Load(), n))
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("mkdir %s: %w", dir, err)
	}
	for _, s := range segs {
		name := segment.FileName(s.base, segment.LogSuffix)
		if err := fs.Link(fs.PathJoin(logDir, name), fs.PathJoin(dir, name)); err != nil {
			_ = fs.RemoveAll(dir)
			return "", fmt.Errorf("link %s: %w", name, err)
		}
	}
	return dir, nil
}

// Persist writes the snapshot to w. When w is a SnapshotStore's sink, the
// sink takes the staged links and no segment byte is read or copied;
// otherwise (raft's stores, a test's buffer) it writes the snapshot stream.
func (s *partitionSnapshot) Persist(w io.Writer) error {
	if s.handedOver {
		return fmt.Errorf("partition %s: snapshot at %d persisted again after a store took its links", s.id, s.m.applied)
	}
	if ss, ok := w.(stagedSink); ok && s.staged != "" {
		err := ss.adoptStaged(s.staged, &s.m)
		if err == nil {
			s.handedOver = true
			return nil
		}
		if !errors.Is(err, errCannotAdopt) {
			return err
		}
		s.logger.Warn("partition: snapshot store is not on the log's file system; the snapshot copies the segments",
			"partition", s.id, "err", err)
	}
	src := make([]io.ReaderAt, len(s.m.segs))
	if s.staged == "" {
		for i := range s.files.Segments {
			src[i] = s.files.Segments[i]
		}
	} else {
		for i, seg := range s.m.segs {
			f, err := s.fs.Open(s.fs.PathJoin(s.staged, segment.FileName(seg.base, segment.LogSuffix)))
			if err != nil {
				closeAll(src[:i])
				return fmt.Errorf("partition: snapshot segment %d: %w", seg.base, err)
			}
			src[i] = f
		}
		defer closeAll(src)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := io.Copy(bw, newSnapshotStream(&s.m, src)); err != nil {
		return err
	}
	return bw.Flush()
}

// Release drops the staged links, unless a sink took them, or closes the
// segment files.
func (s *partitionSnapshot) Release() {
	if s.files != nil {
		_ = s.files.Close()
	}
	if s.staged != "" && !s.handedOver {
		_ = s.fs.RemoveAll(s.staged)
	}
}

// crcReader tracks the CRC of what it reads.
type crcReader struct {
	r   io.Reader
	crc hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	return n, err
}

// Restore replaces the replica with a snapshot (replication.StateMachine).
// The new log is written beside the old one and swapped in only after the
// whole stream checked out; a crash at any point leaves either the old
// replica or the new one (see completeRestore).
func (r *Replica) Restore(rd io.Reader) error {
	fs, dir := r.cfg.Log.FS, r.cfg.Log.Dir
	tmp := dir + restoreSuffix
	if err := fs.RemoveAll(tmp); err != nil {
		return fmt.Errorf("partition %s: clear %s: %w", r.cfg.ID, tmp, err)
	}
	ck, err := readSnapshot(fs, tmp, bufio.NewReaderSize(rd, 64<<10))
	if err != nil {
		_ = fs.RemoveAll(tmp)
		return fmt.Errorf("partition %s: restore: %w", r.cfg.ID, err)
	}
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if err := r.lg.Close(); err != nil {
		r.cfg.Logger.Warn("partition: closing the log before restore", "partition", r.cfg.ID, "err", err)
	}
	if err := fs.RemoveAll(dir); err != nil {
		return fmt.Errorf("partition %s: remove old log: %w", r.cfg.ID, err)
	}
	if err := fsutil.SyncDir(fs, fs.PathDir(dir)); err != nil {
		return err
	}
	if err := completeRestore(r.cfg); err != nil {
		return err
	}
	lg, err := log.Open(r.cfg.Log)
	if err != nil {
		return fmt.Errorf("partition %s: open restored log: %w", r.cfg.ID, err)
	}
	if lg.LogEndOffset() != ck.logEnd {
		_ = lg.Close()
		return fmt.Errorf("%w: partition %s: restored log ends at %d, snapshot says %d", ErrCorrupt, r.cfg.ID, lg.LogEndOffset(), ck.logEnd)
	}
	r.lg = lg
	r.applied.Store(ck.applied)
	r.clock, r.producers, r.sinceCheckpoint, r.bytesSinceCheckpoint = ck.clock, ck.producers, 0, 0
	r.offsets.Lock()
	r.offsets.table = ck.offsets
	r.offsets.Unlock()
	r.offsetBytes = ck.offsets.size()
	r.queues.Lock()
	r.queues.table = ck.queues
	r.queues.Unlock()
	r.queueBytes = ck.queues.size()
	return nil
}

// readSnapshot writes the snapshot stream into the directory tmp, checks its
// CRC, and leaves the checkpoint to install in tmp/restore-checkpoint.
func readSnapshot(fs vfs.FS, tmp string, rd io.Reader) (checkpoint, error) {
	cr := &crcReader{r: rd, crc: crc32.New(crcTable)}
	be := binary.BigEndian
	hdr := make([]byte, len(snapshotMagic)+1+32+4)
	if _, err := io.ReadFull(cr, hdr); err != nil {
		return checkpoint{}, fmt.Errorf("%w: snapshot header: %w", ErrCorrupt, err)
	}
	version := hdr[4]
	if string(hdr[:4]) != snapshotMagic || version < snapshotVersionV1 || version > snapshotVersion {
		return checkpoint{}, fmt.Errorf("%w: snapshot magic %q version %d", ErrCorrupt, hdr[:4], version)
	}
	ck := checkpoint{applied: be.Uint64(hdr[5:]), clock: int64(be.Uint64(hdr[13:]))}
	logStart, logEnd := int64(be.Uint64(hdr[21:])), int64(be.Uint64(hdr[29:]))
	n := be.Uint32(hdr[37:])
	if logStart < 0 || logEnd < logStart || n > maxSnapshotProducers {
		return checkpoint{}, fmt.Errorf("%w: snapshot log [%d, %d), producer table %d bytes", ErrCorrupt, logStart, logEnd, n)
	}
	prods := make([]byte, n)
	if _, err := io.ReadFull(cr, prods); err != nil {
		return checkpoint{}, fmt.Errorf("%w: snapshot producers: %w", ErrCorrupt, err)
	}
	p, rest, err := decodeProducers(prods)
	if err != nil || len(rest) != 0 {
		return checkpoint{}, fmt.Errorf("%w: snapshot producer table (%d bytes left): %w", ErrCorrupt, len(rest), err)
	}
	ck.producers, ck.logEnd, ck.offsets, ck.queues = p, logEnd, offsetTable{}, queueTable{}
	if version >= snapshotVersionV2 {
		if ck.offsets, err = readOffsetTable(cr); err != nil {
			return checkpoint{}, err
		}
	}
	if version >= snapshotVersion {
		if ck.queues, err = readQueueTable(cr, logEnd); err != nil {
			return checkpoint{}, err
		}
	}
	var cnt [4]byte
	if _, err := io.ReadFull(cr, cnt[:]); err != nil {
		return checkpoint{}, fmt.Errorf("%w: snapshot segment count: %w", ErrCorrupt, err)
	}
	segs := be.Uint32(cnt[:])
	if segs > maxSnapshotSegments {
		return checkpoint{}, fmt.Errorf("%w: %d segments", ErrCorrupt, segs)
	}
	im, err := log.NewImporter(fs, tmp, logStart)
	if err != nil {
		return checkpoint{}, err
	}
	for i := uint32(0); i < segs; i++ {
		var sh [16]byte
		if _, err := io.ReadFull(cr, sh[:]); err != nil {
			return checkpoint{}, fmt.Errorf("%w: snapshot segment %d header: %w", ErrCorrupt, i, err)
		}
		base, size := int64(be.Uint64(sh[:])), int64(be.Uint64(sh[8:]))
		if base < 0 || size < 0 || size > log.MaxSegmentBytes {
			return checkpoint{}, fmt.Errorf("%w: snapshot segment %d at %d of %d bytes", ErrCorrupt, i, base, size)
		}
		if err := im.AddSegment(base, cr, size); err != nil {
			return checkpoint{}, fmt.Errorf("%w: snapshot segment %d: %w", ErrCorrupt, i, err)
		}
	}
	want := cr.crc.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(rd, trailer[:]); err != nil {
		return checkpoint{}, fmt.Errorf("%w: snapshot trailer: %w", ErrCorrupt, err)
	}
	if got := be.Uint32(trailer[:]); got != want {
		return checkpoint{}, fmt.Errorf("%w: snapshot CRC %08x, computed %08x", ErrCorrupt, got, want)
	}
	if err := fsutil.WriteFileAtomic(fs, fs.PathJoin(tmp, restoreCheckpoint), ck.encode()); err != nil {
		return checkpoint{}, err
	}
	return ck, im.Finish()
}

// readOffsetTable reads a snapshot's offset table: length u32, bytes.
func readOffsetTable(r io.Reader) (offsetTable, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: snapshot offset table length: %w", ErrCorrupt, err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxSnapshotOffsets {
		return nil, fmt.Errorf("%w: snapshot offset table of %d bytes", ErrCorrupt, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: snapshot offset table: %w", ErrCorrupt, err)
	}
	t, rest, err := decodeOffsetTable(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: snapshot offset table: %d bytes after it", ErrCorrupt, len(rest))
	}
	return t, nil
}

// readQueueTable reads a snapshot's queue table: length u32, bytes.
func readQueueTable(r io.Reader, logEnd int64) (queueTable, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: snapshot queue table length: %w", ErrCorrupt, err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxSnapshotQueues {
		return nil, fmt.Errorf("%w: snapshot queue table of %d bytes", ErrCorrupt, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: snapshot queue table: %w", ErrCorrupt, err)
	}
	t, rest, err := decodeQueueTable(b, logEnd)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: snapshot queue table: %d bytes after it", ErrCorrupt, len(rest))
	}
	return t, nil
}

// finishRestore cleans up, when Open opens the replica and before its
// group starts, what a crash (or a stop) left half done: the links staged
// for a snapshot that was never released (nothing can be using them yet),
// and an interrupted restore (see completeRestore).
func finishRestore(cfg Config) error {
	if err := cfg.Log.FS.RemoveAll(stagingDir(cfg.Log.Dir)); err != nil {
		return fmt.Errorf("partition %s: drop staged snapshot links: %w", cfg.ID, err)
	}
	return completeRestore(cfg)
}

// completeRestore completes or abandons a restore that a crash interrupted,
// and installs a restored checkpoint:
//   - dir.restore beside dir: the stream was not swapped in; drop it.
//   - dir.restore alone: the old log was already removed; swap it in.
//   - dir/restore-checkpoint: the swap happened; store the checkpoint in
//     Pebble, then remove the file.
func completeRestore(cfg Config) error {
	fs, dir := cfg.Log.FS, cfg.Log.Dir
	tmp := dir + restoreSuffix
	_, tmpErr := fs.Stat(tmp)
	_, dirErr := fs.Stat(dir)
	switch {
	case tmpErr == nil && dirErr == nil:
		if err := fs.RemoveAll(tmp); err != nil {
			return fmt.Errorf("partition %s: drop unfinished restore: %w", cfg.ID, err)
		}
	case tmpErr == nil:
		if err := fs.Rename(tmp, dir); err != nil {
			return fmt.Errorf("partition %s: install restore: %w", cfg.ID, err)
		}
		if err := fsutil.SyncDir(fs, fs.PathDir(dir)); err != nil {
			return err
		}
	}
	name := fs.PathJoin(dir, restoreCheckpoint)
	f, err := fs.Open(name)
	if err != nil {
		if fsutil.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("partition %s: %w", cfg.ID, err)
	}
	b, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("partition %s: read %s: %w", cfg.ID, name, err)
	}
	ck, err := decodeCheckpoint(b)
	if err != nil {
		return fmt.Errorf("partition %s: %s: %w", cfg.ID, name, err)
	}
	if err := storeCheckpoint(cfg.DB, cfg.ID, &ck); err != nil {
		return err
	}
	if err := fs.Remove(name); err != nil {
		return fmt.Errorf("partition %s: remove %s: %w", cfg.ID, name, err)
	}
	return fsutil.SyncDir(fs, dir)
}
