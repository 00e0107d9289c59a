package bench

import (
	"context"
	"errors"
	"time"
)

// Driver connects the harness to one system under test. A run creates its
// topics, producers and consumers through it and closes it at the end.
// Drivers for Sluice's native client and for NATS JetStream live in
// bench/driver/...; a Kafka-protocol driver would be one more.
type Driver interface {
	// Name is the driver's name, such as "sluice".
	Name() string
	// CreateTopic creates a topic of partitions partitions, replicated as
	// the driver's cluster allows (3 for the shipped drivers), with one
	// subscription per name in subs (created before any record is sent,
	// so each subscription sees every record).
	CreateTopic(ctx context.Context, t TopicSpec) error
	// NewProducer returns a producer that sends to topic.
	NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error)
	// NewConsumer starts consumer index (of count) of the subscription
	// sub of topic. The consumer calls h for each record it receives,
	// possibly from several goroutines at once, until Close returns.
	NewConsumer(ctx context.Context, c ConsumerSpec, h Handler) (Consumer, error)
	// DeleteTopic deletes a topic and its subscriptions.
	DeleteTopic(ctx context.Context, topic string) error
	// Close releases the driver's connections.
	Close() error
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name          string
	Partitions    int
	Subscriptions []string
	// Queue: the subscriptions are shared queues with per-record acks
	// (Workload.Mode "queue").
	Queue bool
	// Filters, when not empty, holds one filter policy per subscription
	// (Workload.SubscriptionFilters; "" delivers every record), which
	// the system under test must apply itself: a subscription is
	// expected to receive exactly the records its filter matches. A
	// driver that cannot filter refuses a spec with a non-empty filter
	// (ErrUnsupported) rather than deliver every record.
	Filters []string
}

// ProducerOptions are the workload's producer settings.
type ProducerOptions struct {
	AcksNone    bool
	BatchBytes  int
	Linger      time.Duration
	Compression string
	MaxInFlight int
}

// ConsumerSpec names one consumer of a subscription.
type ConsumerSpec struct {
	Topic        string
	Partitions   int
	Subscription string
	Index, Count int // this consumer is Index of Count sharing the subscription
	// Queue: ack each record (Workload.Mode "queue"). Every consumer
	// of a subscription starts at the topic's first record.
	Queue bool
}

// Producer sends records. Send may block while the producer's buffer is
// full; done is called once per record, from any goroutine, with nil when
// the record was acknowledged (or sent, with acks none).
type Producer interface {
	Send(ctx context.Context, key, payload []byte, done func(error))
	// Flush waits until every record sent so far has had done called.
	Flush(ctx context.Context) error
	Close() error
}

// Header is a record header (Workload.HeaderName).
type Header struct {
	Name  string
	Value []byte // shared between records: read only
}

// HeaderProducer is a Producer that can put a header on a record, which
// a run whose workload sets headerName needs (else it fails with
// ErrUnsupported). SendHeader is Send with the header h; the producer
// may keep h.Value but must not modify it.
type HeaderProducer interface {
	Producer
	SendHeader(ctx context.Context, key []byte, h Header, payload []byte, done func(error))
}

// Handler receives one record. payload is valid only during the call.
type Handler func(payload []byte)

// Consumer receives records until closed.
type Consumer interface {
	Close() error
}

// ErrUnsupported is returned by a driver for a workload setting it
// cannot run (wrapped with the setting's name).
var ErrUnsupported = errors.New("bench: not supported by this driver")

// Process is a local server process whose CPU and memory a run samples.
type Process struct {
	Name string
	PID  int
}
