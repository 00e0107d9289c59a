package replication

import (
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// SnapshotStore keeps a group's snapshots (raft's interface, named here so
// that wiring code need not import raft).
type SnapshotStore = raft.SnapshotStore

// Transport carries a group's raft RPCs (raft's interface, named here so
// that wiring code need not import raft).
type Transport = raft.Transport

// NewFileSnapshots keeps a group's snapshots in dir on the OS file system,
// retaining the newest retain of them.
func NewFileSnapshots(dir string, retain int) (SnapshotStore, error) {
	s, err := raft.NewFileSnapshotStoreWithLogger(dir, retain, hclog.NewNullLogger())
	if err != nil {
		return nil, fmt.Errorf("replication: snapshot store %s: %w", dir, err)
	}
	return s, nil
}

// NewMemSnapshots keeps a group's snapshots in memory (tests).
func NewMemSnapshots() SnapshotStore { return raft.NewInmemSnapshotStore() }

// appliedIndexer is implemented by state machines that know the last raft
// index they applied durably.
type appliedIndexer interface {
	AppliedIndex() uint64
}

// catchUpFromSnapshot restores the newest local snapshot into sm when sm is
// behind it. raft is started with NoSnapshotRestoreOnStart, because the
// state machine keeps its own durable state and replays from it; but if a
// crash hit after raft installed a snapshot from the leader and before the
// state machine restored it, raft will not replay the entries the snapshot
// covers, so the state machine must load it itself.
func catchUpFromSnapshot(sm StateMachine, snaps raft.SnapshotStore) error {
	a, ok := sm.(appliedIndexer)
	if !ok {
		return nil
	}
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("replication: list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= a.AppliedIndex() {
		return nil
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("replication: open snapshot %s: %w", list[0].ID, err)
	}
	defer rc.Close()
	if err := sm.Restore(io.LimitReader(rc, meta.Size)); err != nil {
		return fmt.Errorf("replication: restore snapshot %s (index %d): %w", meta.ID, meta.Index, err)
	}
	return nil
}
