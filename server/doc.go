// Package server is a Sluice node: it opens the node's Pebble, serves
// every raft group on one TCP port (replication.Mux), runs a replica of the
// metadata group (package metadata) on every voter, and opens the
// partition replicas the metadata assigns to it.
//
// A new cluster starts from a bootstrap list naming every node; each node
// bootstraps the metadata group with it and the metadata leader registers
// them. Creating a stream assigns its partitions' replica sets (metadata);
// each node sees the change in its metadata replica and opens its replicas,
// bootstrapping each partition group with the replica set. Deleting a
// stream removes the replicas, their files and their raft state. Leaders
// move to each partition's preferred leader, which the metadata spreads
// evenly. A node restarted on its data directory reopens everything from
// disk and catches up through raft.
//
// Not yet: joining an existing cluster and forwarding metadata requests to
// the leader need the client API (issue 4); until then metadata commands
// run on the metadata leader.
package server
