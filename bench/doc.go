// Package bench is the benchmark harness behind `sluice bench`: workloads,
// drivers, latency histograms and reports, in the manner of the
// OpenMessaging Benchmark (OMB).
//
// Micro-benchmarks of the storage engine live beside the code they
// measure (go test -bench in segment/, log/ and batch/).
//
// # Workloads
//
// A Workload is read from YAML by LoadWorkload or ParseWorkload. An OMB
// workload file reads as is; unknown fields are an error, every error is
// a *WorkloadError naming the field, and Workload.SetDefaults documents
// the defaults. The shipped workloads are in bench/workloads.
//
// # Measurement
//
// Run drives one workload through a Driver. Each producer has its own
// goroutine and a pacer: at producerRate r (split evenly over all
// producers), record i of a producer is due at t0 + i/r. The due time,
// not the time Send was called, is what latency is measured from, so a
// stall of the system under test is charged to every record it delayed
// rather than hidden by the producer's waiting for it (no coordinated
// omission). A producer that falls behind sends at once to catch up. A
// record due less than a millisecond from now is sent at once and stamped
// with the (earlier) time it is sent, because sleeping that little
// oversleeps and the oversleep would be charged to the system. At rate
// 0 producers are unpaced: a record's time is taken just before Send,
// after any wait for an in-flight slot (that wait is back-pressure, not
// delay). Each producer keeps at most maxInFlight records sent and not
// yet acknowledged (and at most 64 MiB of them).
//
// The record's time, in unix nanoseconds, big-endian, is written into
// the first 8 bytes of a per-record copy of the payload. Two latencies
// are recorded, in HDR histograms of microseconds (1 µs to 1 h, 3
// significant digits):
//
//   - publish: acknowledgement time minus the record's time (none with
//     acks none);
//   - end to end: receive time minus the record's time, per subscription
//     (a record read by four subscriptions is four samples).
//
// The time a record carries also tells which phase it belongs to: only
// records due in the measured phase count in the totals and histograms
// of the Result, whenever they are acknowledged or received.
//
// # Phases and windows
//
// Time is cut into one-second windows counted from when producers start.
// Each Window holds what happened during it (acks, bytes, receipts,
// failures, and the p99 of each latency), whatever phase the records
// came from. Window.Second counts from the start of the measured phase:
// windows before it (warm-up, backlog) are negative, and those from
// Result.Seconds on are the drain. The phases are:
//
//  1. backlog (only with consumerBacklogSizeGB > 0): producers run with
//     no consumers until that many bytes (GiB, 2^30) are acknowledged
//     (or acknowledged bytes stop growing for DrainTimeout); then the
//     consumers start while producers keep producing at producerRate.
//     Result.BacklogDrainS is the time from starting the consumers until
//     every subscription's lag (records acknowledged on its topic minus
//     records it received) is at most the records acknowledged on its
//     topic in the last complete window — within a second of production.
//     The wait is bounded by the larger of DrainTimeout and the test
//     duration; then a note is added and the run goes on.
//  2. warm-up: warmupDurationMinutes, rounded up to whole windows.
//     Records due in it are sent and received but not counted, except in
//     the (negative) windows.
//  3. measure: testDurationMinutes, or until recordCount records were
//     sent (whichever comes first when both are set). It starts on a
//     window boundary; Result.Seconds is its length.
//  4. drain: producers stop; the run waits up to DrainTimeout for them
//     to return from Send, up to DrainTimeout for their Flush, and up to
//     DrainTimeout for every subscription to receive every record
//     acknowledged in the measured phase. Records received meanwhile
//     count with their real latency. A record of the measured phase
//     neither acknowledged nor failed by then counts as failed.
//
// # Stalled consumers
//
// A consumer that stalls must not make its records vanish from the
// results. Records acknowledged in the measured phase that a
// subscription still has not received when the drain gives up are
// counted in Result.Unreceived (summed over subscriptions) and recorded
// in the end-to-end histogram with the latency they had at least
// reached: the give-up time minus the end of the measured phase (every
// such record was due before that end). Counts are of records, not
// identities: a redelivered record counts again.
//
// # Backlog limit
//
// With maxBacklog, producers wait before each record while a
// subscription of their topic lags by that many records (see
// backlogGate): the run's goroutine recomputes each topic's room at every
// turn of its wait loop, at least every 10 ms, and producers take room
// one record at a time. Unpaced, the run then measures the rate at which
// records are sent and received together, and end-to-end latency is
// mostly the time a record waits in that backlog (backlog / rate, by
// Little's law). The wait is back-pressure, not charged to publish
// latency (it comes before the record's time is taken); paced, a record
// that waits is late and the wait is charged. If no subscription
// receives anything for DrainTimeout while producers wait, the limit is
// dropped for the rest of the run, with a note.
//
// # Headers and filtered subscriptions
//
// With headerName, every record carries that header, its value cycling
// over headerValues (producer i starting at value i), and the index of
// its value is written after the send time in payloads of 12 bytes or
// more. With subscriptionFilters, the driver is given one filter per
// subscription, which the system under test must apply; the harness
// evaluates the same filters (package consumergroup's Filter, the syntax
// Sluice's server uses) on each acknowledged record's key and header, so
// each subscription is expected to receive exactly the records its
// filter matches: the lag, unreceived count and drain wait are per
// subscription against that. A record a subscription receives although
// its filter excludes it (told by the value index in the payload; not
// checkable for filters that read the key) is counted in
// Result.Misdelivered, noted, and not counted as received. A
// subscription whose filter matched none of the measured phase's
// records is noted, as a likely mistake in the workload.
//
// # Concurrency
//
// Run's goroutine owns the phases, the windows, the totals and the
// Progress calls. Producer goroutines and the drivers' callback
// goroutines record into a recorder striped into a few shards, each
// behind its own mutex (a client always uses the same shard); once per
// window Run's goroutine moves each shard's histograms into the window
// and the totals. Counters are typed atomics per producer and per
// consumer. No lock is held while another is taken. Run waits for every
// goroutine it starts; cancelling its context stops the run promptly and
// returns the partial Result with the context's error.
package bench
