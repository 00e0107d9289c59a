// Package fsutil holds the few file-system steps that the segment and log
// packages both take through a pebble vfs.FS: an atomic whole-file replace
// and a directory fsync.
package fsutil

import (
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TmpSuffix is appended to a file name while WriteFileAtomic writes it.
// Leftovers from a crash are safe to delete.
const TmpSuffix = ".tmp"

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// SyncDir fsyncs a directory so that creates, renames and removes in it
// survive a crash.
func SyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces name with b so that after a crash the file holds
// either its old contents or b: write name+TmpSuffix, fsync, rename, fsync
// the directory.
func WriteFileAtomic(fs vfs.FS, name string, b []byte) error {
	tmp := name + TmpSuffix
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return SyncDir(fs, fs.PathDir(name))
}

// MkdirAllSync creates dir and any missing parents, fsyncing the parent of
// each directory it creates, so that the whole path survives a crash.
func MkdirAllSync(fs vfs.FS, dir string) error {
	if dir == "" || dir == "." || dir == fs.PathDir(dir) {
		return nil
	}
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	parent := fs.PathDir(dir)
	if err := MkdirAllSync(fs, parent); err != nil {
		return err
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return SyncDir(fs, parent)
}
