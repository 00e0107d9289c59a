// Package server is a Sluice node: it opens the node's Pebble, serves
// every raft group on one TCP port (replication.Mux), runs a replica of the
// metadata group (package metadata) on every voter, and opens the
// partition replicas the metadata assigns to it.
//
// A new cluster starts from a bootstrap list naming every node; each node
// bootstraps the metadata group with it and the metadata leader registers
// them. A node started with an empty list waits until the metadata leader
// adds it (AddNode: registered joining, made a metadata voter, then
// active). Creating a stream assigns its partitions' replica sets
// (metadata); each node sees the change in its metadata replica and opens
// its replicas, bootstrapping each partition group with the replica set.
// ReassignPartition changes a set, and the nodes move the data through the
// partition's raft group (reassign.go); RemoveNode moves every replica off
// a node and takes it out of the metadata group. Deleting a stream removes
// the replicas, their files and their raft state. Leaders move to each
// partition's preferred leader (the first of its set), which the metadata
// spreads evenly. A node restarted on its data directory reopens
// everything from disk, finishes any removal a crash interrupted
// (records.go), and catches up through raft.
//
// Metadata requests (CreateStream, DeleteStream, AddNode,
// ReassignPartition, RemoveNode) run on the metadata leader; other nodes
// answer *replication.NotLeaderError with the leader's id and raft
// address; the client API (package server/rpc) forwards them to the
// leader.
//
// # Data directory
//
//	LOCK                    flock held while a node runs (ErrDataDirInUse)
//	pebble/                 raft logs and stable state of every group,
//	                        partition checkpoints, replica records
//	logs/<partition>/<n>/   the segments of incarnation n of the replica
//	snapshots/<group>/      raft snapshots
//
// # Concurrency
//
// Lock order: Node.mu is a leaf (held only to read or change the map of
// open replicas). The replica records belong to the reconcile goroutine.
// A converge worker runs per partition at a time (member.busy) and ends
// when the partition's group stops.
package server
