// Package natsdriver is the benchmark driver for NATS JetStream, written
// with nats.go's jetstream package. `sluice bench` runs it against a
// cluster started by package localnats (or any JetStream cluster).
//
// # Mapping
//
// Each partition i of a topic T is its own stream "T-p<i>", bound to the
// single subject "T.<i>", with file storage, Options.Replicas replicas (3,
// or fewer on a smaller cluster), limits retention and no limits beyond
// the server's defaults (Options.MaxBytes caps each stream). JetStream
// then runs one raft group per partition, as Sluice does, which is the fair
// mapping: the OpenMessaging Benchmark's NATS driver puts a whole topic in
// one stream, so every partition shares one raft group and one leader.
//
// Each subscription S of a topic is a durable pull consumer named S on
// every partition stream, created by CreateTopic before any record is
// sent, delivering from the first message. In stream mode
// (TopicSpec.Queue false) it has AckPolicy none and consumer Index of
// Count reads the partitions p with p % Count == Index, so every
// subscription receives each record once. In queue mode it has
// AckPolicy explicit and every consumer of the subscription pulls from
// every partition's durable, so JetStream shares the records among them;
// the handler is called first and the record acked after it returns, so a
// record whose ack is lost is redelivered (after AckWait) and handled
// twice. Options.MaxAckPending raises JetStream's default of 1000
// unacknowledged records per durable, which would otherwise cap queue
// throughput. Consumers read with Consume (pull requests of
// Options.PullMaxMessages kept topped up in the background).
//
// Subscription filters (bench.TopicSpec.Filters) are refused with
// bench.ErrUnsupported: JetStream consumers filter by subject, and this
// driver does not encode headers or keys in subjects. The producers do
// not implement bench.HeaderProducer either, so a workload with a header
// is refused by the harness.
//
// Producers publish to "T.<i>": a record with a key goes to partition
// FNV-1a(key) mod partitions, one without a key to the next partition in
// turn. JetStream has no record key, so the key only picks the partition
// and is not sent. With acks (the default) a producer publishes
// asynchronously (PublishMsgAsync) with at most MaxInFlight records
// awaiting their acknowledgement (0: 10000); MaxInFlight 1 is a
// synchronous Publish. With acks none it uses core NATS publish, which the
// stream still stores but does not acknowledge, and done is called once
// the record is written to the connection; Flush then round-trips a PING
// so the server has read everything sent.
//
// BatchBytes and Linger are ignored: nats.go writes each publish into its
// connection buffer and a background flusher sends what has accumulated,
// so there is no producer batch to tune. Compression other than "none" is
// refused with bench.ErrUnsupported: NATS publishes are not compressed on
// the wire (JetStream's stream compression is a storage option, and
// connection compression exists only for routes, leaf nodes and
// websockets).
//
// # Connections and goroutines
//
// The driver's own connection serves stream and consumer management. Each
// producer and each consumer has its own connection, as separate client
// processes would, so one connection's read loop is not shared by all of
// them. A producer's connection goes to a random server of the cluster,
// as NATS clients usually do; JetStream forwards each publish to the
// stream leader over a route when that server does not lead the stream,
// which costs CPU and latency (on a 2-core machine a single-stream run
// measured about 25% fewer records/s through a follower than through the
// leader, so single-partition results vary from run to run).
// Options.LeaderConnections instead gives a producer one connection per
// partition leader, as Kafka-style clients (Sluice's among them) send to
// the partition leader.
//
// An acknowledged producer calls done from its connection's ack
// subscription goroutine when the acknowledgement arrives, found through
// nats.go's async ack and error handlers (WithPublishAsyncAckHandler and
// WithPublishAsyncErrHandler) and a map from message to done. That needs
// no goroutine per record or per producer, and no record waits behind an
// earlier one of a slower partition, as it would if one goroutine drained
// the PubAckFutures in order. A consumer calls the handler from one
// goroutine per partition it reads. Close on a producer or consumer
// returns once no further callback can run; Close on the driver closes
// every producer and consumer still open. All methods may be called from
// any goroutine.
//
// Lock order: Driver.mu and Driver.leaders are never held together, nor
// while a producer's or consumer's mu is held.
package natsdriver
