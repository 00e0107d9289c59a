package metadata

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Apply as a command's response. They are deterministic:
// every replica returns the same error for the same command and state, and
// a command answered with one of them changed nothing. The Encode
// functions return ErrInvalidArgument (as a *ValidationError) for the
// parts they can check without the state.
var (
	// ErrInvalidArgument reports a command field out of its range: a bad
	// stream name or node id, a partition count, replication factor,
	// retention or record size limit out of bounds, a malformed address, a
	// consumer group state that does not validate or whose generation
	// would go down.
	// errors.As with *ValidationError gives the field.
	ErrInvalidArgument = errors.New("metadata: invalid argument")

	// ErrStreamExists reports a CreateStream for a name already in use
	// (Kafka TOPIC_ALREADY_EXISTS).
	ErrStreamExists = errors.New("metadata: stream already exists")

	// ErrStreamNotFound reports a DeleteStream or AlterStream of a stream
	// that does not exist (Kafka UNKNOWN_TOPIC_OR_PARTITION), or a
	// CreateQueue or AlterQueue naming one as its stream or dead-letter
	// stream.
	ErrStreamNotFound = errors.New("metadata: stream not found")

	// ErrNotEnoughNodes reports a CreateStream whose replication factor is
	// larger than the number of active nodes (Kafka
	// INVALID_REPLICATION_FACTOR).
	ErrNotEnoughNodes = errors.New("metadata: not enough active nodes")

	// ErrNodeNotFound reports a RemoveNode of a node id never registered,
	// or a ReassignPartition naming one.
	ErrNodeNotFound = errors.New("metadata: node not found")

	// ErrNodeNotActive reports a ReassignPartition naming a node that is
	// registered but not active (joining, or removed): only active nodes
	// take replicas.
	ErrNodeNotActive = errors.New("metadata: node not active")

	// ErrPartitionNotFound reports a ReassignPartition of a partition that
	// does not exist (its stream was deleted, or never had that many
	// partitions).
	ErrPartitionNotFound = errors.New("metadata: partition not found")

	// ErrReplicasChanged reports a ReassignPartition built from an older
	// replica set than the partition's: its Epoch is not the partition's.
	// Nothing changed; read the partition again and decide anew.
	ErrReplicasChanged = errors.New("metadata: replica set changed since the request was built")

	// ErrNodeRemoved reports a RegisterNode of a node id that was removed.
	// Node ids are never reused: replica sets may still name the old node.
	ErrNodeRemoved = errors.New("metadata: node was removed")

	// ErrProducerIDsExhausted reports an AllocateProducerIDs whose block
	// would pass the largest int64.
	ErrProducerIDsExhausted = errors.New("metadata: producer ids exhausted")

	// ErrGroupExists reports a PutGroup that creates a consumer group
	// (ExpectVersion 0) under a name already in use.
	ErrGroupExists = errors.New("metadata: consumer group already exists")

	// ErrUnknownGroup reports a PutGroup update or a DeleteGroup of a
	// consumer group that does not exist, or a DeleteGroup of another
	// incarnation (life) of the group than the one stored.
	ErrUnknownGroup = errors.New("metadata: unknown consumer group")

	// ErrGroupVersionConflict reports a PutGroup update built from another
	// version or incarnation of the group than the stored one (optimistic
	// concurrency: a concurrent change is not overwritten). Nothing
	// changed; read the group again and decide anew. errors.As with
	// *GroupVersionConflictError gives the versions.
	ErrGroupVersionConflict = errors.New("metadata: consumer group version conflict")

	// ErrQueueExists reports a CreateQueue for a name already in use
	// (SQS QueueNameExists).
	ErrQueueExists = errors.New("metadata: queue already exists")

	// ErrQueueNotFound reports an AlterQueue or DeleteQueue of a queue that
	// does not exist, or a DeleteQueue of another incarnation of the queue
	// than the one stored (SQS QueueDoesNotExist).
	ErrQueueNotFound = errors.New("metadata: queue not found")

	// ErrStreamInUse reports a DeleteStream of a stream that a queue
	// delivers or dead-letters into: delete those queues first. errors.As
	// with *StreamInUseError gives their names.
	ErrStreamInUse = errors.New("metadata: stream in use by queues")

	// ErrCorrupt reports bytes that do not decode: a command (Apply then
	// fails the replica with replication.Fatal wrapping it) or a snapshot
	// (Restore refuses it and keeps the old state).
	ErrCorrupt = errors.New("metadata: corrupt")
)

// ValidationError details an ErrInvalidArgument: which field of which
// command is wrong, and why.
type ValidationError struct {
	Field  string // the command field, e.g. "name", "partitions"
	Reason string // why it is refused, for people
	// Err is the cause when another package's check refused the value
	// (consumergroup.ErrInvalidFilter for a queue's filter), or nil.
	Err error
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("metadata: invalid %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArgument }

// Unwrap returns the cause, or nil.
func (e *ValidationError) Unwrap() error { return e.Err }

// GroupVersionConflictError details an ErrGroupVersionConflict.
type GroupVersionConflictError struct {
	Group string
	// Want is the PutGroup's ExpectVersion, Got the stored group's Version.
	Want, Got uint64
	// WantIncarnation is the PutGroup's State.Incarnation, GotIncarnation
	// the stored group's Incarnation.
	WantIncarnation, GotIncarnation uint64
}

func (e *GroupVersionConflictError) Error() string {
	return fmt.Sprintf("metadata: consumer group version conflict: group %q is at version %d of incarnation %d, the update was built from version %d of incarnation %d",
		e.Group, e.Got, e.GotIncarnation, e.Want, e.WantIncarnation)
}

// Is makes errors.Is(err, ErrGroupVersionConflict) true.
func (e *GroupVersionConflictError) Is(target error) bool { return target == ErrGroupVersionConflict }

// StreamInUseError details an ErrStreamInUse.
type StreamInUseError struct {
	Stream string
	Queues []string // sorted: the queues that deliver or dead-letter into Stream
}

func (e *StreamInUseError) Error() string {
	const show = 10
	names := strings.Join(e.Queues[:min(len(e.Queues), show)], ", ")
	if len(e.Queues) > show {
		names += fmt.Sprintf(" and %d more", len(e.Queues)-show)
	}
	return fmt.Sprintf("metadata: stream in use by queues: stream %q is the stream or dead-letter stream of queue(s) %s; delete them first",
		e.Stream, names)
}

// Is makes errors.Is(err, ErrStreamInUse) true.
func (e *StreamInUseError) Is(target error) bool { return target == ErrStreamInUse }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// corrupt wraps ErrCorrupt with what did not decode and where.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
