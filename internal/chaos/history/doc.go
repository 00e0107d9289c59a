// Package history is the record of a chaos run: every operation the
// clients ran against a Sluice cluster, with its inputs, its outcome and
// its results, and the faults the nemesis injected, on one clock. The
// checker (internal/chaos/checker) reads it to decide whether the cluster
// kept its promises.
//
// # Operations
//
// An Op is one client call: a produce, a fetch of a partition range, a
// record a consumer group delivered, a group commit, a queue send,
// receive or ack, a message seen in a dead-letter stream; the creation of
// a stream or queue or a member joining a group (which tell the checker
// the topology); or a fault (kill, stop, cont, restart, partition, heal).
// Its Outcome is OK (it took effect; its results are recorded), Failed (it
// certainly did not) or Unknown (the client cannot tell: a timeout, a
// connection lost mid-call). Invoke and Complete are monotonic nanoseconds
// since the run began.
//
// Values name their writer: every produce or send carries a value no
// other one carries (NewValue: producer and sequence), so a value read
// back names the op that wrote it.
//
// # Format
//
// A history is JSON lines, one Op per line, in any order (a Recorder
// numbers them in the order they are appended, normally as they
// complete). Records read back are [offset, "value"] pairs. For example:
//
//	{"id":0,"process":0,"kind":"create_stream","outcome":"ok","invoke":10,"complete":90,"stream":{"name":"s","partitions":2}}
//	{"id":1,"process":3,"kind":"produce","outcome":"ok","invoke":100,"complete":250,"produce":{"stream":"s","partition":-1,"key":"k7","value":"p3-17","producer":"p3","seq":17,"idempotent":true,"ordered":true,"result":{"partition":1,"offset":0}}}
//	{"id":2,"process":-1,"kind":"fault","outcome":"ok","invoke":260,"complete":300,"fault":{"action":"kill","nodes":["n2"]}}
//	{"id":3,"process":4,"kind":"fetch","outcome":"ok","invoke":900,"complete":950,"fetch":{"stream":"s","partition":1,"from":0,"final":true,"result":{"log_start":0,"high_watermark":1,"records":[[0,"p3-17"]]}}}
//
// The Reader is strict: an unknown field (names match exactly), a value of
// the wrong type, or an op that breaks the rules of Op.Validate is a
// *DecodeError naming the line; it never panics. The field names and kind
// names are the format: never change them.
//
// # Concurrency
//
// A Recorder is safe for concurrent use; Reader and Writer are not. The
// package starts no goroutines.
package history
