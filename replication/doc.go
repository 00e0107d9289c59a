// Package replication is the only importer of hashicorp/raft: the
// Pebble-backed raft LogStore and StableStore, the snapshot store, the
// transports (TCP multiplexed by group, and in-memory with fault hooks) and
// the adapter from Sluice's state machines to raft.FSM.
//
// # Groups
//
// Group (group.go) is one replica of one raft group: StartGroup, Bootstrap,
// Propose (typed errors: *NotLeaderError, ErrTimeout, ErrOutcomeUnknown,
// ErrFailed), Barrier, membership and leadership transfer. fsm.go adapts a
// StateMachine to raft.FSM; a state machine's Fatal error stops the replica
// (fail-stop) instead of skipping the entry. Raft runs with
// NoSnapshotRestoreOnStart: state machines keep their own durable state and
// raft replays the entries after it; StartGroup restores the newest local
// snapshot first if the state machine is behind it (snapshots.go).
//
// Goroutines: raft's own; per group, one that makes a new leader Ready
// after a Barrier and one per in-flight Propose (which raft always
// answers: see the note on BatchApplyCh in StartGroup). Stop waits for all
// of them.
//
// # Transports
//
// Mux (mux.go) serves every group of a node on one TCP port: each
// connection opens with a header naming its group (on-wire format in
// mux.go) and is handed to that group's raft NetworkTransport. Lock order:
// Mux.mu, then groupLayer.mu. FaultNet (faultnet.go) is an in-memory
// network for tests with partitions, drops, delays and per-RPC hooks. Lock
// order: FaultNet.mu, then the in-memory transports' locks.
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
