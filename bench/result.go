package bench

import "time"

// ResultVersion is the version of the Result JSON layout.
const ResultVersion = 1

// Result is what one run measured; `sluice bench run` writes it as JSON
// and `sluice bench report` reads it. Latencies are in milliseconds.
type Result struct {
	Version  int      `json:"version"`
	Label    string   `json:"label"`  // what was measured, as shown in reports: "sluice", "nats-jetstream (sync always)"
	Driver   string   `json:"driver"` // the driver's name
	Target   string   `json:"target"` // the servers the driver connected to
	Workload Workload `json:"workload"`

	Started time.Time `json:"started"`
	// Seconds is the length of the measured phase (after warm-up).
	Seconds float64 `json:"seconds"`

	// Totals over the measured phase.
	Sent          int64 `json:"sent"`   // records handed to producers
	Acked         int64 `json:"acked"`  // records acknowledged
	Failed        int64 `json:"failed"` // records whose send failed
	SentBytes     int64 `json:"sentBytes"`
	Received      int64 `json:"received"` // records received, over all subscriptions
	ReceivedBytes int64 `json:"receivedBytes"`
	// Unreceived counts records acknowledged in the measured phase that
	// a subscription had not received when the run ended (consumer lag
	// at the end, summed over subscriptions). They are counted in
	// EndToEnd at the time the run gave up waiting for them.
	Unreceived int64 `json:"unreceived"`
	// Misdelivered counts records of the measured phase that a
	// subscription received although its filter excludes them
	// (Workload.SubscriptionFilters; checked by the header value, so not
	// for filters that read the key). They are not counted in Received.
	Misdelivered int64 `json:"misdelivered,omitempty"`

	PublishRate   float64 `json:"publishRate"` // acknowledged records/s
	PublishMBps   float64 `json:"publishMBps"`
	ConsumeRate   float64 `json:"consumeRate"` // received records/s, over all subscriptions
	ConsumeMBps   float64 `json:"consumeMBps"`
	BacklogDrainS float64 `json:"backlogDrainSeconds,omitempty"`

	Publish  Latency `json:"publishLatency"`
	EndToEnd Latency `json:"endToEndLatency"`

	Windows   []Window       `json:"windows"`
	Processes []ProcessStats `json:"processes,omitempty"`
	Errors    []string       `json:"errors,omitempty"` // the first few distinct errors
}

// Latency summarises one HDR histogram, measured from each record's
// intended send time (so a stall is charged to every record it delayed).
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P75   float64 `json:"p75"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
	// Curve is the percentile distribution (percentile, ms), for charts.
	Curve []Percentile `json:"curve,omitempty"`
}

// Percentile is one point of a latency curve.
type Percentile struct {
	Percentile float64 `json:"p"`
	Ms         float64 `json:"ms"`
}

// Window is one second of the run (Second counts from the start of the
// measured phase; warm-up windows have negative Second and are left out
// of the totals).
type Window struct {
	Second        int     `json:"second"`
	Acked         int64   `json:"acked"`
	AckedBytes    int64   `json:"ackedBytes"`
	Received      int64   `json:"received"`
	ReceivedBytes int64   `json:"receivedBytes"`
	Failed        int64   `json:"failed,omitempty"`
	PublishP99    float64 `json:"publishP99"`
	EndToEndP99   float64 `json:"endToEndP99"`
}

// ProcessStats is the resource use of one local server process over the
// measured phase.
type ProcessStats struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUPercent float64 `json:"cpuPercent"` // of one core, averaged
	MaxRSS     int64   `json:"maxRSSBytes"`
}
