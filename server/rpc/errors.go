package rpc

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/queue"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/server"
)

// Errors of the RPC layer itself: requests refused before they reach the
// node. The node's own errors (packages metadata, partition, replication,
// log, server) are mapped by the same table.
var (
	// ErrInvalidArgument reports a request field out of its range (a
	// negative max_bytes, an unknown acks or offset spec).
	ErrInvalidArgument = errors.New("rpc: invalid argument")

	// ErrRecordTooLarge reports a produced batch holding a record above
	// the stream's max record bytes, or a batch above the most a
	// partition takes.
	ErrRecordTooLarge = errors.New("rpc: record too large")

	// ErrNoLeader reports a partition or metadata group with no leader
	// that can serve: an election is on, or the new leader has not caught
	// up yet (its barrier).
	ErrNoLeader = errors.New("rpc: no leader")

	// ErrUnavailable reports a server that is stopping.
	ErrUnavailable = errors.New("rpc: unavailable")

	// ErrInvalidConfig reports a Config that does not validate.
	ErrInvalidConfig = errors.New("rpc: invalid config")
)

// rule maps the errors that match it to a gRPC code, a wire code and
// whether a retry of the same request may succeed.
type rule struct {
	match     func(error) bool
	grpc      codes.Code
	code      sluicev1.ErrorCode
	retriable bool
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// noLeaderKnown matches a not-leader error that names no leader.
func noLeaderKnown(err error) bool {
	var nl *replication.NotLeaderError
	return errors.As(err, &nl) && nl.LeaderID == ""
}

// rules is THE error table: the first rule that matches wins, so the
// specific comes before the general (outcome unknown before the context
// errors it wraps; a not-leader with no leader before one with a hint).
// Anything that matches no rule is INTERNAL and logged.
var rules = []rule{
	// Writes whose outcome is unknown: retry with the same producer id
	// and sequence.
	{is(replication.ErrOutcomeUnknown), codes.Aborted, sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN, true},

	// Routing.
	{noLeaderKnown, codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER, true},
	{is(replication.ErrNotLeader), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, true},
	{is(ErrNoLeader), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER, true},
	{is(consumergroup.ErrNotCoordinator), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_NO_LEADER, true},

	// Nothing written, try again.
	{is(replication.ErrTimeout), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_TIMEOUT, true},
	{is(context.DeadlineExceeded), codes.DeadlineExceeded, sluicev1.ErrorCode_ERROR_CODE_TIMEOUT, true},

	// This node cannot serve now: stopping, a replica closing or not
	// attached yet, a failed (fail-stop) replica or store. Another node
	// takes over; the client refreshes its routing and retries.
	{is(ErrUnavailable), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(context.Canceled), codes.Canceled, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(replication.ErrStopped), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(replication.ErrFailed), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(replication.ErrStoreFailed), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(partition.ErrClosed), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(partition.ErrNoProposer), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(log.ErrClosed), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},
	{is(server.ErrNotReady), codes.Unavailable, sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE, true},

	// The request is refused as it is.
	{is(ErrInvalidArgument), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrInvalidArgument), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrNodeNotFound), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrNodeNotActive), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrNodeRemoved), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrReplicasChanged), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(metadata.ErrStreamNotFound), codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, false},
	{is(metadata.ErrPartitionNotFound), codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION, false},
	{is(metadata.ErrStreamExists), codes.AlreadyExists, sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS, false},
	{is(metadata.ErrNotEnoughNodes), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_NOT_ENOUGH_NODES, false},
	{is(server.ErrDiskFull), codes.ResourceExhausted, sluicev1.ErrorCode_ERROR_CODE_DISK_FULL, false},
	{is(ErrRecordTooLarge), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_RECORD_TOO_LARGE, false},
	{is(partition.ErrInvalidBatch), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_BATCH, false},
	{is(partition.ErrOutOfOrderSequence), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE, false},
	{is(partition.ErrProducerFenced), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_PRODUCER_FENCED, false},
	{is(log.ErrOffsetOutOfRange), codes.OutOfRange, sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, false},

	// Consumer groups.
	{is(consumergroup.ErrUnknownGroup), codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP, false},
	{is(consumergroup.ErrUnknownMember), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER, false},
	{is(consumergroup.ErrFencedInstance), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_FENCED_INSTANCE, false},
	{is(consumergroup.ErrStaleGeneration), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION, false},
	{is(partition.ErrStaleGeneration), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION, false},
	{is(consumergroup.ErrNotAssigned), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_NOT_ASSIGNED, false},
	{is(consumergroup.ErrGroupNotEmpty), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY, false},
	{is(consumergroup.ErrUnknownStrategy), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STRATEGY, false},
	{is(consumergroup.ErrInconsistentStrategy), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_INCONSISTENT_STRATEGY, false},
	{is(consumergroup.ErrInvalidRequest), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(consumergroup.ErrInvalidGroupState), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(partition.ErrInvalidOffsetCommit), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(partition.ErrOffsetBeyondLogEnd), codes.OutOfRange, sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, false},
	{is(partition.ErrOffsetTableFull), codes.ResourceExhausted, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},

	// Queues.
	{is(metadata.ErrQueueNotFound), codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, false},
	{is(metadata.ErrQueueExists), codes.AlreadyExists, sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS, false},
	{is(metadata.ErrStreamInUse), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_STREAM_IN_USE, false},
	{is(consumergroup.ErrInvalidReceipt), codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT, false},
	{is(queue.ErrWrongPartition), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT, false},
	{is(queue.ErrInvalidArgument), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(consumergroup.ErrInvalidFilter), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(partition.ErrInvalidQueueUpdate), codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(partition.ErrQueueOffsetOutOfRange), codes.OutOfRange, sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, false},
	{is(partition.ErrQueueTableFull), codes.ResourceExhausted, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, false},
	{is(partition.ErrUnknownQueue), codes.Internal, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},

	// Broken state: a bug or damage, never the client's doing. Listed so
	// that they are INTERNAL on purpose (and logged), not by default.
	{is(metadata.ErrProducerIDsExhausted), codes.ResourceExhausted, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},
	{is(metadata.ErrCorrupt), codes.Internal, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},
	{is(partition.ErrCorrupt), codes.Internal, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},
	{is(replication.ErrCorruptEntry), codes.Internal, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},
	{is(server.ErrCorrupt), codes.Internal, sluicev1.ErrorCode_ERROR_CODE_INTERNAL, false},
}

