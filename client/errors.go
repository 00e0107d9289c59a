package client

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// Code is the stable class of an error the cluster returns (the wire's
// ErrorCode). Its values are the wire values.
type Code int32

// Codes. CodeUnspecified is used for failures that carry no Sluice error
// detail, such as a gRPC error from something that is not a Sluice node.
const (
	CodeUnspecified        Code = 0
	CodeInvalidArgument    Code = 1
	CodeUnknownStream      Code = 2
	CodeUnknownPartition   Code = 3
	CodeStreamExists       Code = 4
	CodeNotLeader          Code = 5 // retriable; Error.Leader* names the leader when known
	CodeNoLeader           Code = 6 // retriable: an election is on
	CodeTimeout            Code = 7 // retriable; nothing was written
	CodeOutcomeUnknown     Code = 8 // retriable with idempotence: the write may have happened
	CodeInvalidBatch       Code = 9
	CodeRecordTooLarge     Code = 10
	CodeOffsetOutOfRange   Code = 11
	CodeOutOfOrderSequence Code = 12
	CodeProducerFenced     Code = 13
	CodeNotEnoughNodes     Code = 14
	CodeUnavailable        Code = 15 // retriable: node starting or stopping, or not reachable
	CodeInternal           Code = 16

	// Consumer groups. Whether a retry may succeed is the server's
	// Error.Retriable; the notes say what a group member does.
	CodeUnknownGroup         Code = 17
	CodeUnknownMember        Code = 18 // the member was removed: it has lost its partitions and joins again
	CodeStaleGeneration      Code = 19 // learn the generation with a heartbeat, then retry
	CodeGroupNotEmpty        Code = 20 // the group has live members
	CodeUnknownStrategy      Code = 21
	CodeInconsistentStrategy Code = 22 // the group's members use another strategy
	CodeFencedInstance       Code = 23 // a newer member took the static instance id
	CodeNotAssigned          Code = 24 // a commit of a partition the member does not own

	// Queues.
	CodeUnknownQueue   Code = 25
	CodeQueueExists    Code = 26
	CodeStreamInUse    Code = 27 // a queue uses the stream (as its stream or dead-letter stream)
	CodeInvalidReceipt Code = 28 // unknown, expired or replaced lease, or a receipt of an earlier leader

	// Node resources.
	CodeDiskFull Code = 29 // the leader's disk is below its free-space minimum; nothing was written
)

// codeText describes each code in a few lower-case words, for messages.
var codeText = [...]string{
	CodeUnspecified:        "error",
	CodeInvalidArgument:    "invalid argument",
	CodeUnknownStream:      "unknown stream",
	CodeUnknownPartition:   "unknown partition",
	CodeStreamExists:       "stream already exists",
	CodeNotLeader:          "not the leader",
	CodeNoLeader:           "no leader (election in progress)",
	CodeTimeout:            "timed out",
	CodeOutcomeUnknown:     "outcome unknown",
	CodeInvalidBatch:       "invalid batch",
	CodeRecordTooLarge:     "record too large",
	CodeOffsetOutOfRange:   "offset out of range",
	CodeOutOfOrderSequence: "out of order sequence",
	CodeProducerFenced:     "producer fenced",
	CodeNotEnoughNodes:     "not enough nodes",
	CodeUnavailable:        "unavailable",
	CodeInternal:           "internal error",

	CodeUnknownGroup:         "unknown group",
	CodeUnknownMember:        "unknown member (removed from the group)",
	CodeStaleGeneration:      "stale generation",
	CodeGroupNotEmpty:        "group not empty",
	CodeUnknownStrategy:      "unknown assignment strategy",
	CodeInconsistentStrategy: "inconsistent assignment strategy",
	CodeFencedInstance:       "fenced instance (another member took the instance id)",
	CodeNotAssigned:          "partition not assigned to the member",

	CodeUnknownQueue:   "unknown queue",
	CodeQueueExists:    "queue already exists",
	CodeStreamInUse:    "stream in use by a queue",
	CodeInvalidReceipt: "invalid receipt (expired, replaced, or of an earlier leader)",

	CodeDiskFull: "disk full (the leader's free space is below its minimum)",
}

