package bench

import (
	"errors"
	"math"
	"os"
	"time"
)

// The bounds Validate enforces. They catch typing mistakes (an extra
// zero, a negative sign) rather than limit real benchmarks.
const (
	stampSize       = 8        // bytes of send time at the start of every payload
	maxMessageSize  = 16 << 20 // 16 MiB
	maxTopics       = 1000
	maxPartitions   = 10000 // per topic
	maxClients      = 1000  // producers per topic, subscriptions per topic, consumers per subscription
	maxProducers    = 10000 // over all topics
	maxConsumers    = 10000 // over all topics and subscriptions
	maxMinutes      = 24 * 60
	maxRate         = 1e9  // records/s
	maxBacklogGB    = 1024 // GiB
	maxRecordCount  = 1e12
	maxBatchBytes   = 256 << 20
	maxLinger       = time.Minute
	maxInFlightCap  = 1 << 20
	defaultInFlight = 10000
)

// SetDefaults fills the fields left at their zero value:
//
//	topics, partitionsPerTopic, producersPerTopic,
//	subscriptionsPerTopic, consumerPerSubscription   1
//	keyDistributor                                   NO_KEY
//	acks                                             all
//	compression                                      none
//	mode                                             stream
//	maxInFlight                                      10000
//	subscriptionsPerTopic (with subscriptionFilters) the number of filters
//
// A negative value is left for Validate to reject. Name, payloadFile and
// messageSize have no default (ParseWorkload names a workload after its
// file and sizes it from its payload file).
func (w *Workload) SetDefaults() {
	if w.SubscriptionsPerTopic == 0 && len(w.SubscriptionFilters) > 0 {
		w.SubscriptionsPerTopic = len(w.SubscriptionFilters)
	}
	for _, p := range []*int{&w.Topics, &w.PartitionsPerTopic, &w.ProducersPerTopic, &w.SubscriptionsPerTopic, &w.ConsumerPerSubscription} {
		if *p == 0 {
			*p = 1
		}
	}
	if w.KeyDistributor == "" {
		w.KeyDistributor = NoKey
	}
	if w.Acks == "" {
		w.Acks = "all"
	}
	if w.Compression == "" {
		w.Compression = "none"
	}
	if w.Mode == "" {
		w.Mode = "stream"
	}
	if w.MaxInFlight == 0 {
		w.MaxInFlight = defaultInFlight
	}
}

