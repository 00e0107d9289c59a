package partition

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/segment"
)

// errCannotAdopt reports a sink that cannot take a snapshot's staged links
// (they are on another file system); the snapshot is then written as a
// stream.
var errCannotAdopt = errors.New("partition: snapshot store cannot take the staged links")

// Create starts a snapshot (raft.SnapshotStore). Only snapshot version 1
// is kept (see the meta format). The sink takes either a stream of Writes
// (a snapshot received from the leader, or any state machine's Persist) or,
// from a partition snapshot's Persist, its staged links.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version < 1 || version > raft.SnapshotVersionMax {
		return nil, fmt.Errorf("partition: snapshot version %d not supported", version)
	}
	k := &snapshotSink{s: s, meta: raft.SnapshotMeta{
		Version: version, Index: index, Term: term,
		Configuration: configuration.Clone(), ConfigurationIndex: configurationIndex,
	}}
	if _, err := encodeMeta(&storedMeta{kind: kindStream, raft: k.meta}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	k.id = snapshotID{term: term, index: index, seq: s.mu.seq}
	s.mu.seq++
	s.mu.Unlock()
	k.meta.ID = k.id.String()
	if err := s.fs.MkdirAll(s.path(k.id), 0o755); err != nil {
		return nil, fmt.Errorf("partition: create snapshot %s: %w", k.id, err)
	}
	return k, nil
}

// snapshotSink is a snapshot being written. One goroutine uses it.
type snapshotSink struct {
	s    *SnapshotStore
	id   snapshotID
	meta raft.SnapshotMeta

	// Kind stream: the stream file, created at the first Write.
	f    vfs.File
	bw   *bufio.Writer
	crc  hash.Hash32
	size int64

	// Kind linked: the manifest, set when adoptStaged took the links.
	linked *snapshotManifest

	done      bool  // Close or Cancel was called
	cancelled bool  // Cancel was called first
	closeErr  error // what the first Close returned
}

var (
	_ raft.SnapshotSink = (*snapshotSink)(nil)
	_ stagedSink        = (*snapshotSink)(nil)
)

// ID returns the snapshot's id.
func (k *snapshotSink) ID() string { return k.meta.ID }

// Write appends to the snapshot stream.
func (k *snapshotSink) Write(p []byte) (int, error) {
	switch {
	case k.done:
		return 0, fmt.Errorf("partition: snapshot %s: write after close", k.id)
	case k.linked != nil:
		return 0, fmt.Errorf("partition: snapshot %s: write after its segments were handed over", k.id)
	}
	if k.f == nil {
		if err := k.createStream(); err != nil {
			return 0, err
		}
	}
	n, err := k.bw.Write(p)
	k.crc.Write(p[:n])
	k.size += int64(n)
	return n, err
}

func (k *snapshotSink) createStream() error {
	name := k.s.path(k.id, streamName)
	f, err := k.s.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("partition: create %s: %w", name, err)
	}
	k.f, k.bw, k.crc = f, bufio.NewWriterSize(f, 64<<10), crc32.New(crcTable)
	return nil
}

// adoptStaged takes the staged links in dir (see stagingDir), moving the
// directory into the snapshot, so that Close writes only the manifest m.
// It fails with errCannotAdopt, taking nothing, when the directory cannot
// be moved.
func (k *snapshotSink) adoptStaged(dir string, m *snapshotManifest) error {
	if k.done || k.f != nil || k.linked != nil {
		return fmt.Errorf("partition: snapshot %s: segments handed over after a write or close", k.id)
	}
	if err := k.s.fs.Rename(dir, k.s.path(k.id, segmentsName)); err != nil {
		return fmt.Errorf("%w: %w", errCannotAdopt, err)
	}
	k.linked = m
	return nil
}

// Close makes the snapshot durable and then deletes the snapshots older
// than the newest retain (raft.SnapshotSink). A snapshot that could not be
// made durable is removed. An error from reaping leaves the new snapshot
// in place. Close may be called again (raft closes the sink after the
// state machine's Persist did) and returns what the first call did.
func (k *snapshotSink) Close() error {
	switch {
	case k.cancelled:
		return fmt.Errorf("partition: snapshot %s: closed after Cancel", k.id)
	case k.done:
		return k.closeErr
	}
	k.done = true
	if err := k.commit(); err != nil {
		if k.f != nil {
			_ = k.f.Close()
		}
		_ = k.s.fs.RemoveAll(k.s.path(k.id))
		k.closeErr = fmt.Errorf("partition: snapshot %s: %w", k.id, err)
	} else {
		k.closeErr = k.s.reap()
	}
	return k.closeErr
}

// commit makes everything durable in order, the meta last: a crash leaves
// either no meta (the directory is removed at open) or a whole snapshot.
func (k *snapshotSink) commit() error {
	fs := k.s.fs
	sm := storedMeta{raft: k.meta}
	if k.linked != nil {
		sm.kind, sm.raft.Size = kindLinked, k.linked.streamSize()
		// The linked bytes were fsynced by the log before the links were
		// made (sealed segments at their seal, the active one by the
		// checkpoint that Snapshot takes); syncing again costs little and
		// does not rest on that.
		dir := k.s.path(k.id, segmentsName)
		for _, seg := range k.linked.segs {
			if err := syncFile(fs, fs.PathJoin(dir, segment.FileName(seg.base, segment.LogSuffix))); err != nil {
				return err
			}
		}
		if err := fsutil.SyncDir(fs, dir); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(fs, k.s.path(k.id, manifestName), encodeManifest(k.linked)); err != nil {
			return err
		}
	} else {
		if k.f == nil {
			if err := k.createStream(); err != nil {
				return err
			}
		}
		err := k.bw.Flush()
		if err == nil {
			err = k.f.Sync()
		}
		if cerr := k.f.Close(); err == nil {
			err = cerr
		}
		k.f = nil
		if err != nil {
			return fmt.Errorf("write %s: %w", k.s.path(k.id, streamName), err)
		}
		// The stream's entry must be durable before the meta's.
		if err := fsutil.SyncDir(fs, k.s.path(k.id)); err != nil {
			return err
		}
		sm.kind, sm.raft.Size, sm.streamCRC = kindStream, k.size, k.crc.Sum32()
	}
	b, err := encodeMeta(&sm)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(fs, k.s.path(k.id, metaName), b); err != nil {
		return err
	}
	return fsutil.SyncDir(fs, k.s.dir)
}

func syncFile(fs vfs.FS, name string) error {
	f, err := fs.Open(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	return nil
}

// Cancel abandons the snapshot and removes its files (raft.SnapshotSink).
func (k *snapshotSink) Cancel() error {
	if k.done {
		return nil
	}
	k.done, k.cancelled = true, true
	if k.f != nil {
		_ = k.f.Close()
		k.f = nil
	}
	if err := k.s.fs.RemoveAll(k.s.path(k.id)); err != nil {
		return fmt.Errorf("partition: cancel snapshot %s: %w", k.id, err)
	}
	return nil
}