// String returns the wire name without its prefix, such as "NOT_LEADER".
func (c Code) String() string {
	if s, ok := sluicev1.ErrorCode_name[int32(c)]; ok {
		return strings.TrimPrefix(s, "ERROR_CODE_")
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// text returns the description of c for messages.
func (c Code) text() string {
	if c >= 0 && int(c) < len(codeText) {
		return codeText[c]
	}
	return c.String()
}

// Sentinel errors. An *Error matches the sentinel of its code with
// errors.Is, so callers can test classes without errors.As.
var (
	ErrInvalidArgument    = errors.New("sluice: invalid argument")
	ErrUnknownStream      = errors.New("sluice: unknown stream")
	ErrUnknownPartition   = errors.New("sluice: unknown partition")
	ErrStreamExists       = errors.New("sluice: stream already exists")
	ErrNotLeader          = errors.New("sluice: not the leader")
	ErrNoLeader           = errors.New("sluice: no leader")
	ErrTimeout            = errors.New("sluice: timed out")
	ErrOutcomeUnknown     = errors.New("sluice: outcome unknown")
	ErrInvalidBatch       = errors.New("sluice: invalid batch")
	ErrRecordTooLarge     = errors.New("sluice: record too large")
	ErrOffsetOutOfRange   = errors.New("sluice: offset out of range")
	ErrOutOfOrderSequence = errors.New("sluice: out of order sequence")
	ErrProducerFenced     = errors.New("sluice: producer fenced")
	ErrNotEnoughNodes     = errors.New("sluice: not enough nodes")
	ErrUnavailable        = errors.New("sluice: unavailable")
	ErrInternal           = errors.New("sluice: internal error")

	ErrUnknownGroup         = errors.New("sluice: unknown group")
	ErrUnknownMember        = errors.New("sluice: unknown member")
	ErrStaleGeneration      = errors.New("sluice: stale generation")
	ErrGroupNotEmpty        = errors.New("sluice: group not empty")
	ErrUnknownStrategy      = errors.New("sluice: unknown assignment strategy")
	ErrInconsistentStrategy = errors.New("sluice: inconsistent assignment strategy")
	ErrFencedInstance       = errors.New("sluice: fenced instance")
	ErrNotAssigned          = errors.New("sluice: partition not assigned")

	ErrUnknownQueue   = errors.New("sluice: unknown queue")
	ErrQueueExists    = errors.New("sluice: queue already exists")
	ErrStreamInUse    = errors.New("sluice: stream in use by a queue")
	ErrInvalidReceipt = errors.New("sluice: invalid receipt")

	// ErrDiskFull reports a produce the partition's leader refused because
	// its disk is below its free-space minimum (sluice server
	// --min-free-space). Nothing was written; it succeeds again once space
	// is freed there.
	ErrDiskFull = errors.New("sluice: disk full")

	// ErrUnreachable reports that none of the servers answered. The error
	// that wraps it names the addresses tried and the last failure.
	ErrUnreachable = errors.New("sluice: cluster unreachable")

	// ErrClosed reports use of a closed Client, Producer, Consumer or
	// GroupConsumer, and is the error of records still buffered when a
	// Producer is closed.
	ErrClosed = errors.New("sluice: closed")

	// ErrDeliveryTimeout reports a record that was not acknowledged within
	// ProducerConfig.DeliveryTimeout. The record may or may not have been
	// written. The error wraps the last failure too.
	ErrDeliveryTimeout = errors.New("sluice: delivery timeout")
)

var codeSentinel = map[Code]error{
	CodeInvalidArgument:    ErrInvalidArgument,
	CodeUnknownStream:      ErrUnknownStream,
	CodeUnknownPartition:   ErrUnknownPartition,
	CodeStreamExists:       ErrStreamExists,
	CodeNotLeader:          ErrNotLeader,
	CodeNoLeader:           ErrNoLeader,
	CodeTimeout:            ErrTimeout,
	CodeOutcomeUnknown:     ErrOutcomeUnknown,
	CodeInvalidBatch:       ErrInvalidBatch,
	CodeRecordTooLarge:     ErrRecordTooLarge,
	CodeOffsetOutOfRange:   ErrOffsetOutOfRange,
	CodeOutOfOrderSequence: ErrOutOfOrderSequence,
	CodeProducerFenced:     ErrProducerFenced,
	CodeNotEnoughNodes:     ErrNotEnoughNodes,
	CodeUnavailable:        ErrUnavailable,
	CodeInternal:           ErrInternal,

	CodeUnknownGroup:         ErrUnknownGroup,
	CodeUnknownMember:        ErrUnknownMember,
	CodeStaleGeneration:      ErrStaleGeneration,
	CodeGroupNotEmpty:        ErrGroupNotEmpty,
	CodeUnknownStrategy:      ErrUnknownStrategy,
	CodeInconsistentStrategy: ErrInconsistentStrategy,
	CodeFencedInstance:       ErrFencedInstance,
	CodeNotAssigned:          ErrNotAssigned,

	CodeUnknownQueue:   ErrUnknownQueue,
	CodeQueueExists:    ErrQueueExists,
	CodeStreamInUse:    ErrStreamInUse,
	CodeInvalidReceipt: ErrInvalidReceipt,

	CodeDiskFull: ErrDiskFull,
}

// Error is an error the cluster returned, or one the client raised in its
// place (a record too large to send, a node that does not answer). It
// matches the sentinel of its Code with errors.Is.
type Error struct {
	Code Code
	// Retriable reports that the same request may succeed later. For
	// CodeOutcomeUnknown a retry is safe only when idempotent.
	Retriable bool
	// LeaderID and LeaderAddr name the current leader of the partition (or
	// of the metadata group) when the server knows it.
	LeaderID, LeaderAddr string
	// Msg is the server's message (or the client's), without the code.
	Msg string

	// conn marks a failure to reach the node (no Sluice error detail):
	// the node may be down, so the client refreshes its metadata.
	conn bool
}

// Error returns one line: "sluice: <code>: <message>", with the leader
// when known.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sluice: ")
	b.WriteString(e.Code.text())
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(strings.Join(strings.Fields(e.Msg), " "))
	}
	if e.LeaderID != "" || e.LeaderAddr != "" {
		b.WriteString(" (leader ")
		b.WriteString(e.LeaderID)
		if e.LeaderAddr != "" {
			if e.LeaderID != "" {
				b.WriteString(" at ")
			}
			b.WriteString(e.LeaderAddr)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrX) true for the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinel[e.Code]
	return ok && s == target
}

// fromRPC turns the error of a call to the node at addr into an *Error,
// or returns the caller's context error when ctx ended (the call was
// abandoned, not refused). It returns nil for nil.
func fromRPC(ctx context.Context, addr string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: CodeUnavailable, Retriable: true, Msg: addr + ": " + err.Error(), conn: true}
	}
	for _, d := range st.Details() {
		if d, ok := d.(*sluicev1.ErrorDetail); ok {
			return &Error{Code: Code(d.GetCode()), Retriable: d.GetRetriable(),
				LeaderID: d.GetLeaderId(), LeaderAddr: d.GetLeaderAddr(), Msg: st.Message()}
		}
	}
	// No detail: the failure is gRPC's, or the server's but unclassified.
	msg := transportMessage(st.Message())
	if !strings.Contains(msg, addr) {
		msg = addr + ": " + msg
	}
	switch st.Code() {
	case codes.Unavailable:
		return &Error{Code: CodeUnavailable, Retriable: true, Msg: msg, conn: true}
	case codes.DeadlineExceeded, codes.Canceled:
		// Our per-attempt timeout (the caller's ctx is still live): the
		// request may have been carried out.
		return &Error{Code: CodeOutcomeUnknown, Retriable: true, Msg: msg + " (no answer in time)", conn: true}
	case codes.InvalidArgument:
		return &Error{Code: CodeInvalidArgument, Msg: msg}
	case codes.Unimplemented:
		return &Error{Code: CodeInternal, Msg: msg + " (is it a Sluice node of a compatible version?)"}
	}
	return &Error{Code: CodeUnspecified, Msg: msg}
}

