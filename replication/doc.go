// Package replication is the only importer of hashicorp/raft: the
// Pebble-backed raft LogStore and StableStore, the snapshot store, the
// transports (TCP multiplexed by group, and in-memory with fault hooks) and
// the adapter from Sluice's state machines to raft.FSM.
//
// It is built by the replication issue; until then the package holds only
// this description, so that the layout fixed in the design brief exists.
package replication
