package partition

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidBatch reports a produce whose bytes are not one valid
	// RecordBatch v2 within the limits. Nothing was written.
	ErrInvalidBatch = errors.New("partition: invalid batch")

	// ErrOutOfOrderSequence reports an idempotent batch whose sequence is
	// not the next one the partition expects from its producer (Kafka
	// OUT_OF_ORDER_SEQUENCE_NUMBER). Nothing was written.
	ErrOutOfOrderSequence = errors.New("partition: out of order sequence")

	// ErrProducerFenced reports an idempotent batch from an epoch older than
	// the producer's current one (Kafka INVALID_PRODUCER_EPOCH). Nothing
	// was written.
	ErrProducerFenced = errors.New("partition: producer fenced")

	// ErrCorrupt reports partition state that does not decode (a
	// command, a checkpoint, a snapshot) or disagrees with the log.
	ErrCorrupt = errors.New("partition: corrupt")

	// ErrClosed reports use of a closed replica.
	ErrClosed = errors.New("partition: closed")

	// ErrNoProposer reports a Produce on a replica that has no replication
	// group attached yet.
	ErrNoProposer = errors.New("partition: no replication group attached")

	// ErrSnapshotNotFound reports a SnapshotStore.Open of an id the store
	// does not hold complete: never made, not finished, or reaped.
	ErrSnapshotNotFound = errors.New("partition: snapshot not found")

	// ErrInvalidOffsetCommit reports an offset commit or delete whose
	// fields are out of range (see OffsetCommit); an
	// *InvalidOffsetCommitError names the field. Nothing was stored.
	ErrInvalidOffsetCommit = errors.New("partition: invalid offset commit")

	// ErrStaleGeneration reports an offset commit from an older life or
	// generation of its group than the stored entry's (Kafka
	// ILLEGAL_GENERATION); a *StaleGenerationError has both. Nothing was
	// stored.
	ErrStaleGeneration = errors.New("partition: offset commit from an older group generation")

	// ErrOffsetBeyondLogEnd reports an offset commit past the log end when
	// it was applied; an *OffsetBeyondLogEndError has both. Nothing was
	// stored.
	ErrOffsetBeyondLogEnd = errors.New("partition: offset commit beyond the log end")

	// ErrOffsetTableFull reports an offset commit that would grow the
	// partition's committed offset table past MaxOffsetTableBytes (encoded).
	// Nothing was stored; deleting groups' offsets makes room.
	ErrOffsetTableFull = errors.New("partition: committed offset table full")

	// ErrInvalidQueueUpdate reports a queue update or delete that is
	// malformed as a whole: a bad queue name, no ops or too many, an
	// unknown op kind. An *InvalidQueueUpdateError says which. Nothing was
	// proposed (or, at apply, nothing changed).
	ErrInvalidQueueUpdate = errors.New("partition: invalid queue update")

	// ErrUnknownQueue reports a queue op (other than init) on a queue that
	// has no state in the partition; an *UnknownQueueError names it. The
	// op changed nothing.
	ErrUnknownQueue = errors.New("partition: unknown queue")

	// ErrQueueOffsetOutOfRange reports a queue op whose offset is out of
	// range when it was applied: negative, at or past the log end, or (a
	// receive, an ack, the first pending offset of an ack range) at or
	// above the queue's floor + consumergroup.MaxAckWindow; or an init
	// floor past the log end. A *QueueOffsetOutOfRangeError has the
	// figures. The op changed nothing.
	ErrQueueOffsetOutOfRange = errors.New("partition: queue offset out of range")

	// ErrQueueTableFull reports a queue op that could grow the partition's
	// queue table past MaxQueueTableBytes (encoded). The op changed
	// nothing; acknowledging messages or deleting queues makes room.
	ErrQueueTableFull = errors.New("partition: queue table full")
)

// SequenceError details an ErrOutOfOrderSequence.
type SequenceError struct {
	ProducerID int64
	Epoch      int16
	Got, Want  int32
}