// transportMessage shortens gRPC's connection errors to their cause:
// `connection error: desc = "transport: Error while dialing: dial tcp
// h:1: connect: connection refused"` becomes `dial tcp h:1: connect:
// connection refused`.
func transportMessage(msg string) string {
	if i := strings.Index(msg, "dial tcp "); i >= 0 {
		return strings.TrimRight(msg[i:], `"`)
	}
	return msg
}

// unreachableError reports that none of the addresses tried answered. It
// matches ErrUnreachable and the last failure.
type unreachableError struct {
	addrs []string
	last  error
}

func (e *unreachableError) Error() string {
	msg := ErrUnreachable.Error() + ": no answer from " + strings.Join(e.addrs, ", ")
	if e.last != nil {
		msg += " (last error: " + strings.TrimPrefix(e.last.Error(), "sluice: ") + ")"
	}
	return msg
}

func (e *unreachableError) Unwrap() []error {
	if e.last == nil {
		return []error{ErrUnreachable}
	}
	return []error{ErrUnreachable, e.last}
}

// asError returns err as an *Error, or nil.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// transient reports whether a partition request that failed with err may
// succeed after the routing is refreshed or the cluster settles: the
// server says it is retriable, or the node does not lead or host the
// partition (stale routing), or cannot be reached.
func transient(err error) bool {
	e := asError(err)
	if e == nil {
		return false
	}
	switch e.Code {
	case CodeNotLeader, CodeNoLeader, CodeUnknownPartition, CodeUnavailable, CodeTimeout:
		return true
	}
	return e.Retriable
}

// needsRefresh reports whether err suggests the cached routing is stale:
// the node does not lead, does not know the partition, or cannot be
// reached.
func needsRefresh(err error) bool {
	e := asError(err)
	if e == nil {
		return false
	}
	switch e.Code {
	case CodeNotLeader:
		return e.LeaderAddr == ""
	case CodeUnknownPartition, CodeUnknownStream, CodeNoLeader:
		return true
	}
	return e.conn
}
