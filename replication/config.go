package replication

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// LatestConfiguration returns the newest raft configuration a node holds
// for a group while the group is not running: the last configuration
// entry in its log or the configuration of its newest snapshot (snaps,
// newest first, as raft.SnapshotStore.List returns them), whichever is
// later. index is the raft index it took effect at; 0 (and an empty
// configuration) means the node holds none: it never joined the group, or
// it holds nothing of it.
func LatestConfiguration(store *GroupStore, snaps []*raft.SnapshotMeta) (c raft.Configuration, index uint64, err error) {
	if len(snaps) > 0 {
		c, index = snaps[0].Configuration, snaps[0].ConfigurationIndex
	}
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	var l raft.Log
	for i := last; i >= first && i > index && i > 0; i-- {
		if err := store.GetLog(i, &l); errors.Is(err, raft.ErrLogNotFound) {
			continue // a hole: DeleteRange leaves the bounds around one
		} else if err != nil {
			return c, 0, fmt.Errorf("replication: group %s: read entry %d: %w", store.ID(), i, err)
		}
		if l.Type != raft.LogConfiguration {
			continue
		}
		lc, err := decodeConfiguration(l.Data)
		if err != nil {
			return c, 0, fmt.Errorf("%w: group %s: configuration at %d: %v", ErrCorruptEntry, store.ID(), i, err)
		}
		return lc, i, nil
	}
	return c, index, nil
}

// decodeConfiguration is raft.DecodeConfiguration without its panic on
// bad bytes.
func decodeConfiguration(b []byte) (c raft.Configuration, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return raft.DecodeConfiguration(b), nil
}
