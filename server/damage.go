package server

import (
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/segment"
)

// DamagedError reports a replica whose files are damaged: a segment that
// fails its checks (Err is then a *segment.CorruptError naming the file,
// byte position and offset), segments that are not contiguous, or a log
// shorter than its checkpoint. The node does not run with damaged data: it
// stops (Node.Failed), and `sluice repair` decides what to do. It matches
// ErrDamaged.
type DamagedError struct {
	Partition string // the partition's raft group id
	DataDir   string
	Err       error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("server: the replica of partition %s is damaged: %v; the node does not run with damaged data: "+
		"stop it and run `sluice repair --data-dir %s` (with --dry-run first to see what it would do); "+
		"repair moves the damaged replica aside and the partition's other replicas refill it", e.Partition, e.Err, e.DataDir)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// Unwrap returns the damage found.
func (e *DamagedError) Unwrap() error { return e.Err }

// isDamage reports whether err from opening or checking a replica is
// damage to its files (as opposed to an I/O error or a bad config).
func isDamage(err error) bool {
	return errors.Is(err, segment.ErrCorrupt) || errors.Is(err, log.ErrCorrupt) || errors.Is(err, partition.ErrCorrupt)
}

// fail stops the node's work for good with err: the first error wins.
// Failed is closed; the process running the node should Close it and
// exit with Err.
func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.cfg.Logger.Error("server: node failed", "err", err)
		close(n.failed)
	})
}

// Failed is closed when the node found something it must not run with,
// such as a damaged replica (Err says what).
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err returns why the node failed, or nil.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}
