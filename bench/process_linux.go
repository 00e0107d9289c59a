package bench

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// readProc returns the CPU seconds (user and system) used so far by
// process pid and its resident set size in bytes, from /proc.
func readProc(pid int) (cpuSeconds float64, rssBytes int64, err error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: read /proc/%d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("bench: read /proc/%d/stat: %w", pid, err)
	}
	return st.CPUTime(), int64(st.ResidentMemory()), nil
}
