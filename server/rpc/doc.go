// Package rpc serves a node's client API: the gRPC service sluicev1.Sluice
// (metadata, admin, produce and fetch), the nodes' internal calls
// (sluicev1.SluiceInternal, on the same port), and /healthz, /readyz and
// /metrics over HTTP. It is the thin layer between the wire and
// server.Node: it validates requests, routes them, and maps the node's
// errors to the wire's codes through one table (errors.go).
//
// # Routing
//
// Any node answers GetCluster, GetMetadata, ListStreams and DescribeStream
// from its own metadata View. Partition leaders come from the node's
// raft replica for the partitions it hosts; for the others the node asks
// a node that hosts one (SluiceInternal.PartitionLeaders, one call per
// node, the preferred leader first, a second replica if that gives no
// answer) and caches the answers for two seconds (leaders.go). Leaders
// are given to clients as client addresses (metadata Node.ClientAddr).
// DescribeStream asks each partition's leader for its offsets
// (ListOffsets), within a second; -1 where it cannot.
//
// Admin calls (CreateStream, DeleteStream, AlterStream) run on the
// metadata leader. Another node forwards them there once, marked in the
// gRPC metadata so that they are never forwarded twice, and answers
// NOT_LEADER or NO_LEADER with the hint when it cannot; after a forwarded
// call succeeds it waits (up to 2 s) for its own View to show the change,
// so that the client can go on with the node it asked. Defaults:
// replication factor min(3, active nodes), retention unlimited, max
// record bytes 1 MiB.
//
// InitProducer hands out producer ids from a block of 1000 that the node
// takes from the metadata group (AllocateProducerIDs; through the leader,
// SluiceInternal.AllocateProducerIDs, when the node does not lead it).
//
// Produce is validated on the node that receives it (stream, partition,
// acks, one whole RecordBatch with a good CRC and records that decode at
// consecutive offsets, record and batch size limits: RECORD_TOO_LARGE),
// then appended on the partition's
// leader, or forwarded once to it (ProduceRequest.forwarded); the reply
// names the leader. A forward that cannot be sent is NOT_LEADER with the
// hint; one that fails after it was sent is OUTCOME_UNKNOWN.
//
// Fetch, Follow and ListOffsets are served by the partition's leader once
// it is Ready (its barrier is done); others answer NOT_LEADER with the
// hint, a leader still catching up NO_LEADER. Follow checks at least every
// 250 ms that the node still leads and ends with NOT_LEADER when not.
//
// # Bad requests
//
// Request fields are checked before a call does anything, on the node
// that takes it (before any forward): a value out of range is
// INVALID_ARGUMENT with a message that names the field and its range; so
// is a name that no stream, queue or group can have (the rules of
// packages metadata and consumergroup), while a well-formed name that
// does not exist is UNKNOWN_STREAM, UNKNOWN_QUEUE or UNKNOWN_GROUP. A
// refused request changes nothing: CreateQueue checks the queue before
// create_stream makes its stream, and a commit with a bad entry commits
// none. Waits and sizes that the proto leaves open are capped, not
// refused (Fetch's max_wait_ms at a minute and max_bytes at 16 MiB, a
// heartbeat's max_wait_ms at 30 s).
//
// # Reordered idempotent batches
//
// The Go client's idempotent producer pipelines up to 5 batches per
// partition, and gRPC may hand them to the server in another order. A
// batch whose sequence is ahead of the partition's would be refused with
// OUT_OF_ORDER_SEQUENCE and cost the client a round trip; instead the
// leader makes it wait, up to Config.ReorderWait (100 ms): first, before
// proposing, while an earlier batch of the same producer is in flight on
// this node; then, if the partition still refuses it as ahead, until the
// next write of that producer, and tries again (reorder.go). The
// partition's state machine alone decides what is in order; the wait only
// saves round trips. ACKS_NONE batches are queued per partition in
// arrival order (noack.go).
//
// # Concurrency
//
// Handlers run on gRPC's goroutines. The server's own are the accept
// loops and one ACKS_NONE worker per partition with a non-empty queue,
// started through goTracked so that Close waits for them. Close ends long
// polls and Follow streams at once (their contexts end with the server),
// then stops gRPC gracefully within ShutdownTimeout.
//
// Lock order: noAckQueue.mu -> service.mu. The others (leaderCache.mu,
// reorderTracker.mu, peers.mu, the producer-id semaphore) are leaves.
package rpc
