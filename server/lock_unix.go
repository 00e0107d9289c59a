//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the file in the data directory that a running node holds an
// exclusive flock on. It holds the pid of the process that took it, for
// the error message of the next one.
const lockFile = "LOCK"

// lockDataDir takes an exclusive, non-blocking flock on <dir>/LOCK, so
// that two processes never open the same Pebble and logs. The lock goes
// with the file descriptor: closing it (or the process ending, however it
// ends) releases it. It fails with ErrDataDirInUse when the lock is held.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server: open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (by pid %d)", pid)
			}
		}
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked%s; is another sluice node running on it?", ErrDataDirInUse, path, holder)
		}
		return nil, fmt.Errorf("server: lock %s: %w", path, err)
	}
	// Best effort: the pid only helps the message above.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