// unusedCodes are the wire codes no rule produces, and why.
var unusedCodes = map[sluicev1.ErrorCode]string{
	sluicev1.ErrorCode_ERROR_CODE_UNSPECIFIED: "the zero value: a status without a Sluice code (the client's CodeUnspecified)",
}

// internalRule is what an error no rule matches becomes.
var internalRule = rule{grpc: codes.Internal, code: sluicev1.ErrorCode_ERROR_CODE_INTERNAL}

// classify returns the rule of err, and false when none matched (the
// error is then INTERNAL, and unexpected).
func classify(err error) (rule, bool) {
	for _, r := range rules {
		if r.match(err) {
			return r, true
		}
	}
	return internalRule, false
}

// hasDetail reports whether err is already a gRPC status carrying an
// ErrorDetail: the answer of another node this one forwarded to, which
// goes back to the client as it is.
func hasDetail(err error) bool {
	st, ok := err.(interface{ GRPCStatus() *status.Status })
	if !ok {
		return false
	}
	for _, d := range st.GRPCStatus().Details() {
		if _, ok := d.(*sluicev1.ErrorDetail); ok {
			return true
		}
	}
	return false
}

// detailOf returns the ErrorDetail of a status error, or nil.
func detailOf(err error) *sluicev1.ErrorDetail {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if d, ok := d.(*sluicev1.ErrorDetail); ok {
			return d
		}
	}
	return nil
}

// leaderHint returns the node id a not-leader error names, or "".
func leaderHint(err error) string {
	var nl *replication.NotLeaderError
	if errors.As(err, &nl) {
		return nl.LeaderID
	}
	return ""
}

// toStatus turns err into the gRPC status error the client gets: the
// table's codes in an ErrorDetail, the leader's id and client address
// (addrOf maps a node id to it) for a not-leader error, and err's message.
// A status that already carries a detail passes through. Unexpected
// errors are logged; the others are the client's business and logged at
// debug level only.
func toStatus(lg *slog.Logger, method string, err error, addrOf func(string) string) error {
	if err == nil {
		return nil
	}
	if hasDetail(err) {
		return err
	}
	r, known := classify(err)
	d := &sluicev1.ErrorDetail{Code: r.code, Retriable: r.retriable}
	if id := leaderHint(err); id != "" {
		d.LeaderId, d.LeaderAddr = id, addrOf(id)
	}
	switch {
	case !known:
		lg.Error("rpc: unexpected error", "method", method, "err", err)
	case r.code == sluicev1.ErrorCode_ERROR_CODE_INTERNAL:
		lg.Error("rpc: internal error", "method", method, "err", err)
	default:
		lg.Debug("rpc: request failed", "method", method, "code", r.code.String(), "err", err)
	}
	st, serr := status.New(r.grpc, err.Error()).WithDetails(d)
	if serr != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}
