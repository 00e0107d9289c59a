//go:build !unix

package server

import "errors"

// statfsFree is not available here: set Config.DiskFree, or leave
// Config.MinFreeBytes zero.
func statfsFree(string) (uint64, error) {
	return 0, errors.New("free disk space is not known on this platform")
}
