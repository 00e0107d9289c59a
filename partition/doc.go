// Package partition is one replica of one partition: a log (package log),
// the state machine that the partition's raft group drives (package
// replication), and the produce and fetch paths.
//
// Produce validates a RecordBatch, proposes it through the group and
// returns its offsets once it is committed and applied. Apply (one
// goroutine, raft's) deduplicates idempotent producers by (producer id,
// epoch, sequence), stamps the raft term as the batch's leader epoch,
// appends it (the log assigns the offsets) and moves the high watermark.
// Fetch reads committed batches and long-polls at the high watermark.
//
// Durability: the raft log is the write-ahead log; the segments are its
// materialised state. Every CheckpointEvery commands or CheckpointBytes
// bytes, whichever comes first, the log is fsynced and the matching state
// (applied index, log end, producer table, committed offsets, queue
// states) is written to Pebble. After a crash Open cuts the log back to
// the checkpoint and raft replays the commands after it, which Apply skips
// up to the applied index. Snapshots stream the producer table, the
// committed offsets, the queue states and the segment bytes to replicas
// that are far behind or new.
//
// Committed offsets: consumer groups commit their position in the
// partition through its raft group (CommitOffset, DeleteGroupOffsets), so
// the offsets fail over with the data, as in Kafka. Apply keeps one entry
// per group and decides every commit from replicated state only: a commit
// from an older (incarnation, generation) than the stored entry's is
// refused (ErrStaleGeneration), as is one past the log end
// (ErrOffsetBeyondLogEnd) or with fields out of range
// (ErrInvalidOffsetCommit); a newer incarnation (the group deleted and
// created again) replaces the entry. Refusals change nothing and never stop
// the partition. The table is in every checkpoint and snapshot, so a
// restart and a snapshot install restore it. CommittedOffset and
// CommittedOffsets read it from any goroutine under a read lock that
// Produce and Fetch never take.
//
// Queue state: a queue (an SQS-style view over the stream) keeps, per
// partition, a consumergroup.AckState: a floor below which every offset
// is done, the done ranges above it and the receive counts of pending
// offsets. UpdateQueue replicates init, receive, ack and ack-range ops
// (concurrent calls for one queue share raft entries), DeleteQueue drops
// a queue. Apply decides each op alone from the state and the log end
// (ErrUnknownQueue, ErrQueueOffsetOutOfRange, ErrQueueTableFull refuse an
// op and change nothing; acks are idempotent), and keeps every state
// within consumergroup.MaxAckWindow above its floor, so its size follows
// the messages in flight, not those ever sent. When retention moves the
// log start, every queue's offsets below it become done: the messages are
// gone. The states are in every checkpoint and snapshot; QueueState and
// Queues read them from any goroutine under a read lock. Leases
// (visibility timeouts) are the leader's memory, not replicated.
//
// Lock order: logMu, then the offset table's lock or the queue table's
// lock (never both).
//
// See DESIGN.md, "Partition state machine", for the decisions.
package partition
