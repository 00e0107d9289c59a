package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
)

func TestErrorFromRPC(t *testing.T) {
	withDetail := func(code sluicev1.ErrorCode, retriable bool, id, addr, msg string) error {
		st, err := status.New(codes.FailedPrecondition, msg).WithDetails(&sluicev1.ErrorDetail{
			Code: code, Retriable: retriable, LeaderId: id, LeaderAddr: addr})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name      string
		err       error
		code      Code
		retriable bool
		conn      bool
		leader    string
		sentinel  error
		text      string
	}{
		{"not leader with hint", withDetail(sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, true, "n2", "h2:7001", "n1 does not lead"),
			CodeNotLeader, true, false, "h2:7001", ErrNotLeader,
			"sluice: not the leader: n1 does not lead (leader n2 at h2:7001)"},
		{"unknown stream", withDetail(sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM, false, "", "", "stream \"x\"\nnot found"),
			CodeUnknownStream, false, false, "", ErrUnknownStream, `sluice: unknown stream: stream "x" not found`},
		{"outcome unknown", withDetail(sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN, true, "", "", "leadership lost"),
			CodeOutcomeUnknown, true, false, "", ErrOutcomeUnknown, "sluice: outcome unknown: leadership lost"},
		{"too large", withDetail(sluicev1.ErrorCode_ERROR_CODE_RECORD_TOO_LARGE, false, "", "", ""),
			CodeRecordTooLarge, false, false, "", ErrRecordTooLarge, "sluice: record too large"},
		{"connection", status.Error(codes.Unavailable, "connection refused"),
			CodeUnavailable, true, true, "", ErrUnavailable, "sluice: unavailable: h1:7001: connection refused"},
		{"attempt timeout", status.Error(codes.DeadlineExceeded, "deadline exceeded"),
			CodeOutcomeUnknown, true, true, "", ErrOutcomeUnknown, "sluice: outcome unknown: h1:7001: deadline exceeded (no answer in time)"},
		{"unimplemented", status.Error(codes.Unimplemented, "unknown service"),
			CodeInternal, false, false, "", ErrInternal, ""},
		{"not a status", errors.New("boom"), CodeUnavailable, true, true, "", ErrUnavailable, "sluice: unavailable: h1:7001: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromRPC(context.Background(), "h1:7001", tt.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			if e.Code != tt.code || e.Retriable != tt.retriable || e.conn != tt.conn || e.LeaderAddr != tt.leader {
				t.Errorf("got %+v", e)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.sentinel)
			}
			if errors.Is(err, ErrStreamExists) {
				t.Errorf("%v matches another code's sentinel", err)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("message %q, want %q", err.Error(), tt.text)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q has more than one line", err.Error())
			}
		})
	}
	t.Run("caller's context ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := fromRPC(ctx, "h", status.Error(codes.Canceled, "x")); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v", err)
		}
	})
	if fromRPC(context.Background(), "h", nil) != nil {
		t.Error("nil error converted to non-nil")
	}
}

func TestNeedsRefresh(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&Error{Code: CodeNotLeader}, true},
		{&Error{Code: CodeNotLeader, LeaderAddr: "h:1"}, false},
		{&Error{Code: CodeUnknownPartition}, true},
		{&Error{Code: CodeNoLeader, Retriable: true}, true},
		{&Error{Code: CodeUnavailable, Retriable: true, conn: true}, true},
		{&Error{Code: CodeTimeout, Retriable: true}, false},
		{&Error{Code: CodeRecordTooLarge}, false},
		{errors.New("other"), false},
	}
	for _, tt := range tests {
		if got := needsRefresh(tt.err); got != tt.want {
			t.Errorf("needsRefresh(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestCodeString(t *testing.T) {
	if CodeNotLeader.String() != "NOT_LEADER" || Code(99).String() != "CODE(99)" {
		t.Errorf("got %s and %s", CodeNotLeader, Code(99))
	}
	if e := (&Error{Code: Code(99)}); e.Error() != "sluice: CODE(99)" {
		t.Errorf("got %q", e.Error())
	}
}

// TestGroupCodes checks the consumer-group codes: wire names, texts and
// sentinels.
func TestGroupCodes(t *testing.T) {
	tests := []struct {
		code     Code
		name     string
		sentinel error
	}{
		{CodeUnknownGroup, "UNKNOWN_GROUP", ErrUnknownGroup},
		{CodeUnknownMember, "UNKNOWN_MEMBER", ErrUnknownMember},
		{CodeStaleGeneration, "STALE_GENERATION", ErrStaleGeneration},
		{CodeGroupNotEmpty, "GROUP_NOT_EMPTY", ErrGroupNotEmpty},
		{CodeUnknownStrategy, "UNKNOWN_STRATEGY", ErrUnknownStrategy},
		{CodeInconsistentStrategy, "INCONSISTENT_STRATEGY", ErrInconsistentStrategy},
		{CodeFencedInstance, "FENCED_INSTANCE", ErrFencedInstance},
		{CodeNotAssigned, "NOT_ASSIGNED", ErrNotAssigned},
	}
	for _, tt := range tests {
		if tt.code.String() != tt.name || tt.code.text() == "" || tt.code.text() == tt.name {
			t.Errorf("code %d: name %s, text %q", tt.code, tt.code, tt.code.text())
		}
		err := fromRPC(context.Background(), "h", func() error {
			st, _ := status.New(codes.FailedPrecondition, "m").WithDetails(&sluicev1.ErrorDetail{
				Code: sluicev1.ErrorCode(tt.code)})
			return st.Err()
		}())
		if !errors.Is(err, tt.sentinel) || errors.Is(err, ErrUnknownStream) || codeOf(err) != tt.code {
			t.Errorf("%s: %v does not match its sentinel alone", tt.name, err)
		}
	}
}