func (e *SequenceError) Error() string {
	return fmt.Sprintf("partition: out of order sequence from producer %d epoch %d: got %d, want %d",
		e.ProducerID, e.Epoch, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrOutOfOrderSequence) true.
func (e *SequenceError) Is(target error) bool { return target == ErrOutOfOrderSequence }

// SnapshotFileError reports a file of a SnapshotStore snapshot that does
// not decode or disagrees with the rest of the snapshot: a damaged meta or
// manifest, a missing or short segment link, a stream file whose CRC or
// length is wrong. It matches ErrCorrupt.
type SnapshotFileError struct {
	Path string // the file
	Err  error  // what is wrong with it
}

func (e *SnapshotFileError) Error() string {
	return fmt.Sprintf("partition: snapshot file %s: %v", e.Path, e.Err)
}

func (e *SnapshotFileError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *SnapshotFileError) Is(target error) bool { return target == ErrCorrupt }

// InvalidOffsetCommitError details an ErrInvalidOffsetCommit.
type InvalidOffsetCommitError struct {
	Field  string // "group", "incarnation", "generation", "offset" or "metadata"
	Reason string
}

func (e *InvalidOffsetCommitError) Error() string {
	return fmt.Sprintf("partition: invalid offset commit: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidOffsetCommit) true.
func (e *InvalidOffsetCommitError) Is(target error) bool { return target == ErrInvalidOffsetCommit }

// StaleGenerationError details an ErrStaleGeneration: the commit's
// (incarnation, generation) is below the stored entry's, compared in that
// order.
type StaleGenerationError struct {
	Group                             string
	GotIncarnation, StoredIncarnation uint64
	GotGeneration, StoredGeneration   int32
}

func (e *StaleGenerationError) Error() string {
	return fmt.Sprintf("partition: offset commit for group %q from incarnation %d generation %d; stored is incarnation %d generation %d",
		e.Group, e.GotIncarnation, e.GotGeneration, e.StoredIncarnation, e.StoredGeneration)
}

// Is makes errors.Is(err, ErrStaleGeneration) true.
func (e *StaleGenerationError) Is(target error) bool { return target == ErrStaleGeneration }

// OffsetBeyondLogEndError details an ErrOffsetBeyondLogEnd.
type OffsetBeyondLogEndError struct {
	Group  string
	Offset int64 // the committed offset
	LogEnd int64 // the log end when the commit was applied
}

func (e *OffsetBeyondLogEndError) Error() string {
	return fmt.Sprintf("partition: offset commit for group %q at %d, beyond the log end %d", e.Group, e.Offset, e.LogEnd)
}

// Is makes errors.Is(err, ErrOffsetBeyondLogEnd) true.
func (e *OffsetBeyondLogEndError) Is(target error) bool { return target == ErrOffsetBeyondLogEnd }

// InvalidQueueUpdateError details an ErrInvalidQueueUpdate.
type InvalidQueueUpdateError struct {
	Field  string // "queue" or "ops"
	Reason string
}

func (e *InvalidQueueUpdateError) Error() string {
	return fmt.Sprintf("partition: invalid queue update: %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidQueueUpdate) true.
func (e *InvalidQueueUpdateError) Is(target error) bool { return target == ErrInvalidQueueUpdate }

// UnknownQueueError details an ErrUnknownQueue.
type UnknownQueueError struct {
	Queue string
}

func (e *UnknownQueueError) Error() string {
	return fmt.Sprintf("partition: queue %q has no state in the partition", e.Queue)
}

// Is makes errors.Is(err, ErrUnknownQueue) true.
func (e *UnknownQueueError) Is(target error) bool { return target == ErrUnknownQueue }

// QueueOffsetOutOfRangeError details an ErrQueueOffsetOutOfRange.
type QueueOffsetOutOfRangeError struct {
	Queue  string
	Op     QueueOpKind
	Offset int64 // the op's offset (init: the floor asked for)
	Floor  int64 // the queue's floor; -1 if it had no state (init)
	LogEnd int64 // the log end when the op was applied
}

func (e *QueueOffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("partition: queue %q: %s of offset %d out of range (floor %d, log end %d)",
		e.Queue, e.Op, e.Offset, e.Floor, e.LogEnd)
}

// Is makes errors.Is(err, ErrQueueOffsetOutOfRange) true.
func (e *QueueOffsetOutOfRangeError) Is(target error) bool { return target == ErrQueueOffsetOutOfRange }
