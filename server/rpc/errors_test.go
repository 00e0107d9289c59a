package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/server"
)

func TestErrorTable(t *testing.T) {
	type want struct {
		grpc      codes.Code
		code      sluicev1.ErrorCode
		retriable bool
	}
	const (
		outcome   = sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN
		notLeader = sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER
		noLeader  = sluicev1.ErrorCode_ERROR_CODE_NO_LEADER
		timeout   = sluicev1.ErrorCode_ERROR_CODE_TIMEOUT
		unavail   = sluicev1.ErrorCode_ERROR_CODE_UNAVAILABLE
		invalid   = sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
		internal  = sluicev1.ErrorCode_ERROR_CODE_INTERNAL
	)
	wrap := func(err error) error { return fmt.Errorf("stream %q partition 3: %w", "s", err) }
	cases := []struct {
		name string
		err  error
		want want
	}{
		{"outcome unknown", replication.ErrOutcomeUnknown, want{codes.Aborted, outcome, true}},
		{"outcome unknown wrapping a deadline", fmt.Errorf("%w: %w", replication.ErrOutcomeUnknown, context.DeadlineExceeded), want{codes.Aborted, outcome, true}},
		{"outcome unknown wrapping a cancel", fmt.Errorf("%w: %w", replication.ErrOutcomeUnknown, context.Canceled), want{codes.Aborted, outcome, true}},
		{"not leader with hint", &replication.NotLeaderError{LeaderID: "n2", LeaderAddr: "h:1"}, want{codes.FailedPrecondition, notLeader, true}},
		{"not leader without hint", &replication.NotLeaderError{}, want{codes.Unavailable, noLeader, true}},
		{"not leader sentinel", replication.ErrNotLeader, want{codes.FailedPrecondition, notLeader, true}},
		{"no leader", ErrNoLeader, want{codes.Unavailable, noLeader, true}},
		{"raft timeout", replication.ErrTimeout, want{codes.Unavailable, timeout, true}},
		{"raft timeout wrapping a deadline", fmt.Errorf("%w: %w", replication.ErrTimeout, context.DeadlineExceeded), want{codes.Unavailable, timeout, true}},
		{"deadline", context.DeadlineExceeded, want{codes.DeadlineExceeded, timeout, true}},
		{"canceled", context.Canceled, want{codes.Canceled, unavail, true}},
		{"rpc unavailable", ErrUnavailable, want{codes.Unavailable, unavail, true}},
		{"group stopped", replication.ErrStopped, want{codes.Unavailable, unavail, true}},
		{"group failed", replication.ErrFailed, want{codes.Unavailable, unavail, true}},
		{"fatal apply", replication.Fatal(errors.New("disk")), want{codes.Unavailable, unavail, true}},
		{"store failed", replication.ErrStoreFailed, want{codes.Unavailable, unavail, true}},
		{"replica closed", partition.ErrClosed, want{codes.Unavailable, unavail, true}},
		{"no proposer", partition.ErrNoProposer, want{codes.Unavailable, unavail, true}},
		{"log closed", log.ErrClosed, want{codes.Unavailable, unavail, true}},
		{"node not ready", server.ErrNotReady, want{codes.Unavailable, unavail, true}},
		{"disk full", wrap(&server.DiskFullError{Node: "n1", Dir: "/d", Free: 1, Min: 2}),
			want{codes.ResourceExhausted, sluicev1.ErrorCode_ERROR_CODE_DISK_FULL, false}},
		{"rpc invalid argument", ErrInvalidArgument, want{codes.InvalidArgument, invalid, false}},
		{"metadata invalid argument", metadata.ErrInvalidArgument, want{codes.InvalidArgument, invalid, false}},
		{"metadata validation error", &metadata.ValidationError{Field: "name", Reason: "empty"}, want{codes.InvalidArgument, invalid, false}},
		{"node not found", metadata.ErrNodeNotFound, want{codes.InvalidArgument, invalid, false}},
		{"node not active", metadata.ErrNodeNotActive, want{codes.InvalidArgument, invalid, false}},
		{"node removed", metadata.ErrNodeRemoved, want{codes.InvalidArgument, invalid, false}},
		{"replicas changed", metadata.ErrReplicasChanged, want{codes.FailedPrecondition, invalid, false}},
		{"stream not found", metadata.ErrStreamNotFound, want{codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, false}},
		{"partition not found", metadata.ErrPartitionNotFound, want{codes.NotFound, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION, false}},
		{"stream exists", metadata.ErrStreamExists, want{codes.AlreadyExists, sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS, false}},
		{"not enough nodes", metadata.ErrNotEnoughNodes, want{codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_NOT_ENOUGH_NODES, false}},
		{"record too large", ErrRecordTooLarge, want{codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_RECORD_TOO_LARGE, false}},
		{"invalid batch", partition.ErrInvalidBatch, want{codes.InvalidArgument, sluicev1.ErrorCode_ERROR_CODE_INVALID_BATCH, false}},
		{"out of order", partition.ErrOutOfOrderSequence, want{codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE, false}},
		{"sequence error", &partition.SequenceError{ProducerID: 1, Got: 7, Want: 3}, want{codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE, false}},
		{"fenced", partition.ErrProducerFenced, want{codes.FailedPrecondition, sluicev1.ErrorCode_ERROR_CODE_PRODUCER_FENCED, false}},
		{"offset out of range", log.ErrOffsetOutOfRange, want{codes.OutOfRange, sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, false}},
		{"offset out of range error", &log.OffsetOutOfRangeError{Offset: 9, Start: 0, End: 3}, want{codes.OutOfRange, sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, false}},
		{"producer ids exhausted", metadata.ErrProducerIDsExhausted, want{codes.ResourceExhausted, internal, false}},
		{"metadata corrupt", metadata.ErrCorrupt, want{codes.Internal, internal, false}},
		{"partition corrupt", partition.ErrCorrupt, want{codes.Internal, internal, false}},
		{"snapshot file", &partition.SnapshotFileError{Path: "x", Err: errors.New("short")}, want{codes.Internal, internal, false}},
		{"corrupt raft entry", replication.ErrCorruptEntry, want{codes.Internal, internal, false}},
		{"corrupt replica record", server.ErrCorrupt, want{codes.Internal, internal, false}},
		{"unknown", errors.New("something else"), want{codes.Internal, internal, false}},
	}
	for _, tc := range cases {
		for _, err := range []error{tc.err, wrap(tc.err)} {
			t.Run(tc.name, func(t *testing.T) {
				r, _ := classify(err)
				if got := (want{r.grpc, r.code, r.retriable}); got != tc.want {
					t.Errorf("classify(%v) = %+v, want %+v", err, got, tc.want)
				}
				st := status.Convert(toStatus(slog.New(slog.DiscardHandler), "Test", err, func(id string) string { return "client-" + id }))
				if st.Code() != tc.want.grpc || st.Message() != err.Error() {
					t.Errorf("status %v %q, want %v %q", st.Code(), st.Message(), tc.want.grpc, err.Error())
				}
				d := detailOf(st.Err())
				if d == nil || d.GetCode() != tc.want.code || d.GetRetriable() != tc.want.retriable {
					t.Fatalf("detail %v, want code %v retriable %v", d, tc.want.code, tc.want.retriable)
				}
				var nl *replication.NotLeaderError
				if errors.As(err, &nl) && (d.GetLeaderId() != nl.LeaderID || nl.LeaderID != "" && d.GetLeaderAddr() != "client-"+nl.LeaderID) {
					t.Errorf("leader hint %q at %q, want %q at its client address", d.GetLeaderId(), d.GetLeaderAddr(), nl.LeaderID)
				}
			})
		}
	}
}

