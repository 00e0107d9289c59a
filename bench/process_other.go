//go:build !linux

package bench

import (
	"fmt"
	"runtime"
)

// readProc is not implemented outside Linux: the harness reads process
// statistics from /proc.
func readProc(pid int) (cpuSeconds float64, rssBytes int64, err error) {
	return 0, 0, fmt.Errorf("bench: process sampling reads Linux's /proc, and this is %s", runtime.GOOS)
}
