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
