package bench

import "time"

// Workload is one benchmark workload, read from YAML. The field names
// are those of the OpenMessaging Benchmark's workload files, so a file
// written for it reads here; the fields after RecordCount are Sluice's
// own. See bench/README.md for each field's meaning and default.
type Workload struct {
	Name string `yaml:"name" json:"name"`

	// OpenMessaging Benchmark fields.
	Topics                  int            `yaml:"topics" json:"topics"`
	PartitionsPerTopic      int            `yaml:"partitionsPerTopic" json:"partitionsPerTopic"`
	MessageSize             int            `yaml:"messageSize" json:"messageSize"`
	PayloadFile             string         `yaml:"payloadFile" json:"payloadFile,omitempty"`
	KeyDistributor          KeyDistributor `yaml:"keyDistributor" json:"keyDistributor"`
	ProducersPerTopic       int            `yaml:"producersPerTopic" json:"producersPerTopic"`
	ProducerRate            float64        `yaml:"producerRate" json:"producerRate"` // records/s over all producers; 0 = as fast as possible
	ConsumerPerSubscription int            `yaml:"consumerPerSubscription" json:"consumerPerSubscription"`
	SubscriptionsPerTopic   int            `yaml:"subscriptionsPerTopic" json:"subscriptionsPerTopic"`
	ConsumerBacklogSizeGB   float64        `yaml:"consumerBacklogSizeGB" json:"consumerBacklogSizeGB"`
	TestDurationMinutes     float64        `yaml:"testDurationMinutes" json:"testDurationMinutes"`
	WarmupDurationMinutes   float64        `yaml:"warmupDurationMinutes" json:"warmupDurationMinutes"`

	// Sluice's own fields.

	// RecordCount, when > 0, ends the measured phase after this many
	// records were sent (over all producers) instead of after
	// TestDurationMinutes.
	RecordCount int64 `yaml:"recordCount" json:"recordCount,omitempty"`
	// Acks is "all" (default: acknowledged once replicated to a quorum
	// and synced) or "none" (fire and forget; no publish latency).
	Acks string `yaml:"acks" json:"acks"`
	// BatchBytes and Linger tune the producer's batching (0: the
	// driver's default).
	BatchBytes int      `yaml:"batchBytes" json:"batchBytes,omitempty"`
	Linger     Duration `yaml:"linger" json:"linger,omitempty"`
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression" json:"compression"`
	// MaxInFlight bounds each producer's records sent and not yet
	// acknowledged (0: 10000). 1 is synchronous publishing.
	MaxInFlight int `yaml:"maxInFlight" json:"maxInFlight,omitempty"`
	// Mode is "stream" (default: each subscription reads every record
	// in order, no per-record ack) or "queue" (each subscription is a
	// shared queue: every record is received and acked once).
	Mode string `yaml:"mode" json:"mode"`
	// MaxBacklog, when > 0, holds producers back while a subscription of
	// their topic lags by this many records or more (records
	// acknowledged that it takes and has not received, plus those sent
	// and not yet acknowledged). Unpaced, the run then measures the rate
	// at which records are sent and received together (a queue's send +
	// receive + ack) instead of producers outrunning consumers. Not with
	// consumerBacklogSizeGB.
	MaxBacklog int64 `yaml:"maxBacklog" json:"maxBacklog,omitempty"`
	// HeaderName and HeaderValues put a header on every record: named
	// HeaderName, its value cycling over HeaderValues record after
	// record (each producer starting at its own index in the list).
	// Subscription filters select on it. Both set, or neither.
	HeaderName   string   `yaml:"headerName,omitempty" json:"headerName,omitempty"`
	HeaderValues []string `yaml:"headerValues,omitempty" json:"headerValues,omitempty"`
	// SubscriptionFilters holds one filter policy per subscription, in
	// order: SNS-style JSON over the record's key and headers, evaluated
	// by the system under test, in the syntax of Sluice's filters
	// (consumergroup.Filter: {"headers.kind": ["a", "b"]}, {"key":
	// [{"prefix": "eu-"}]}, {"headers.n": [{"numeric": [">=", 10]}]}).
	// "" (or {}) delivers every record. A subscription is expected to
	// receive exactly the records its filter matches. When set, its
	// length is the number of subscriptions (subscriptionsPerTopic
	// defaults to it and must equal it). In YAML a filter is a string of
	// JSON or a YAML mapping (see FilterList).
	SubscriptionFilters FilterList `yaml:"subscriptionFilters,omitempty" json:"subscriptionFilters,omitempty"`
}

// KeyDistributor chooses each record's key, as in the OpenMessaging
// Benchmark.
type KeyDistributor string

// The key distributors.
const (
	NoKey         KeyDistributor = "NO_KEY"          // no key: the driver spreads records over partitions
	RandomNano    KeyDistributor = "RANDOM_NANO"     // a random key per record
	KeyRoundRobin KeyDistributor = "KEY_ROUND_ROBIN" // keys from a fixed set, in turn
)

// Duration is a time.Duration written in YAML and JSON as a Go duration
// string ("5ms").
type Duration time.Duration
