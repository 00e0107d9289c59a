//go:build unix

package server

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// statfsFree returns the bytes free for unprivileged users in the file
// system that holds dir.
func statfsFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
