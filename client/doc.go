// Package client is the Go client of Sluice: admin calls, a batching,
// key-partitioning, idempotent Producer, a Consumer of assigned
// partitions, and a GroupConsumer, a member of a consumer group. It
// speaks the gRPC API of package sluicev1, whose types it does not
// expose: callers use the Go types of this package.
//
//	c, err := client.New(ctx, client.Config{Servers: []string{"localhost:7001"}})
//	p, err := c.NewProducer(client.ProducerConfig{})
//	p.Produce(ctx, client.NewRecord("orders", key, value), func(r client.RecordResult, err error) { ... })
//	k, err := c.NewConsumer(client.ConsumerConfig{})
//	err = k.Assign(ctx, "orders", nil, client.Earliest())
//	recs, err := k.Poll(ctx)
//	g, err := c.NewGroupConsumer(ctx, client.GroupConfig{Group: "billing", Streams: []string{"orders"}, AutoCommit: true})
//	recs, err = g.Poll(ctx)
//	_, err = c.CreateQueue(ctx, client.QueueConfig{Name: "jobs", CreateStream: true, Partitions: 3})
//	_, err = c.SendMessage(ctx, "jobs", key, value, client.WithDelay(time.Minute))
//	msgs, err := c.Receive(ctx, "jobs", 10, 20*time.Second)
//	err = c.Ack(ctx, msgs...)
//
// # Routing
//
// Any node answers metadata and admin requests. Produce goes to the
// partition's leader (a follower forwards it once and names the leader in
// the reply); Fetch, Follow and ListOffsets must reach the leader. The
// Client caches each stream's partitions (leader address, MD5 hash-key
// range), records leader hints from errors and replies, and refreshes a
// stream's entry when a node is not the leader without a hint, does not
// know the partition, has no leader, or cannot be reached; everything
// cached is also refreshed every MetadataMaxAge. One gRPC connection is
// made per node address, on first use.
//
// A record's partition: explicit (Record.Partition >= 0), else by key with
// the Kinesis rule of package metadata (the key's MD5 digest as a 128-bit
// big-endian integer falls in exactly one partition's inclusive range),
// else, for a record with a nil key, a sticky partition that moves on
// (round robin) once the batch it fills has been sent.
//
// # Errors
//
// Errors from the cluster are *Error values: a Code, whether a retry may
// succeed, the leader when known, and the server's message; each matches
// its code's sentinel (ErrNotLeader, ErrUnknownStream, ...) with
// errors.Is. ErrUnreachable is wrapped when no server answers. Every
// message is one line, fit for a command-line tool.
//
// # Producer
//
// Records are batched per partition: a batch is sent when it reaches
// BatchBytes, when Linger has passed since its first record, or at once
// during Flush and Close. Records larger than the limit fail with
// ErrRecordTooLarge before anything is sent. Buffered records are bounded
// by BufferBytes; Produce blocks while the buffer is full.
//
// With idempotence (the default) the producer gets a producer id from
// InitProducer and numbers each partition's records with consecutive
// sequence numbers in the batch header. A failed attempt is retried, after
// a backoff, with the very same bytes, so the server's deduplication by
// (producer id, sequence) writes it once even when the first attempt
// landed (OUTCOME_UNKNOWN, a timeout, a lost connection).
//
// In flight and order: up to MaxInFlight (default and most 5, the server's
// deduplication window) batches per partition may be sent and not yet
// resolved. Order needs no help from the transport: the server appends a
// batch only if its sequence follows the last written one, so the log
// holds a partition's batches in the order they were produced. Attempts
// may cross on the wire (gRPC requests on one connection run
// concurrently), so OUT_OF_ORDER_SEQUENCE for a batch sent while an
// earlier one was unacknowledged means "wait for it", not failure: the
// batch is resent once each earlier batch is acknowledged or itself resent.
// A batch that fails for good leaves a hole in the sequence; the producer
// then moves the partition's later batches to a new producer id (from
// sequence 0), after the earlier ones have settled. Results are delivered
// per partition in offset order.
//
// Without idempotence a retry may write a batch twice and, with
// MaxInFlight > 1, after a later batch.
//
// A record not acknowledged within DeliveryTimeout fails with
// ErrDeliveryTimeout; it may have been written (as with any failure that
// follows OUTCOME_UNKNOWN). Cancelling Produce's ctx only stops waiting
// for buffer room: it does not undo or cancel a buffered record.
//
// # Consumer
//
// Assign starts a fetcher goroutine per partition, which resolves the
// start (Earliest, Latest, Offset, Time) with ListOffsets, then long-polls
// Fetch (or holds a Follow stream) from the leader and reads ahead by at
// most one response. Poll returns what was read, per partition in offset
// order; records below the requested offset at the start of the first
// batch are skipped, compressed batches are decompressed. On NOT_LEADER,
// a lost connection or an election the fetcher refreshes the routing and
// resumes at the offset after the last record it queued, so no record is
// skipped or repeated. An offset outside the log resets per
// ConsumerConfig.OffsetReset.
//
// # Groups
//
// NewGroupConsumer joins a consumer group, whose coordinator (any node
// forwards to it) assigns the group's partitions to its members: KIP-848
// style, the coordinator computes the assignment and a partition moves to
// a new member only after its previous owner has reported releasing it.
// Group calls are retried through elections and unreachable nodes until
// their ctx ends.
//
// One heartbeat goroutine per member long-polls GroupHeartbeat with what
// the member owns; the coordinator answers early when the member's
// assignment changes. Poll applies a change on the caller's goroutine
// before it returns records: for a revoked partition it commits the
// position (AutoCommit), calls OnRevoked, stops reading, and has the loop
// report the release at once; a new partition starts at the group's
// committed offset (FetchOffsets), or at StartAt when there is none, then
// OnAssigned runs. A member removed by the coordinator (UNKNOWN_MEMBER:
// session or rebalance timeout) or that has had no heartbeat answered
// for a session timeout has lost its partitions: Poll drops them without
// committing, calls OnLost (OnRevoked when nil), and the member joins
// again with a new member id. FENCED_INSTANCE (another member took the
// static instance id) ends the membership for good: Poll fails with
// ErrFencedInstance. A commit refused for a stale generation is sent once
// more after a heartbeat has fetched the generation.
//
// Delivery is at least once. A position is committed only for records
// Poll returned, and AutoCommit commits in Poll only what earlier Polls
// returned (the caller has come back for more), before a release, and in
// Close; records of a partition released while Poll waited are dropped.
// So the next owner of a partition starts at or before the first record
// no member has processed. Close leaves the group, except for a static
// member (InstanceID), which keeps its partitions for a restart within
// the session timeout (LeaveOnClose).
//
// Admin calls: ListGroups, DescribeGroup, FetchGroupOffsets,
// ResetGroupOffsets (refused while the group has members) and
// DeleteGroup.
//
// # Queues
//
// A queue is an SQS-style view over a stream (DESIGN.md, "Queues and
// topics"); a topic subscription is a queue over the topic's stream,
// with a filter. CreateQueue, DeleteQueue, ListQueues and DescribeQueue
// are admin calls; DescribeQueue asks each partition's leader for its
// state, since a node knows only the partitions it leads. The client
// caches the stream of each queue it uses (refreshed every
// MetadataMaxAge, and dropped on UNKNOWN_QUEUE).
//
// SendMessage and SendMessages produce records to the queue's stream
// with an idempotent Producer the Client owns (made on first use, closed
// by Close); WithDelay sets the DelayHeader header.
//
// Receive, Ack, Nack and ExtendVisibility are per partition and go to
// its leader, with the routing of Fetch (leader hints, metadata refresh
// on stale routing). Receive asks the partitions one after another
// without waiting, from a partition that rotates from call to call so
// that consumers spread; when that finds nothing it long-polls all of
// them at once, returns the first answer with messages, and nacks what
// came beyond max. Delivery is at least once: a message is delivered
// again when its lease (the visibility timeout) ends before an ack, and
// when its partition's leader changes (leases are the leader's memory;
// receipts of an earlier leader are ErrInvalidReceipt). Ack, Nack and
// ExtendVisibility group messages by queue and partition, send one
// request per group (in parallel, retried through elections), and report
// each failed message as a *MessageError.
//
// # Concurrency
//
// Client, Producer, Consumer and GroupConsumer are safe for concurrent
// use. Each owns its goroutines and its Close waits for them: the
// Client's metadata refresh and queue producer, the Producer's
// per-partition senders and their requests, the Consumer's fetchers, the
// GroupConsumer's heartbeat loop and internal Consumer. The goroutines of
// a Receive long poll, and of an Ack, Nack or ExtendVisibility, belong to
// the call, which returns after they have ended. Close producers and
// consumers before their client. Lock order: Producer.mu -> sink.mu;
// Client.meta -> Client.mu; GroupConsumer.pollMu -> the commit turn
// (commitSem) -> GroupConsumer.mu, which is held for no call into the
// Consumer or the network. The locks of the Client's queueState are
// taken alone.
package client
