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
