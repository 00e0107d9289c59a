// Package replication is the only importer of hashicorp/raft: the
// Pebble-backed raft LogStore and StableStore, the snapshot store, the
// transports (TCP multiplexed by group, and in-memory with fault hooks) and
// the adapter from Sluice's state machines to raft.FSM.
//
// It is built by the replication issue; until then the package holds only
// this description, so that the layout fixed in the design brief exists.
//
// # The log and stable store
//
// Store (store.go) keeps the raft log and stable state of every raft group
// of a node in the node's one Pebble DB; Store.Group hands out one
// GroupStore per group id, which implements raft.LogStore and
// raft.StableStore. The key layout and the entry codec (entry.go) are
// on-disk formats, documented where they are defined.
//
// Invariants:
//   - The raft log is the WAL: every write (StoreLogs, DeleteRange, Set,
//     SetUint64, DeleteGroup) is one Pebble batch committed with Sync, and
//     returns nil only once it is durable. StoreLogs writes all its entries
//     in one batch, so they survive a crash together or not at all.
//   - FirstIndex and LastIndex are the lowest and highest stored index (0
//     for an empty log), cached in memory and moved only after the write
//     that changes them is durable.
//   - A write error fails the whole Store (ErrStoreFailed): all groups share
//     one WAL, and after a failed WAL write or fsync nothing since the last
//     good sync is known to be durable. The replica fail-stops.
//   - Bytes from disk never panic: an entry or value that does not decode is
//     ErrCorruptEntry, naming the group and index; nothing is skipped.
//
// Concurrency: a Store and its GroupStores are safe for concurrent use.
// Reads take no lock. Writes that move a group's log bounds (StoreLogs,
// DeleteRange, DeleteGroup) hold the group's wmu across the commit. Lock
// order: Store.mu, then GroupStore.wmu. The store starts no goroutines.
package replication
