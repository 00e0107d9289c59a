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