// Validate checks every field's range (after SetDefaults) and returns a
// *WorkloadError naming the first field out of range. With a
// payloadFile, the file must exist and hold 8 bytes to 16 MiB, and
// messageSize is not checked (the file's size is the message size).
func (w *Workload) Validate() error {
	// Every check runs (they are cheap); the first failure is returned.
	for _, err := range []*WorkloadError{
		intRange("topics", w.Topics, 1, maxTopics),
		intRange("partitionsPerTopic", w.PartitionsPerTopic, 1, maxPartitions),
		intRange("producersPerTopic", w.ProducersPerTopic, 1, maxClients),
		intRange("subscriptionsPerTopic", w.SubscriptionsPerTopic, 1, maxClients),
		intRange("consumerPerSubscription", w.ConsumerPerSubscription, 1, maxClients),
		w.checkTotals(),
		w.checkPayload(),
		oneOf("keyDistributor", string(w.KeyDistributor), string(NoKey), string(RandomNano), string(KeyRoundRobin)),
		floatRange("producerRate", w.ProducerRate, 0, maxRate),
		floatRange("consumerBacklogSizeGB", w.ConsumerBacklogSizeGB, 0, maxBacklogGB),
		floatRange("testDurationMinutes", w.TestDurationMinutes, 0, maxMinutes),
		floatRange("warmupDurationMinutes", w.WarmupDurationMinutes, 0, maxMinutes),
		floatRange("recordCount", float64(w.RecordCount), 0, maxRecordCount),
		w.checkLength(),
		oneOf("acks", w.Acks, "all", "none"),
		intRange("batchBytes", w.BatchBytes, 0, maxBatchBytes),
		w.checkLinger(),
		oneOf("compression", w.Compression, "none", "gzip", "snappy", "lz4", "zstd"),
		intRange("maxInFlight", w.MaxInFlight, 1, maxInFlightCap),
		oneOf("mode", w.Mode, "stream", "queue"),
		w.checkMaxBacklog(),
		w.checkHeader(),
		w.checkFilters(),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkMaxBacklog bounds maxBacklog, which needs consumers from the
// start.
func (w *Workload) checkMaxBacklog() *WorkloadError {
	if err := floatRange("maxBacklog", float64(w.MaxBacklog), 0, maxRecordCount); err != nil {
		return err
	}
	if w.MaxBacklog > 0 && w.ConsumerBacklogSizeGB > 0 {
		return fieldErrorf("maxBacklog", "cannot be used with consumerBacklogSizeGB (consumers start only once that backlog is built)")
	}
	return nil
}

// checkLength checks that the measured phase has an end.
func (w *Workload) checkLength() *WorkloadError {
	if w.TestDurationMinutes <= 0 && w.RecordCount <= 0 {
		return fieldErrorf("testDurationMinutes", "must be > 0 (or recordCount > 0), got %v", w.TestDurationMinutes)
	}
	return nil
}

// checkLinger bounds linger.
func (w *Workload) checkLinger() *WorkloadError {
	if w.Linger < 0 || time.Duration(w.Linger) > maxLinger {
		return fieldErrorf("linger", "must be between 0s and %v, got %v", maxLinger, time.Duration(w.Linger))
	}
	return nil
}

// checkTotals bounds the number of producers and consumers over all
// topics, each of which is a goroutine and a connection.
func (w *Workload) checkTotals() *WorkloadError {
	if n := w.Topics * w.ProducersPerTopic; n > maxProducers {
		return fieldErrorf("producersPerTopic", "topics × producersPerTopic must be <= %d, got %d", maxProducers, n)
	}
	if n := w.Topics * w.SubscriptionsPerTopic * w.ConsumerPerSubscription; n > maxConsumers {
		return fieldErrorf("consumerPerSubscription", "topics × subscriptionsPerTopic × consumerPerSubscription must be <= %d, got %d", maxConsumers, n)
	}
	return nil
}

// checkPayload checks payloadFile, or else messageSize.
func (w *Workload) checkPayload() *WorkloadError {
	if w.PayloadFile == "" {
		return intRange("messageSize", w.MessageSize, stampSize, maxMessageSize)
	}
	fi, err := os.Stat(w.PayloadFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &WorkloadError{Field: "payloadFile", Msg: "no such file: " + w.PayloadFile, Err: err}
	case err != nil:
		return &WorkloadError{Field: "payloadFile", Msg: err.Error(), Err: err}
	case !fi.Mode().IsRegular():
		return fieldErrorf("payloadFile", "%s is not a regular file", w.PayloadFile)
	case fi.Size() < stampSize || fi.Size() > maxMessageSize:
		return fieldErrorf("payloadFile", "%s must hold %d to %d bytes, has %d", w.PayloadFile, stampSize, maxMessageSize, fi.Size())
	}
	return nil
}

// intRange checks lo <= v <= hi.
func intRange(field string, v, lo, hi int) *WorkloadError {
	if v < lo {
		return fieldErrorf(field, "must be >= %d, got %d", lo, v)
	}
	if v > hi {
		return fieldErrorf(field, "must be <= %d, got %d", hi, v)
	}
	return nil
}

// floatRange checks lo <= v <= hi, and that v is a number.
func floatRange(field string, v, lo, hi float64) *WorkloadError {
	switch {
	case math.IsNaN(v):
		return fieldErrorf(field, "must be a number, got NaN")
	case v < lo:
		return fieldErrorf(field, "must be >= %v, got %v", lo, v)
	case v > hi:
		return fieldErrorf(field, "must be <= %v, got %v", hi, v)
	}
	return nil
}

// oneOf checks that v is one of allowed.
func oneOf(field, v string, allowed ...string) *WorkloadError {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fieldErrorf(field, "must be one of %v, got %q", allowed, v)
}
