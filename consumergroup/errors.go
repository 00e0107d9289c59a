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

// Errors of the Coordinator. Each names the group (and member) in its
// message; match them with errors.Is.
var (
	// ErrUnknownGroup reports a group the coordinator does not have.
	ErrUnknownGroup = errors.New("consumergroup: unknown group")

	// ErrUnknownMember reports a member id the group does not have: it
	// left, or was removed after its session timeout (or its rebalance
	// timeout). The member has lost its partitions and must join again.
	ErrUnknownMember = errors.New("consumergroup: unknown member")

	// ErrFencedInstance reports a member whose static instance id was
	// taken over by a newer member (a restart of the same instance).
	ErrFencedInstance = errors.New("consumergroup: fenced instance")

	// ErrStaleGeneration reports a commit from a generation that is not the
	// group's current one (Kafka ILLEGAL_GENERATION): the member must
	// heartbeat to learn the new generation and its assignment first.
	ErrStaleGeneration = errors.New("consumergroup: stale generation")

	// ErrNotAssigned reports a commit for a partition the member neither
	// is assigned nor still owns.
	ErrNotAssigned = errors.New("consumergroup: partition not assigned to the member")

	// ErrGroupNotEmpty reports an administrative change (reset offsets,
	// delete) of a group that has members.
	ErrGroupNotEmpty = errors.New("consumergroup: group has live members")

	// ErrInconsistentStrategy reports a join with a strategy other than the
	// one the group's members use.
	ErrInconsistentStrategy = errors.New("consumergroup: inconsistent assignment strategy")

	// ErrInvalidRequest reports a join or heartbeat field out of range.
	ErrInvalidRequest = errors.New("consumergroup: invalid request")

	// ErrNotCoordinator reports a call to a coordinator that is not active
	// (its node does not lead the metadata group).
	ErrNotCoordinator = errors.New("consumergroup: not the coordinator")
)

// GroupError is a Coordinator error with the group, member and details it
// concerns. It matches its sentinel (Err) with errors.Is.
type GroupError struct {
	Err    error  // the sentinel
	Group  string // the group
	Member string // the member id, when one is concerned
	Detail string // more, such as the generations of a stale commit
}

func (e *GroupError) Error() string {
	s := fmt.Sprintf("%v: group %q", e.Err, e.Group)
	if e.Member != "" {
		s += fmt.Sprintf(", member %q", e.Member)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel.
func (e *GroupError) Unwrap() error { return e.Err }

func groupErr(err error, group, member, format string, args ...any) *GroupError {
	return &GroupError{Err: err, Group: group, Member: member, Detail: fmt.Sprintf(format, args...)}
}