func TestErrorStatusPassesThrough(t *testing.T) {
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	first := toStatus(lg, "Test", &replication.NotLeaderError{LeaderID: "n3"}, func(string) string { return "h:3" })
	if got := toStatus(lg, "Test", first, func(string) string { return "other" }); got != first {
		t.Errorf("a status with a detail was rebuilt: %v", got)
	}
	if toStatus(lg, "Test", nil, nil) != nil {
		t.Error("nil error made a status")
	}
	// A status without a detail (gRPC's own) is classified like any error.
	if d := detailOf(toStatus(lg, "Test", status.Error(codes.Unavailable, "conn refused"), nil)); d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_INTERNAL {
		t.Errorf("bare status: %v", d)
	}
}

// TestEveryErrorCodeProduced checks that each code of the proto comes out
// of some rule of the table, or is listed in unusedCodes with a reason,
// and that no code is both.
func TestEveryErrorCodeProduced(t *testing.T) {
	produced := map[sluicev1.ErrorCode]bool{internalRule.code: true}
	for _, r := range rules {
		produced[r.code] = true
	}
	for v, name := range sluicev1.ErrorCode_name {
		c := sluicev1.ErrorCode(v)
		why, unused := unusedCodes[c]
		switch {
		case produced[c] && unused:
			t.Errorf("%s is produced and also listed as unused", name)
		case !produced[c] && !unused:
			t.Errorf("%s is produced by no rule and not documented as unused", name)
		case unused && why == "":
			t.Errorf("%s is unused without a reason", name)
		}
	}
	for c := range unusedCodes {
		if _, ok := sluicev1.ErrorCode_name[int32(c)]; !ok {
			t.Errorf("unusedCodes lists %v, which the proto does not define", c)
		}
	}
}
