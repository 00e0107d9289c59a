package server

import (
	"fmt"
	"time"
)

// diskCheckInterval is how often a node with Config.MinFreeBytes looks at
// the free space of its data directory.
const diskCheckInterval = 500 * time.Millisecond

// DiskFullError reports a node that refuses to append because the file
// system of its data directory has less free space than
// Config.MinFreeBytes. Nothing was written. It matches ErrDiskFull.
type DiskFullError struct {
	Node string
	Dir  string
	Free uint64 // bytes free for the node's user when last looked at
	Min  uint64 // Config.MinFreeBytes
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("server: node %s is out of disk space: %s free in %s, below the %s minimum (--min-free-space); "+
		"reads go on, and writes resume once space is freed", e.Node, mib(e.Free), e.Dir, mib(e.Min))
}

// Is makes errors.Is(err, ErrDiskFull) true.
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }

// Admit returns a *DiskFullError while the node is below its free-space
// minimum, and nil otherwise. Every partition replica asks before it
// proposes a produce (partition.Config.Admit).
func (n *Node) Admit() error {
	if e := n.diskFull.Load(); e != nil {
		return e
	}
	return nil
}

// DiskFree returns the free bytes of the data directory's file system
// when the node watches it (Config.MinFreeBytes > 0) and has looked.
func (n *Node) DiskFree() (uint64, bool) {
	v := n.diskFree.Load()
	return uint64(v), v >= 0
}

// checkDisk looks at the free space once and moves the node in or out of
// refusing appends, logging each change.
func (n *Node) checkDisk() {
	free, err := n.cfg.DiskFree(n.cfg.DataDir)
	if err != nil {
		n.cfg.Logger.Warn("server: cannot read the data directory's free space", "dir", n.cfg.DataDir, "err", err)
		return
	}
	n.diskFree.Store(int64(min(free, 1<<62)))
	floor := uint64(n.cfg.MinFreeBytes)
	switch was := n.diskFull.Load(); {
	case free < floor:
		e := &DiskFullError{Node: n.cfg.ID, Dir: n.cfg.DataDir, Free: free, Min: floor}
		n.diskFull.Store(e)
		if was == nil {
			n.cfg.Logger.Error("server: disk space below the minimum: refusing produce until space is freed",
				"dir", n.cfg.DataDir, "free", mib(free), "min", mib(floor))
		}
	case was != nil:
		n.diskFull.Store(nil)
		n.cfg.Logger.Info("server: disk space back above the minimum: taking produce again",
			"dir", n.cfg.DataDir, "free", mib(free), "min", mib(floor))
	}
}

// mib renders a byte count in MiB for messages.
func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
