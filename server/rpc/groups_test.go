package rpc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// codeOf returns the ErrorDetail code of a gRPC error (UNSPECIFIED when it
// has none).
func codeOf(err error) sluicev1.ErrorCode {
	if d := detailOf(err); d != nil {
		return d.GetCode()
	}
	return sluicev1.ErrorCode_ERROR_CODE_UNSPECIFIED
}

// TestGroupAPI walks the group calls through a node that does not lead the
// metadata group (so every call is forwarded to the coordinator): join,
// heartbeat, commit, fetch, describe, and the refusals of bad input.
func TestGroupAPI(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, 2*time.Minute)
	c.createStream(0, "s", 2, 3)
	c.settle("s")
	for p := range 2 {
		if err := c.onLeader("s", p, func(api sluicev1.SluiceClient) error {
			_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Partition: int32(p), Batch: records(t, 0, 10, plain)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	api := c.api(c.metaFollower())

	join, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	if join.GetStrategy() != "cooperative-sticky" || join.GetMemberId() == "" || join.GetGeneration() < 1 {
		t.Fatalf("join: %v", join)
	}
	if n := len(toTPs(join.GetAssigned())); n != 2 {
		t.Fatalf("a lone member got %d partitions, want 2", n)
	}
	hb, err := api.GroupHeartbeat(ctx, &sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: join.GetMemberId(),
		Generation: join.GetGeneration(), Owned: join.GetAssigned()})
	if err != nil || hb.GetGeneration() != join.GetGeneration() {
		t.Fatalf("heartbeat: %v %v", hb, err)
	}
	commit, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: join.GetMemberId(),
		Generation: join.GetGeneration(), Offsets: []*sluicev1.OffsetCommit{
			{Stream: "s", Partition: 0, Offset: 7, Metadata: "hi"},
			{Stream: "s", Partition: 1, Offset: 11}, // past the end: refused
		}})
	if err != nil {
		t.Fatal(err)
	}
	if r := commit.GetResults(); r[0].GetError() != nil ||
		r[1].GetError().GetCode() != sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE {
		t.Fatalf("commit results: %v", r)
	}
	fetched, err := api.FetchOffsets(ctx, &sluicev1.FetchOffsetsRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if o := fetched.GetOffsets(); len(o) != 2 || o[0].GetCommitted() != 7 || o[0].GetMetadata() != "hi" ||
		o[0].GetLag() != 3 || o[1].GetCommitted() != -1 || o[1].GetHighWatermark() != 10 {
		t.Fatalf("fetched offsets: %v", o)
	}

	call := func(fn func(context.Context) error) func() error { return func() error { return fn(ctx) } }
	cases := []struct {
		name string
		call func() error
		want sluicev1.ErrorCode
	}{
		{"join with an unknown strategy", call(func(ctx context.Context) error {
			_, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "h", Streams: []string{"s"}, Strategy: "fifo"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STRATEGY},
		{"join with another strategy", call(func(ctx context.Context) error {
			_, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}, Strategy: "range"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_INCONSISTENT_STRATEGY},
		{"join with no streams", call(func(ctx context.Context) error {
			_, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "h"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"join with a negative session timeout", call(func(ctx context.Context) error {
			_, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "h", Streams: []string{"s"}, SessionTimeoutMs: -1})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"commit from an old generation", call(func(ctx context.Context) error {
			_, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: join.GetMemberId(),
				Generation: join.GetGeneration() - 1, Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION},
		{"commit from an unknown member", call(func(ctx context.Context) error {
			_, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: "ghost",
				Generation: join.GetGeneration(), Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER},
		{"commit nothing", call(func(ctx context.Context) error {
			_, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: join.GetMemberId(),
				Generation: join.GetGeneration()})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"heartbeat of an unknown member", call(func(ctx context.Context) error {
			_, err := api.GroupHeartbeat(ctx, &sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: "ghost"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER},
		{"reset a live group", call(func(ctx context.Context) error {
			_, err := api.ResetOffsets(ctx, &sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY},
		{"delete a live group", call(func(ctx context.Context) error {
			_, err := api.DeleteGroup(ctx, &sluicev1.DeleteGroupRequest{Group: "g"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY},
		{"describe an unknown group", call(func(ctx context.Context) error {
			_, err := api.DescribeGroup(ctx, &sluicev1.DescribeGroupRequest{Group: "nope"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP},
		{"reset an unknown group", call(func(ctx context.Context) error {
			_, err := api.ResetOffsets(ctx, &sluicev1.ResetOffsetsRequest{Group: "nope", Stream: "s"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP},
		{"reset on an unknown stream", call(func(ctx context.Context) error {
			_, err := api.ResetOffsets(ctx, &sluicev1.ResetOffsetsRequest{Group: "g", Stream: "nope"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM},
		{"reset with a bad spec", call(func(ctx context.Context) error {
			_, err := api.ResetOffsets(ctx, &sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Spec: 9})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"delete an unknown group", call(func(ctx context.Context) error {
			_, err := api.DeleteGroup(ctx, &sluicev1.DeleteGroupRequest{Group: "nope"})
			return err
		}), sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := codeOf(tc.call()); got != tc.want {
				t.Errorf("code %v, want %v", got, tc.want)
			}
		})
	}

	// Leave, then the admin calls go through: reset to earliest, delete.
	if _, err := api.LeaveGroup(ctx, &sluicev1.LeaveGroupRequest{Group: "g", MemberId: join.GetMemberId()}); err != nil {
		t.Fatal(err)
	}
	reset, err := api.ResetOffsets(ctx, &sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Spec: sluicev1.ResetSpec_RESET_SPEC_OFFSET, Offset: 99})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range reset.GetOffsets() {
		if o.GetError() != nil || o.GetCommitted() != 10 {
			t.Errorf("reset to 99 (clamped to the end): %v", o)
		}
	}
	desc, err := api.DescribeGroup(ctx, &sluicev1.DescribeGroupRequest{Group: "g"})
	if err != nil || desc.GetGroup().GetState() != "empty" || len(desc.GetOffsets()) != 2 || desc.GetOffsets()[0].GetLag() != 0 {
		t.Fatalf("describe after reset: %v %v", desc, err)
	}
	if _, err := api.DeleteGroup(ctx, &sluicev1.DeleteGroupRequest{Group: "g"}); err != nil {
		t.Fatal(err)
	}
	// A new life of the group sees none of the old offsets.
	again, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	fetched, err = api.FetchOffsets(ctx, &sluicev1.FetchOffsetsRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range fetched.GetOffsets() {
		if o.GetCommitted() != -1 {
			t.Errorf("a recreated group sees an old offset: %v", o)
		}
	}
	_ = again
}

// TestGroupMetrics checks the group gauges on the coordinator's /metrics
// and the lag on the partition leader's.
func TestGroupMetrics(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	c.createStream(0, "s", 1, 3)
	c.settle("s")
	if err := c.onLeader("s", 0, func(api sluicev1.SluiceClient) error {
		_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Batch: records(t, 0, 10, plain)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	coord := c.metaLeader()
	api := c.api(coord)
	join, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: join.GetMemberId(),
		Generation: join.GetGeneration(), Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 4}}})
	if err != nil || resp.GetResults()[0].GetError() != nil {
		t.Fatalf("commit: %v %v", resp, err)
	}
	_, body := httpGet(t, "http://"+c.https[coord]+"/metrics")
	for _, want := range []string{
		`sluice_group_members{group="g"} 1`,
		fmt.Sprintf(`sluice_group_generation{group="g"} %d`, join.GetGeneration()),
		"# TYPE sluice_group_rebalances_total counter",
		"sluice_group_joins_total 1", "sluice_group_offset_commits_total 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("coordinator /metrics lacks %q", want)
		}
	}
	// The leader shows a group's lag once its metadata knows the group
	// (the join reached it through the metadata group).
	lead := c.partitionLeader("s", 0)
	wants := []string{
		`sluice_group_lag{group="g",index="0",stream="s"} 6`,
		`sluice_group_committed_offset{group="g",index="0",stream="s"} 4`,
	}
	waitFor(t, 10*time.Second, "the lag on the partition leader's /metrics", func() bool {
		_, body = httpGet(t, "http://"+c.https[lead]+"/metrics")
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
}

// TestConcurrentCommits: many commits in flight at once (they share
// internal calls and raft entries); each caller gets its own answer and
// each partition ends at its last commit.
func TestConcurrentCommits(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	const parts = 6
	c.createStream(0, "s", parts, 3)
	c.settle("s")
	for p := range parts {
		if err := c.onLeader("s", p, func(api sluicev1.SluiceClient) error {
			_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Partition: int32(p), Batch: records(t, 0, 50, plain)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	api := c.api(c.metaLeader())
	join, err := api.JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	// commit commits off, again while the answer is retriable (a
	// partition leader lost its leadership on a loaded machine), as a
	// client does.
	commit := func(part int32, off int64) error {
		for {
			resp, err := api.CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: join.GetMemberId(),
				Generation: join.GetGeneration(), Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Partition: part, Offset: off}}})
			if err != nil && nothingDone(err) && ctx.Err() == nil {
				select { // the coordinator's election: back off, then again
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
				}
				continue
			}
			if err != nil {
				return err
			}
			if e := resp.GetResults()[0].GetError(); e != nil && (!e.GetRetriable() || ctx.Err() != nil) {
				return fmt.Errorf("%v", resp)
			} else if e == nil {
				return nil
			}
		}
	}
	var wg sync.WaitGroup
	for w := range 4 * parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := int32(w % parts)
			for i := range 10 {
				if err := commit(part, int64(10*(w/parts)+i)); err != nil {
					t.Errorf("writer %d commit %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Concurrent writers of one partition land in any order; a commit
	// made after them all wins.
	for p := range parts {
		if err := commit(int32(p), 50); err != nil {
			t.Fatalf("final commit: %v", err)
		}
	}
	fetched, err := api.FetchOffsets(ctx, &sluicev1.FetchOffsetsRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range fetched.GetOffsets() {
		if o.GetCommitted() != 50 || o.GetLag() != 0 {
			t.Errorf("%v", o)
		}
	}
}
