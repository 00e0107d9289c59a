// Package checker decides whether a chaos run's history (package
// internal/chaos/history) shows Sluice keeping its promises. Check returns
// a Report: typed violations, each naming the ops involved, and counts.
// WriteFailure writes a failed run's history, report, seed and porcupine
// visualizations for replay.
//
// # Properties
//
// The history must end with a final read of every partition (fetches
// marked Final, taken after every fault healed and every writer stopped)
// and, for consumer groups, a drain phase: most checks compare against
// these final logs. A partition without one is a MissingFinalRead.
//
//   - no-lost-writes (LostWrite): every ok produce or send is in the final
//     log at the partition and offset it was acknowledged at.
//   - no-duplicates (Duplicate): no value of an idempotent producer (ok or
//     unknown) appears twice in its stream's final logs.
//   - order (OffsetGap, Reordered): the final reads hold every offset from
//     the log start to the high watermark; every read's offsets rise by
//     one and stay below its high watermark; the records of an idempotent,
//     ordered producer for one key are in sequence order.
//   - real-reads (PhantomRead, DivergentRead): every value read by a
//     fetch, a group delivery, a queue receive or in a dead-letter stream
//     was written by a produce or send that was ok or unknown, at the
//     offset it was acknowledged at if ok (a dead-letter copy: by a send
//     to that queue, naming its source), and is the final log's value at
//     that offset.
//   - group-coverage (GroupMissed, GroupCommitMismatch): each group
//     delivered every record of the final logs of its streams (those it
//     joined with, delivered from or committed), and its final committed
//     offsets (the last group_offsets observation, else the last ok
//     commit) are the final high watermarks.
//   - queue-delivery (QueueUnacked, QueueDeliveredAfterAck): every ok send
//     was acked (an ok ack) or seen dead-lettered; no receive invoked after
//     an ack of the message returned delivered it. Redelivery is allowed
//     and counted.
//   - linearizable (NotLinearizable): for a seeded sample of partitions,
//     porcupine finds a linearization of the appends (returning their
//     offsets) and reads (returning records from an offset and the high
//     watermark) against a sequential log. Unknown appends that landed
//     may take effect any time after their invocation; those that never
//     landed are left out.
//
// # What the checker cannot see
//
//   - Only what the history records: a record no one read back and that
//     no ack names is invisible, and a lost record whose produce was
//     unknown is indistinguishable from one never written.
//   - Retention: offsets below the final log start are not checked
//     (counted as aged out), and partitions whose log does not start at 0
//     are skipped by the linearizability check.
//   - Server-side filters (filtered fetches, queue filters, cursor
//     subscriptions) and redrive (a redriven message is a new record with
//     an old value, seen as a duplicate or phantom) are outside the model.
//   - Groups are assumed to start from the log start and to drain before
//     the final observation; queue sends are checked against the queue
//     they were sent to only (not against other queues over the stream).
//   - Linearizability is sampled, bounded (Config.LinMaxOps: past it the
//     earliest ops and the appends they depend on) and time-limited (a
//     timeout is no verdict, not a pass). The model needs reads served
//     with a high watermark that is the log's length at some instant
//     within the read.
//   - Delivery after ack compares the client's clocks of one run: it
//     needs all processes on one monotonic clock (the history.Recorder's).
//
// # Concurrency
//
// Check may run concurrently with other Checks; it does not modify the
// history. Porcupine runs its search on goroutines of its own and Check
// waits for them.
package checker
