// Package metadata is the cluster's metadata state machine: the node
// registry, the streams with their partitions (hash-key ranges and replica
// sets), producer-id allocation, the consumer groups' state, and the
// queue definitions. The
// cluster's metadata raft group runs it on every voter (package
// replication drives it through FSM's Apply, Snapshot and Restore); the
// server proposes the commands that the Encode functions build, and
// answers metadata requests from View.
//
// # State
//
//   - Nodes: id, raft and client address, state (joining -> active ->
//     removed, never back), and the leader time of the first registration.
//     Removed nodes stay, so that ids are never reused.
//   - Streams: name, a unique id that is never reused, replication factor,
//     retention (age, bytes), max record bytes, creation time, and the
//     partitions. A partition's raft group id is PartitionID(stream id,
//     number), "s<stream id>-p<number>": unique across streams and across a
//     stream deleted and created again under the same name (its old groups
//     may not be torn down yet). Each partition owns a contiguous range of
//     the 128-bit MD5 hash-key space (see hashkey.go) and has an ordered
//     replica set whose first node is the preferred leader, and an epoch
//     that counts the reassignments of that set (0: the set CreateStream
//     assigned, which its nodes bootstrap the partition's group with).
//   - The next producer id: AllocateProducerIDs hands out blocks from a
//     counter that only grows, so no two blocks overlap.
//   - Consumer groups, by name: each a consumergroup.GroupState (generation,
//     members, target assignment) that the group coordinator, which runs on
//     the metadata leader, writes with PutGroup at every change, so that a
//     coordinator on another node carries on with it after a failover.
//     Each life of a group has an incarnation that is never reused (a
//     counter that only grows, from 1), and a version, the raft index of
//     its last change, that a PutGroup update must name (optimistic
//     concurrency).
//   - Queues, by name (the rules of stream names, in a namespace of their
//     own): SQS-style queues and SNS-style topic subscriptions, each a
//     view over a stream with delivery settings (visibility timeout, max
//     receives, dead-letter stream, delay, FIFO, a consumergroup filter in
//     its canonical text). Only the definitions live here; the
//     per-message state lives in the stream's partitions. Each life of a
//     queue has an incarnation that is never reused (a counter that only
//     grows, from 1), so that the partitions tell a queue created again
//     under a deleted one's name from the old one.
//
// # Invariants
//
//  1. Apply is deterministic: the same entries give byte-identical state
//     (and snapshots) on every replica. It reads no clock (timestamps come
//     in the commands from the leader), uses no randomness, and visits maps
//     only through sorted keys.
//  2. A command Apply refuses (a *ValidationError, ErrStreamExists,
//     ErrStreamNotFound, ErrNotEnoughNodes, ErrNodeNotFound,
//     ErrNodeRemoved, ErrProducerIDsExhausted, ErrNodeNotActive,
//     ErrPartitionNotFound, ErrReplicasChanged, ErrGroupExists,
//     ErrUnknownGroup, a *GroupVersionConflictError, ErrQueueExists,
//     ErrQueueNotFound, a *StreamInUseError) is refused the same way on
//     every replica and changes nothing. (The same way: the same error;
//     the text of a filter's *ValidationError may name another of its
//     bad fields on another replica, as ParseFilter reports the first it
//     meets in a map.) A command that does not decode is fatal
//     (replication.Fatal): the replica stops rather than skip it.
//  3. A stream's partitions' hash-key ranges are contiguous, in partition
//     order, and cover [0, 2^128) with no gap or overlap.
//  4. A replica set holds distinct registered nodes: ReplicationFactor of
//     them at epoch 0, all active when the stream was created
//     (CreateStream balances replicas and preferred leaders over the
//     active nodes, see assign.go); 1..MaxReplicationFactor after a
//     ReassignPartition, all active when it was applied. Each
//     ReassignPartition that changes a set adds 1 to its epoch.
//  5. Producer-id blocks never overlap: the counter only grows.
//  6. Bad bytes (a command, a snapshot) never panic: they are ErrCorrupt,
//     and every length is bounded by the bytes left before allocating.
//  7. A consumer group's state validated when it was applied
//     (GroupState.Validate; a snapshot's states are checked for framing
//     only, so limits may tighten later); its
//     incarnation is below the counter and no other group has it; its
//     version is at most the View's; its generation never goes down while
//     the incarnation lasts.
//  8. A queue's stream exists, and its dead-letter stream is "" or
//     another stream that exists: DeleteStream refuses a stream that a
//     queue names. Its settings are in range; its incarnation is below the
//     counter and no other queue has it; Stream, FIFO, Subscription,
//     Incarnation and CreatedAt never change while it lasts. Its filter is
//     "" or a canonical text that ParseFilter parses back to itself, as
//     of when it was applied (a snapshot's filters are checked for
//     framing only, so the filter grammar may tighten later).
//
// # Concurrency
//
// Apply, Snapshot and Restore are called from one goroutine at a time.
// Readers on any goroutine call FSM.View, an atomic load of an immutable
// View: readers never block Apply nor see a half-applied command. Each
// change publishes a new View that shares the unchanged parts with the
// previous one (path copying; the state is small). Everything reached from
// a View is shared and must not be modified (a consumer group's state is
// changed on a GroupState.Clone). The package starts no goroutines.
//
// # Durability
//
// The state lives in memory and in raft snapshots. The replication group
// runs raft with NoSnapshotRestoreOnStart; FSM implements AppliedIndex, so
// on start the group restores the newest local snapshot into it and raft
// replays the entries after it. Entries at or below the applied index are
// skipped, so a replay is harmless.
//
// # Formats
//
// Both are on-disk formats (commands live in raft logs, snapshots in raft
// snapshot stores) and never change: a new layout takes a new version
// byte. Integers are big-endian; str is a u16 byte length and the bytes.
//
// Command (codec.go):
//
//	0  1  version = 1
//	1  1  type
//	2  …  body, by type:
//	  1 register node:   id str, raft addr str, client addr str, state u8,
//	                     timestamp i64
//	  2 remove node:     id str
//	  3 create stream:   name str, partitions u32, replication factor u8,
//	                     retention ms i64, retention bytes i64,
//	                     max record bytes i32, timestamp i64
//	  4 delete stream:   name str
//	  5 alter stream:    name str, retention ms i64, retention bytes i64,
//	                     max record bytes i32 (0 = unchanged)
//	  6 allocate producer ids: count i64
//	  7 reassign partition: partition id str, epoch u32, replica count u8,
//	                     then that many node ids (str), leader first
//	  8 put group:       expect version u64, timestamp i64, group state
//	  9 delete group:    name str, incarnation u64 (0 = any)
//	 10 create queue:    name str, stream str, visibility timeout ms i64,
//	                     max receives i32, dead-letter stream str
//	                     ("" = none), delay ms i64, queue flags u8,
//	                     filter str ("" = all), timestamp i64
//	 11 alter queue:     name str, changes u8, then the fields whose bit
//	                     is set, in bit order: 0 visibility timeout ms
//	                     i64, 1 max receives i32, 2 dead-letter stream
//	                     str, 3 delay ms i64, 4 filter str
//	 12 delete queue:    name str, incarnation u64 (0 = any)
//
// Queue flags: bit 0 FIFO, bit 1 subscription. A flag or change bit not
// listed does not decode.
//
// A group state is consumergroup's encoding (GroupState.AppendBinary,
// consumergroup.DecodeGroupState): it has its own version byte, and its
// str is a u32 length and the bytes.
//
// A command is exactly its fields: trailing bytes do not decode. Decoding
// checks only the framing (DecodeGroupState too; unknown flag and change
// bits are framing, as they would not encode back), so that tightening a
// limit later never makes a stored entry unreadable. Apply validates the
// values and answers a bad one with a *ValidationError on every replica
// alike. Node states are 1 joining,
// 2 active, 3 removed. Timestamps are the leader's Unix ms.
//
// Snapshot (snapshot.go), the whole state, encoded deterministically:
//
//	magic "SLMD", version u8 = 4
//	applied index u64, state version u64 (raft index of the last change),
//	next producer id i64, next stream id u64
//	node count u32, then per node, sorted by id:
//	  id str, raft addr str, client addr str, state u8, registered at i64
//	stream count u32, then per stream, sorted by name:
//	  id u64, name str, replication factor u8, retention ms i64,
//	  retention bytes i64, max record bytes i32, created at i64,
//	  partition count u32, then per partition, in order:
//	    hash key start [16]u8, hash key end [16]u8 (big-endian, inclusive),
//	    epoch u32, replica count u8, then that many node ids (str), leader
//	    first
//	next group incarnation u64
//	group count u32, then per group, sorted by name: group state
//	next queue incarnation u64
//	queue count u32, then per queue, sorted by name:
//	  name str, stream str, dead-letter stream str, visibility timeout ms
//	  i64, max receives i32, delay ms i64, queue flags u8, filter str,
//	  incarnation u64, created at i64
//	CRC-32C (Castagnoli) u32 of every byte before it
//
// Version 3 is version 4 without the next queue incarnation and the
// queues (no queues; the counter starts at 1). Version 2 is version 3
// without the next group incarnation and the groups (no groups; the
// counter starts at 1). Version 1 is version 2 without the partition
// epoch (every epoch 0). All are still read, and never written.
//
// Partition ids and numbers are not stored: they follow from the stream id
// and the position. Restore checks every invariant above (sorted, valid
// and unique names and ids, known states, limits in range, hash-key ranges
// contiguous over the whole space, replica sets of distinct registered
// nodes, replication factor many at epoch 0 and 1..MaxReplicationFactor
// otherwise, version <= applied index; groups sorted by unique name, each
// framed (its state is not validated again, see invariant 7), with a
// unique incarnation in 1..next-1, a version in 1..the state version, and
// timestamps not negative; queues sorted by unique valid name, their
// streams and dead-letter streams existing and distinct, settings in
// range, known flags, a unique incarnation in 1..next-1, and created at
// not negative; a filter only framed) and refuses anything else as
// ErrCorrupt; every count is bounded by the bytes left before anything is
// allocated.
package metadata
