package partition

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/replication"
)

// A partition snapshot, as raft streams it to a replica that is far behind
// or new. On-wire format; never change:
//
//	magic "SLPS", version u8 = 1
//	applied u64, clock i64, log start i64, log end i64
//	producer table: length u32, bytes (see producers.appendTo)
//	segment count u32, then per segment: base offset i64, size i64, the
//	  first size bytes of its .log
//	CRC-32C (Castagnoli) u32 of every byte before it
const (
	snapshotMagic   = "SLPS"
	snapshotVersion = 1

	maxSnapshotProducers = 64 << 20
	maxSnapshotSegments  = 1 << 20
	restoreSuffix        = ".restore"
	restoreCheckpoint    = "restore-checkpoint"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type partitionSnapshot struct {
	ck    checkpoint
	prods []byte
	files *log.FileSet
}

// Snapshot captures the replica for raft (replication.StateMachine): it
// checkpoints, so the captured state matches a durable log, and opens the
// segment files, whose bytes Persist streams later while Apply goes on.
func (r *Replica) Snapshot() (replication.Snapshot, error) {
	if err := r.checkpoint(); err != nil {
		return nil, err
	}
	files, err := r.log().OpenFiles()
	if err != nil {
		return nil, err
	}
	return &partitionSnapshot{
		ck:    checkpoint{applied: r.applied.Load(), logEnd: files.LogEnd, clock: r.clock},
		prods: r.producers.appendTo(nil),
		files: files,
	}, nil
}

// Persist writes the snapshot stream.
func (s *partitionSnapshot) Persist(w io.Writer) error {
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	be := binary.BigEndian
	hdr := append([]byte(snapshotMagic), snapshotVersion)
	hdr = be.AppendUint64(hdr, s.ck.applied)
	hdr = be.AppendUint64(hdr, uint64(s.ck.clock))
	hdr = be.AppendUint64(hdr, uint64(s.files.LogStart))
	hdr = be.AppendUint64(hdr, uint64(s.files.LogEnd))
	hdr = be.AppendUint32(hdr, uint32(len(s.prods)))
	hdr = append(hdr, s.prods...)
	hdr = be.AppendUint32(hdr, uint32(len(s.files.Segments)))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	for _, f := range s.files.Segments {
		var sh []byte
		sh = be.AppendUint64(sh, uint64(f.BaseOffset))
		sh = be.AppendUint64(sh, uint64(f.Size))
		if _, err := bw.Write(sh); err != nil {
			return err
		}
		if _, err := io.Copy(bw, io.NewSectionReader(f, 0, f.Size)); err != nil {
			return fmt.Errorf("partition: snapshot segment %d: %w", f.BaseOffset, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(be.AppendUint32(nil, crc.Sum32()))
	return err
}

// Release closes the segment files.
func (s *partitionSnapshot) Release() { _ = s.files.Close() }

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
// replica or the new one (see finishRestore).
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
	if err := finishRestore(r.cfg); err != nil {
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
	r.clock, r.producers, r.sinceCheckpoint = ck.clock, ck.producers, 0
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
	if string(hdr[:4]) != snapshotMagic || hdr[4] != snapshotVersion {
		return checkpoint{}, fmt.Errorf("%w: snapshot magic %q version %d", ErrCorrupt, hdr[:4], hdr[4])
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
	ck.producers, ck.logEnd = p, logEnd
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

// finishRestore completes or abandons a restore that a crash interrupted,
// and installs a restored checkpoint:
//   - dir.restore beside dir: the stream was not swapped in; drop it.
//   - dir.restore alone: the old log was already removed; swap it in.
//   - dir/restore-checkpoint: the swap happened; store the checkpoint in
//     Pebble, then remove the file.
func finishRestore(cfg Config) error {
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
