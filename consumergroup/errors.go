package consumergroup

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Assignor.Assign and AssignorByName. Assign checks its
// whole input before it assigns anything, so an error means that no
// assignment was made and that the same input always fails the same way.
// Match them with errors.Is; errors.As with the typed errors below gives
// the details.
var (
	// ErrEmptyMemberID reports a member whose ID is empty. errors.As with
	// *MemberError gives its position in the members slice.
	ErrEmptyMemberID = errors.New("consumergroup: empty member id")

	// ErrDuplicateMemberID reports two members with the same ID. errors.As
	// with *MemberError gives the second one.
	ErrDuplicateMemberID = errors.New("consumergroup: duplicate member id")

	// ErrDuplicateInstanceID reports two members with the same non-empty
	// InstanceID. The coordinator fences the older of two static members
	// that share an instance id (Kafka FENCED_INSTANCE_ID), so an assignor
	// never legitimately sees both, and the order of members by instance id
	// needs it to be unique. errors.As with *MemberError gives the second.
	ErrDuplicateInstanceID = errors.New("consumergroup: duplicate instance id")

	// ErrInvalidPartitionCount reports a negative partition count.
	// errors.As with *PartitionCountError gives the stream.
	ErrInvalidPartitionCount = errors.New("consumergroup: invalid partition count")

	// ErrTooManyPartitions reports subscribed streams whose partition
	// counts add up to more than MaxPartitions. errors.As with
	// *TooManyPartitionsError gives the total.
	ErrTooManyPartitions = errors.New("consumergroup: too many partitions")

	// ErrUnknownStrategy reports an AssignorByName of a name that no
	// strategy has. errors.As with *UnknownStrategyError gives the name.
	ErrUnknownStrategy = errors.New("consumergroup: unknown assignment strategy")
)

// MemberError says which member of an Assign input is invalid. It wraps
// ErrEmptyMemberID, ErrDuplicateMemberID or ErrDuplicateInstanceID.
type MemberError struct {
	Index      int    // position of the member in the members slice
	ID         string // its ID
	InstanceID string // its InstanceID, "" if dynamic
	Err        error  // the sentinel: what is wrong with it
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%v: members[%d] (id %q, instance id %q)", e.Err, e.Index, e.ID, e.InstanceID)
}

// Unwrap returns the sentinel, so that errors.Is matches it.
func (e *MemberError) Unwrap() error { return e.Err }

// PartitionCountError reports a stream with a negative partition count. It
// matches ErrInvalidPartitionCount.
type PartitionCountError struct {
	Stream string // the stream
	Count  int32  // its partition count as given
}

func (e *PartitionCountError) Error() string {
	return fmt.Sprintf("consumergroup: invalid partition count %d for stream %q", e.Count, e.Stream)
}

// Is makes errors.Is(err, ErrInvalidPartitionCount) true.
func (e *PartitionCountError) Is(target error) bool { return target == ErrInvalidPartitionCount }

// TooManyPartitionsError reports how many partitions the subscribed streams
// have in total. It matches ErrTooManyPartitions.
type TooManyPartitionsError struct {
	Total int64 // the partitions of all subscribed streams
	Max   int64 // the limit, MaxPartitions
}

func (e *TooManyPartitionsError) Error() string {
	return fmt.Sprintf("consumergroup: too many partitions: subscribed streams have %d, the limit is %d", e.Total, e.Max)
}

// Is makes errors.Is(err, ErrTooManyPartitions) true.
func (e *TooManyPartitionsError) Is(target error) bool { return target == ErrTooManyPartitions }

// UnknownStrategyError reports a strategy name that AssignorByName does not
// know. Its message lists the names it does know. It matches
// ErrUnknownStrategy.
type UnknownStrategyError struct {
	Name string // the name asked for
}

func (e *UnknownStrategyError) Error() string {
	return fmt.Sprintf("consumergroup: unknown assignment strategy %q (known: %s)",
		e.Name, strings.Join(StrategyNames(), ", "))
}

// Is makes errors.Is(err, ErrUnknownStrategy) true.
func (e *UnknownStrategyError) Is(target error) bool { return target == ErrUnknownStrategy }
