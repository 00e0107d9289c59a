package rpc

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/queue"
)

// The bad requests of TestBadInput, one table per family of calls.

// Wire codes of the cases.
const (
	codeInvalid          = sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
	codeUnknownStream    = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM
	codeUnknownPartition = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION
	codeUnknownGroup     = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_GROUP
	codeUnknownMember    = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER
	codeUnknownQueue     = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE
	codeOutOfRange       = sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE
	codeBadBatch         = sluicev1.ErrorCode_ERROR_CODE_INVALID_BATCH
	codeBadReceipt       = sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT
	codeGroupNotEmpty    = sluicev1.ErrorCode_ERROR_CODE_GROUP_NOT_EMPTY
	codeStreamInUse      = sluicev1.ErrorCode_ERROR_CODE_STREAM_IN_USE
)

// overflowMs is a count of milliseconds whose Duration wraps around to
// less than a millisecond.
const overflowMs = 18446744073710

// bigFilter is a filter over consumergroup.MaxFilterBytes.
var bigFilter = `{"key": ["` + strings.Repeat("x", consumergroup.MaxFilterBytes) + `"]}`

// streamCases are the stream admin and metadata calls.
func (c *tcluster) streamCases() []badCase {
	create := func(req *sluicev1.CreateStreamRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).CreateStream(ctx, req)
			return err
		}
	}
	describe := func(name string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: name})
			return err
		}
	}
	del := func(name string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DeleteStream(ctx, &sluicev1.DeleteStreamRequest{Name: name})
			return err
		}
	}
	alter := func(req *sluicev1.AlterStreamRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).AlterStream(ctx, req)
			return err
		}
	}
	ms := func(v int64) *int64 { return &v }
	long := strings.Repeat("a", metadata.MaxStreamNameLen+1)
	return []badCase{
		{name: "create with an empty name", call: create(&sluicev1.CreateStreamRequest{Partitions: 1}), want: codeInvalid, field: "name"},
		{name: "create with a name too long", call: create(&sluicev1.CreateStreamRequest{Name: long, Partitions: 1}), want: codeInvalid, field: "name"},
		{name: "create with a slash in the name", call: create(&sluicev1.CreateStreamRequest{Name: "a/b", Partitions: 1}), want: codeInvalid, field: "name"},
		{name: "create named ..", call: create(&sluicev1.CreateStreamRequest{Name: "..", Partitions: 1}), want: codeInvalid, field: "name"},
		{name: "create with no partitions", call: create(&sluicev1.CreateStreamRequest{Name: "x"}), want: codeInvalid, field: "partitions"},
		{name: "create with negative partitions", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: -3}), want: codeInvalid, field: "partitions"},
		{name: "create with too many partitions", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: metadata.MaxPartitions + 1}),
			want: codeInvalid, field: "partitions"},
		{name: "create with a negative replication factor", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, ReplicationFactor: -1}),
			want: codeInvalid, field: "replication factor"},
		{name: "create with a replication factor past the limit",
			call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, ReplicationFactor: metadata.MaxReplicationFactor + 1}),
			want: codeInvalid, field: "replication factor"},
		{name: "create with more replicas than nodes", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, ReplicationFactor: 5}),
			want: sluicev1.ErrorCode_ERROR_CODE_NOT_ENOUGH_NODES, field: "replication factor"},
		{name: "create with a negative retention", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, RetentionMs: -5}),
			want: codeInvalid, field: "retention ms"},
		{name: "create with negative retention bytes", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, RetentionBytes: -2}),
			want: codeInvalid, field: "retention bytes"},
		{name: "create with a negative record limit", call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, MaxRecordBytes: -1}),
			want: codeInvalid, field: "max record bytes"},
		{name: "create with a record limit past the limit",
			call: create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, MaxRecordBytes: metadata.MaxRecordBytesLimit + 1}),
			want: codeInvalid, field: "max record bytes"},
		{name: "create an existing stream", call: create(&sluicev1.CreateStreamRequest{Name: "s", Partitions: 1}),
			want: sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS, field: "already exists"},
		{name: "describe an empty name", call: describe(""), want: codeInvalid, field: "name"},
		{name: "describe a bad name", call: describe("a b"), want: codeInvalid, field: "name"},
		{name: "describe an unknown stream", call: describe("nope"), want: codeUnknownStream, field: "nope"},
		{name: "delete an empty name", call: del(""), want: codeInvalid, field: "name"},
		{name: "delete a bad name", call: del("a/b"), want: codeInvalid, field: "name"},
		{name: "delete an unknown stream", call: del("nope"), want: codeUnknownStream, field: "nope"},
		{name: "delete the stream of a queue", call: del("qs"), want: codeStreamInUse, field: "qs"},
		{name: "delete a dead-letter stream", call: del("dlq"), want: codeStreamInUse, field: "dlq"},
		{name: "alter an empty name", call: alter(&sluicev1.AlterStreamRequest{RetentionMs: ms(1000)}), want: codeInvalid, field: "name"},
		{name: "alter nothing", call: alter(&sluicev1.AlterStreamRequest{Name: "s"}), want: codeInvalid, field: "nothing to change"},
		{name: "alter to a negative retention", call: alter(&sluicev1.AlterStreamRequest{Name: "s", RetentionMs: ms(-2)}),
			want: codeInvalid, field: "retention ms"},
		{name: "alter to negative retention bytes", call: alter(&sluicev1.AlterStreamRequest{Name: "s", RetentionBytes: ms(-7)}),
			want: codeInvalid, field: "retention bytes"},
		{name: "alter an unknown stream", call: alter(&sluicev1.AlterStreamRequest{Name: "nope", RetentionMs: ms(1000)}),
			want: codeUnknownStream, field: "nope"},
	}
}

// recordCases are Produce, Fetch, Follow and ListOffsets.
func (c *tcluster) recordCases() []badCase {
	good := records(c.t, 0, 3, plain)
	garbage := resealed(good, func(b []byte) {
		for i := batch.HeaderSize; i < len(b); i++ {
			b[i] = 0xff
		}
	})
	notGzip := resealed(good, func(b []byte) { b[22] |= byte(batch.Gzip) })
	gap := resealed(records(c.t, 0, 1, plain), func(b []byte) { binary.BigEndian.PutUint32(b[23:], 5) })
	control := resealed(good, func(b []byte) { b[22] |= 0x20 })
	transactional := resealed(good, func(b []byte) { b[22] |= 0x10 })
	produce := func(req *sluicev1.ProduceRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).Produce(ctx, req)
			return err
		}
	}
	fetch := func(req *sluicev1.FetchRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).Fetch(ctx, req)
			return err
		}
	}
	follow := func(req *sluicev1.FollowRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			fs, err := c.api(n).Follow(ctx, req)
			if err != nil {
				return err
			}
			_, err = fs.Recv()
			return err
		}
	}
	listOffsets := func(req *sluicev1.ListOffsetsRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).ListOffsets(ctx, req)
			return err
		}
	}
	return []badCase{
		{name: "produce to an empty stream name", call: produce(&sluicev1.ProduceRequest{Batch: good}), want: codeInvalid, field: "stream"},
		{name: "produce to a bad stream name", call: produce(&sluicev1.ProduceRequest{Stream: "a b", Batch: good}), want: codeInvalid, field: "stream"},
		{name: "produce to an unknown stream", call: produce(&sluicev1.ProduceRequest{Stream: "nope", Batch: good}), want: codeUnknownStream, field: "nope"},
		{name: "produce to partition -1", call: produce(&sluicev1.ProduceRequest{Stream: "s", Partition: -1, Batch: good}),
			want: codeUnknownPartition, field: "partition -1"},
		{name: "produce to partition 2 of 2", call: produce(&sluicev1.ProduceRequest{Stream: "s", Partition: 2, Batch: good}),
			want: codeUnknownPartition, field: "partition 2"},
		{name: "produce records that do not decode", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: garbage}),
			want: codeBadBatch, field: "record"},
		{name: "produce records that do not decompress", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: notGzip}),
			want: codeBadBatch, field: "gzip"},
		{name: "produce records with an offset gap", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: gap}),
			want: codeBadBatch, field: "last offset delta"},
		{name: "produce a control batch", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: control}), want: codeBadBatch, field: "control"},
		{name: "produce a transactional batch", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: transactional}),
			want: codeBadBatch, field: "transactional"},
		{name: "produce with unknown acks", call: produce(&sluicev1.ProduceRequest{Stream: "s", Batch: good, Acks: 2}), want: codeInvalid, field: "acks"},
		{name: "fetch from an empty stream name", call: fetch(&sluicev1.FetchRequest{}), want: codeInvalid, field: "stream"},
		{name: "fetch from a bad stream name", call: fetch(&sluicev1.FetchRequest{Stream: "a*b"}), want: codeInvalid, field: "stream"},
		{name: "fetch from an unknown partition", call: fetch(&sluicev1.FetchRequest{Stream: "s", Partition: 2}),
			want: codeUnknownPartition, field: "partition 2"},
		{name: "fetch with a bad filter", call: fetch(&sluicev1.FetchRequest{Stream: "s", Filter: "{"}), want: codeInvalid, field: "filter"},
		{name: "fetch with a filter too long", call: fetch(&sluicev1.FetchRequest{Stream: "s", Filter: bigFilter}), want: codeInvalid, field: "filter"},
		{name: "fetch with a negative max_bytes", call: fetch(&sluicev1.FetchRequest{Stream: "s", MaxBytes: -1}), want: codeInvalid, field: "max_bytes"},
		{name: "fetch with a negative max_wait_ms", call: fetch(&sluicev1.FetchRequest{Stream: "s", MaxWaitMs: -1}), want: codeInvalid, field: "max_wait_ms"},
		{name: "fetch from offset -1", call: fetch(&sluicev1.FetchRequest{Stream: "s", Offset: -1}), want: codeOutOfRange, field: "offset -1", lead: leadOf{"s", 0}},
		{name: "fetch past the high watermark", call: fetch(&sluicev1.FetchRequest{Stream: "s", Offset: 6}), want: codeOutOfRange, field: "offset 6", lead: leadOf{"s", 0}},
		{name: "follow an empty stream name", call: follow(&sluicev1.FollowRequest{}), want: codeInvalid, field: "stream"},
		{name: "follow an unknown partition", call: follow(&sluicev1.FollowRequest{Stream: "s", Partition: 5}), want: codeUnknownPartition, field: "partition 5"},
		{name: "follow with a bad filter", call: follow(&sluicev1.FollowRequest{Stream: "s", Filter: "[]"}), want: codeInvalid, field: "filter"},
		{name: "follow with a negative max_bytes", call: follow(&sluicev1.FollowRequest{Stream: "s", MaxBytes: -1}), want: codeInvalid, field: "max_bytes"},
		{name: "follow from offset -1", call: follow(&sluicev1.FollowRequest{Stream: "s", Offset: -1}), want: codeOutOfRange, field: "offset -1", lead: leadOf{"s", 0}},
		{name: "follow past the high watermark", call: follow(&sluicev1.FollowRequest{Stream: "s", Offset: 99}), want: codeOutOfRange, field: "offset 99", lead: leadOf{"s", 0}},
		{name: "list offsets of an empty stream name", call: listOffsets(&sluicev1.ListOffsetsRequest{}), want: codeInvalid, field: "stream"},
		{name: "list offsets of partition -1", call: listOffsets(&sluicev1.ListOffsetsRequest{Stream: "s", Partition: -1}),
			want: codeUnknownPartition, field: "partition -1"},
		{name: "list offsets with an unknown spec", call: listOffsets(&sluicev1.ListOffsetsRequest{Stream: "s", Spec: 3}), want: codeInvalid, field: "spec"},
	}
}

// groupCases are the consumer group calls; member is a live member of
// group g (consuming stream s) at generation gen.
func (c *tcluster) groupCases(member string, gen int32) []badCase {
	join := func(req *sluicev1.JoinGroupRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).JoinGroup(ctx, req)
			return err
		}
	}
	heartbeat := func(req *sluicev1.GroupHeartbeatRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).GroupHeartbeat(ctx, req)
			return err
		}
	}
	leave := func(group, member string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).LeaveGroup(ctx, &sluicev1.LeaveGroupRequest{Group: group, MemberId: member})
			return err
		}
	}
	// commit returns the error of the request, else that of its first
	// entry.
	commit := func(req *sluicev1.CommitOffsetsRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := c.api(n).CommitOffsets(ctx, req)
			if err != nil {
				return err
			}
			return entryErr(resp.GetResults()[0].GetError(), resp.GetResults()[0].GetErrorMessage())
		}
	}
	commitOf := func(offs ...*sluicev1.OffsetCommit) *sluicev1.CommitOffsetsRequest {
		return &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: member, Generation: gen, Offsets: offs}
	}
	fetchOffsets := func(req *sluicev1.FetchOffsetsRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := c.api(n).FetchOffsets(ctx, req)
			if err != nil {
				return err
			}
			return entryErr(resp.GetOffsets()[0].GetError(), resp.GetOffsets()[0].GetErrorMessage())
		}
	}
	describe := func(group string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DescribeGroup(ctx, &sluicev1.DescribeGroupRequest{Group: group})
			return err
		}
	}
	reset := func(req *sluicev1.ResetOffsetsRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).ResetOffsets(ctx, req)
			return err
		}
	}
	del := func(group string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DeleteGroup(ctx, &sluicev1.DeleteGroupRequest{Group: group})
			return err
		}
	}
	s := []string{"s"}
	longGroup := strings.Repeat("g", consumergroup.MaxGroupNameLen+1)
	longID := strings.Repeat("m", consumergroup.MaxMemberIDLen+1)
	manyStreams := make([]string, consumergroup.MaxStreamsPerMember+1)
	for i := range manyStreams {
		manyStreams[i] = fmt.Sprint("t", i)
	}
	manyOffsets := make([]*sluicev1.OffsetCommit, maxCommitEntries+1)
	for i := range manyOffsets {
		manyOffsets[i] = &sluicev1.OffsetCommit{Stream: "s", Partition: int32(i)}
	}
	return []badCase{
		{name: "join with an empty group", call: join(&sluicev1.JoinGroupRequest{Streams: s}), want: codeInvalid, field: "group"},
		{name: "join with a group name too long", call: join(&sluicev1.JoinGroupRequest{Group: longGroup, Streams: s}), want: codeInvalid, field: "group"},
		{name: "join with a control character in the group", call: join(&sluicev1.JoinGroupRequest{Group: "g\x01", Streams: s}),
			want: codeInvalid, field: "group"},
		{name: "join with no streams", call: join(&sluicev1.JoinGroupRequest{Group: "h"}), want: codeInvalid, field: "streams"},
		{name: "join with too many streams", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: manyStreams}), want: codeInvalid, field: "streams"},
		{name: "join with an empty stream name", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: []string{"s", ""}}),
			want: codeInvalid, field: "streams[1]"},
		{name: "join with a bad stream name", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: []string{"a/b"}}),
			want: codeInvalid, field: "streams[0]"},
		{name: "join with an unknown strategy", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, Strategy: "fifo"}),
			want: sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STRATEGY, field: "strategy"},
		{name: "join with another strategy than the group's", call: join(&sluicev1.JoinGroupRequest{Group: "g", Streams: s, Strategy: "range"}),
			want: sluicev1.ErrorCode_ERROR_CODE_INCONSISTENT_STRATEGY, field: "range"},
		{name: "join with a negative session timeout", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, SessionTimeoutMs: -1}),
			want: codeInvalid, field: "session_timeout_ms"},
		{name: "join with a session timeout too short",
			call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, SessionTimeoutMs: consumergroup.MinSessionTimeoutMs - 1}),
			want: codeInvalid, field: "session timeout"},
		{name: "join with a session timeout too long",
			call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, SessionTimeoutMs: consumergroup.MaxSessionTimeoutMs + 1}),
			want: codeInvalid, field: "session timeout"},
		{name: "join with a negative rebalance timeout", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, RebalanceTimeoutMs: -1}),
			want: codeInvalid, field: "rebalance_timeout_ms"},
		{name: "join with a rebalance timeout too long",
			call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, RebalanceTimeoutMs: consumergroup.MaxRebalanceTimeoutMs + 1}),
			want: codeInvalid, field: "rebalance timeout"},
		{name: "join with a member id too long", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, MemberId: longID}),
			want: codeInvalid, field: "member"},
		{name: "join with an instance id too long", call: join(&sluicev1.JoinGroupRequest{Group: "h", Streams: s, InstanceId: longID}),
			want: codeInvalid, field: "instance id"},
		{name: "join with an unknown member id", call: join(&sluicev1.JoinGroupRequest{Group: "g", Streams: s, MemberId: "ghost"}),
			want: codeUnknownMember, field: "ghost"},

		{name: "heartbeat with an empty group", call: heartbeat(&sluicev1.GroupHeartbeatRequest{MemberId: member, Generation: gen}),
			want: codeInvalid, field: "group"},
		{name: "heartbeat with an empty member id", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", Generation: gen}),
			want: codeInvalid, field: "member_id"},
		{name: "heartbeat with a member id too long", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: longID, Generation: gen}),
			want: codeInvalid, field: "member_id"},
		{name: "heartbeat with a negative generation", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: member, Generation: -1}),
			want: codeInvalid, field: "generation"},
		{name: "heartbeat with a negative max_wait_ms",
			call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: member, Generation: gen, MaxWaitMs: -1}),
			want: codeInvalid, field: "max_wait_ms"},
		{name: "heartbeat owning an empty stream name", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: member, Generation: gen,
			Owned: []*sluicev1.StreamPartitions{{Partitions: []int32{0}}}}), want: codeInvalid, field: "owned[0].stream"},
		{name: "heartbeat owning partition -1", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: member, Generation: gen,
			Owned: []*sluicev1.StreamPartitions{{Stream: "s", Partitions: []int32{0, -1}}}}), want: codeInvalid, field: "owned[0].partitions"},
		{name: "heartbeat of an unknown member", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "g", MemberId: "ghost", Generation: gen}),
			want: codeUnknownMember, field: "ghost"},
		{name: "heartbeat in an unknown group", call: heartbeat(&sluicev1.GroupHeartbeatRequest{Group: "nope", MemberId: member, Generation: gen}),
			want: codeUnknownMember, field: "nope"},

		{name: "leave an empty group", call: leave("", member), want: codeInvalid, field: "group"},
		{name: "leave with an empty member id", call: leave("g", ""), want: codeInvalid, field: "member_id"},
		{name: "leave an unknown group", call: leave("nope", member), want: codeUnknownGroup, field: "nope"},
		{name: "leave as an unknown member", call: leave("g", "ghost"), want: codeUnknownMember, field: "ghost"},

		{name: "commit to an empty group", call: commit(&sluicev1.CommitOffsetsRequest{MemberId: member, Generation: gen,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: codeInvalid, field: "group"},
		{name: "commit with an empty member id", call: commit(&sluicev1.CommitOffsetsRequest{Group: "g", Generation: gen,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: codeInvalid, field: "member_id"},
		{name: "commit with a negative generation", call: commit(&sluicev1.CommitOffsetsRequest{Group: "g", MemberId: member, Generation: -1,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: codeInvalid, field: "generation"},
		{name: "commit nothing", call: commit(commitOf()), want: codeInvalid, field: "offsets"},
		{name: "commit too many offsets", call: commit(commitOf(manyOffsets...)), want: codeInvalid, field: "offsets"},
		{name: "commit a partition twice", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Offset: 1},
			&sluicev1.OffsetCommit{Stream: "s", Offset: 2})), want: codeInvalid, field: "twice"},
		{name: "commit a negative offset", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Offset: -1})),
			want: codeInvalid, field: "offsets[0].offset"},
		{name: "commit metadata too long", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Offset: 1,
			Metadata: strings.Repeat("x", partition.MaxOffsetMetadataBytes+1)})), want: codeInvalid, field: "offsets[0].metadata"},
		{name: "commit to an empty stream name", call: commit(commitOf(&sluicev1.OffsetCommit{Offset: 1})),
			want: codeInvalid, field: "offsets[0].stream"},
		{name: "commit to partition -1", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Partition: -1, Offset: 1})),
			want: codeInvalid, field: "offsets[0].partition"},
		{name: "commit from an old generation", call: commit(&sluicev1.CommitOffsetsRequest{Group: "g", MemberId: member, Generation: gen - 1,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: sluicev1.ErrorCode_ERROR_CODE_STALE_GENERATION, field: "generation"},
		{name: "commit as an unknown member", call: commit(&sluicev1.CommitOffsetsRequest{Group: "g", MemberId: "ghost", Generation: gen,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: codeUnknownMember, field: "ghost"},
		{name: "commit to an unknown group", call: commit(&sluicev1.CommitOffsetsRequest{Group: "nope", MemberId: member, Generation: gen,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}}), want: codeUnknownGroup, field: "nope"},
		{name: "commit a partition not assigned", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Partition: 7, Offset: 1})),
			want: sluicev1.ErrorCode_ERROR_CODE_NOT_ASSIGNED, field: "s/7"},
		{name: "commit past the log end", call: commit(commitOf(&sluicev1.OffsetCommit{Stream: "s", Partition: 1, Offset: 99})),
			want: codeOutOfRange, field: "99"},

		{name: "fetch offsets of an empty group", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{}), want: codeInvalid, field: "group"},
		{name: "fetch offsets of an unknown group", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{Group: "nope"}), want: codeUnknownGroup, field: "nope"},
		{name: "fetch offsets of a bad stream name", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{Group: "g",
			Partitions: []*sluicev1.StreamPartitions{{Stream: "a/b", Partitions: []int32{0}}}}), want: codeInvalid, field: "partitions[0].stream"},
		{name: "fetch offsets of partition -1", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{Group: "g",
			Partitions: []*sluicev1.StreamPartitions{{Stream: "s", Partitions: []int32{-1}}}}), want: codeInvalid, field: "partitions[0].partitions"},
		{name: "fetch offsets of an unknown stream", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{Group: "g",
			Partitions: []*sluicev1.StreamPartitions{{Stream: "nope", Partitions: []int32{0}}}}), want: codeUnknownStream, field: "nope"},
		{name: "fetch offsets of an unknown partition", call: fetchOffsets(&sluicev1.FetchOffsetsRequest{Group: "g",
			Partitions: []*sluicev1.StreamPartitions{{Stream: "s", Partitions: []int32{9}}}}), want: codeUnknownPartition, field: "partition 9"},

		{name: "describe an empty group", call: describe(""), want: codeInvalid, field: "group"},
		{name: "describe an unknown group", call: describe("nope"), want: codeUnknownGroup, field: "nope"},

		{name: "reset an empty group", call: reset(&sluicev1.ResetOffsetsRequest{Stream: "s"}), want: codeInvalid, field: "group"},
		{name: "reset an unknown group", call: reset(&sluicev1.ResetOffsetsRequest{Group: "nope", Stream: "s"}), want: codeUnknownGroup, field: "nope"},
		{name: "reset a group with members", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s"}), want: codeGroupNotEmpty, field: "members"},
		{name: "reset on an empty stream name", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g"}), want: codeInvalid, field: "stream"},
		{name: "reset on an unknown stream", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "nope"}), want: codeUnknownStream, field: "nope"},
		{name: "reset partition -1", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Partitions: []int32{-1}}),
			want: codeUnknownPartition, field: "partition -1"},
		{name: "reset partition 2 of 2", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Partitions: []int32{2}}),
			want: codeUnknownPartition, field: "partition 2"},
		{name: "reset a partition twice", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Partitions: []int32{0, 0}}),
			want: codeInvalid, field: "partitions"},
		{name: "reset with an unknown spec", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s", Spec: 9}), want: codeInvalid, field: "spec"},
		{name: "reset to a negative offset", call: reset(&sluicev1.ResetOffsetsRequest{Group: "g", Stream: "s",
			Spec: sluicev1.ResetSpec_RESET_SPEC_OFFSET, Offset: -1}), want: codeInvalid, field: "offset"},

		{name: "delete an empty group", call: del(""), want: codeInvalid, field: "group"},
		{name: "delete an unknown group", call: del("nope"), want: codeUnknownGroup, field: "nope"},
		{name: "delete a group with members", call: del("g"), want: codeGroupNotEmpty, field: "members"},
	}
}

// queueCases are the queue calls. receipt is a live lease of queue q on
// partition 0 of its stream qs (2 partitions, dead letters to dlq);
// "plain" is another queue over qs, "cur" a cursor subscription.
func (c *tcluster) queueCases(receipt string) []badCase {
	create := func(req *sluicev1.CreateQueueRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).CreateQueue(ctx, req)
			return err
		}
	}
	createQ := func(q *sluicev1.Queue) func(context.Context, int) error {
		return create(&sluicev1.CreateQueueRequest{Queue: q})
	}
	del := func(name string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DeleteQueue(ctx, &sluicev1.DeleteQueueRequest{Name: name})
			return err
		}
	}
	describe := func(name string) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).DescribeQueue(ctx, &sluicev1.DescribeQueueRequest{Name: name})
			return err
		}
	}
	receive := func(req *sluicev1.ReceiveMessagesRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).ReceiveMessages(ctx, req)
			return err
		}
	}
	// The receipt calls return the request's error, else the first
	// receipt's.
	results := func(rs []*sluicev1.ReceiptResult, err error) error {
		if err != nil {
			return err
		}
		return entryErr(rs[0].GetError(), rs[0].GetErrorMessage())
	}
	ack := func(req *sluicev1.AckMessagesRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := c.api(n).AckMessages(ctx, req)
			return results(resp.GetResults(), err)
		}
	}
	nack := func(req *sluicev1.NackMessagesRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := c.api(n).NackMessages(ctx, req)
			return results(resp.GetResults(), err)
		}
	}
	extend := func(req *sluicev1.ExtendMessagesRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := c.api(n).ExtendMessages(ctx, req)
			return results(resp.GetResults(), err)
		}
	}
	purge := func(req *sluicev1.PurgeQueueRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).PurgeQueue(ctx, req)
			return err
		}
	}
	redrive := func(req *sluicev1.RedriveQueueRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := c.api(n).RedriveQueue(ctx, req)
			return err
		}
	}
	rc := []string{receipt}
	tooMany := make([]string, queue.MaxReceive+1)
	for i := range tooMany {
		tooMany[i] = receipt
	}
	return []badCase{
		{name: "create with no queue", call: create(&sluicev1.CreateQueueRequest{}), want: codeInvalid, field: "queue"},
		{name: "create with an empty name", call: createQ(&sluicev1.Queue{Stream: "qs"}), want: codeInvalid, field: "name"},
		{name: "create with a bad name", call: createQ(&sluicev1.Queue{Name: "a/b", Stream: "qs"}), want: codeInvalid, field: "name"},
		{name: "create with an empty stream name", call: createQ(&sluicev1.Queue{Name: "x"}), want: codeInvalid, field: "stream"},
		{name: "create with a negative visibility timeout", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", VisibilityTimeoutMs: -1}),
			want: codeInvalid, field: "visibility timeout"},
		{name: "create with a visibility timeout too long",
			call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", VisibilityTimeoutMs: metadata.MaxVisibilityTimeoutMs + 1}),
			want: codeInvalid, field: "visibility timeout"},
		{name: "create with negative max receives", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", MaxReceives: -1}),
			want: codeInvalid, field: "max receives"},
		{name: "create with too many max receives",
			call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", MaxReceives: metadata.MaxQueueReceives + 1, DeadLetterStream: "dlq"}),
			want: codeInvalid, field: "max receives"},
		{name: "create with max receives and no dead-letter stream", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", MaxReceives: 3}),
			want: codeInvalid, field: "max receives"},
		{name: "create dead-lettering into its own stream", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", DeadLetterStream: "qs"}),
			want: codeInvalid, field: "dead-letter stream"},
		{name: "create with a bad dead-letter stream name", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", DeadLetterStream: "a/b"}),
			want: codeInvalid, field: "dead-letter stream"},
		{name: "create with a negative delay", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", DelayMs: -1}), want: codeInvalid, field: "delay"},
		{name: "create with a delay too long", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", DelayMs: metadata.MaxQueueDelayMs + 1}),
			want: codeInvalid, field: "delay"},
		{name: "create with a bad filter", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", Filter: `{"key": 5}`}), want: codeInvalid, field: "filter"},
		{name: "create with a filter too long", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", Filter: bigFilter}), want: codeInvalid, field: "filter"},
		{name: "create a cursor that is no subscription", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", Cursor: true}),
			want: codeInvalid, field: "cursor"},
		{name: "create a fifo cursor", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", Subscription: true, Cursor: true, Fifo: true}),
			want: codeInvalid, field: "cursor"},
		{name: "create an existing queue", call: createQ(&sluicev1.Queue{Name: "q", Stream: "qs"}),
			want: sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS, field: "already exists"},
		{name: "create over an unknown stream", call: createQ(&sluicev1.Queue{Name: "x", Stream: "nope"}), want: codeUnknownStream, field: "nope"},
		{name: "create with an unknown dead-letter stream", call: createQ(&sluicev1.Queue{Name: "x", Stream: "qs", DeadLetterStream: "nope"}),
			want: codeUnknownStream, field: "nope"},
		{name: "create with negative partitions", call: create(&sluicev1.CreateQueueRequest{Queue: &sluicev1.Queue{Name: "x", Stream: "new"},
			CreateStream: true, Partitions: -1}), want: codeInvalid, field: "partitions"},
		{name: "create with partitions and no create_stream", call: create(&sluicev1.CreateQueueRequest{Queue: &sluicev1.Queue{Name: "x", Stream: "qs"},
			Partitions: 2}), want: codeInvalid, field: "partitions"},
		{name: "create a stream with too many partitions", call: create(&sluicev1.CreateQueueRequest{Queue: &sluicev1.Queue{Name: "x", Stream: "new"},
			CreateStream: true, Partitions: metadata.MaxPartitions + 1}), want: codeInvalid, field: "partitions"},
		{name: "create a stream for a bad queue", call: create(&sluicev1.CreateQueueRequest{CreateStream: true,
			Queue: &sluicev1.Queue{Name: "x", Stream: "new", VisibilityTimeoutMs: -1}}), want: codeInvalid, field: "visibility timeout"},
		{name: "create a stream for an existing queue", call: create(&sluicev1.CreateQueueRequest{CreateStream: true,
			Queue: &sluicev1.Queue{Name: "q", Stream: "new"}}), want: sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS, field: "already exists"},
		{name: "create a stream for a queue with an unknown dead-letter stream", call: create(&sluicev1.CreateQueueRequest{CreateStream: true,
			Queue: &sluicev1.Queue{Name: "x", Stream: "new", MaxReceives: 1, DeadLetterStream: "nope"}}), want: codeUnknownStream, field: "nope"},
		{name: "create with retention and no create_stream", call: create(&sluicev1.CreateQueueRequest{RetentionMs: 1000,
			Queue: &sluicev1.Queue{Name: "x", Stream: "new"}}), want: codeInvalid, field: "retention_ms"},
		{name: "create with a negative retention", call: create(&sluicev1.CreateQueueRequest{CreateStream: true, RetentionMs: -1,
			Queue: &sluicev1.Queue{Name: "x", Stream: "new"}}), want: codeInvalid, field: "retention_ms"},

		{name: "delete an empty name", call: del(""), want: codeInvalid, field: "name"},
		{name: "delete a bad name", call: del("a b"), want: codeInvalid, field: "name"},
		{name: "delete an unknown queue", call: del("nope"), want: codeUnknownQueue, field: "nope"},
		{name: "describe an empty name", call: describe(""), want: codeInvalid, field: "name"},
		{name: "describe a bad name", call: describe("a/b"), want: codeInvalid, field: "name"},
		{name: "describe an unknown queue", call: describe("nope"), want: codeUnknownQueue, field: "nope"},

		{name: "receive from an empty queue name", call: receive(&sluicev1.ReceiveMessagesRequest{Max: 1}), want: codeInvalid, field: "queue"},
		{name: "receive from a bad queue name", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "a b", Max: 1}), want: codeInvalid, field: "queue"},
		{name: "receive from an unknown queue", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "nope", Max: 1}), want: codeUnknownQueue, field: "nope"},
		{name: "receive from partition -1", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Partition: -1, Max: 1}),
			want: codeUnknownPartition, field: "partition -1"},
		{name: "receive from partition 2 of 2", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Partition: 2, Max: 1}),
			want: codeUnknownPartition, field: "partition 2"},
		{name: "receive zero messages", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q"}), want: codeInvalid, field: "max"},
		{name: "receive -1 messages", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Max: -1}), want: codeInvalid, field: "max"},
		{name: "receive too many messages", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Max: queue.MaxReceive + 1}),
			want: codeInvalid, field: "max"},
		{name: "receive with a negative wait", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Max: 1, WaitMs: -1}),
			want: codeInvalid, field: "wait_ms"},
		{name: "receive with a wait too long", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "q", Max: 1, WaitMs: 20001}),
			want: codeInvalid, field: "wait_ms"},
		{name: "receive from a cursor subscription", call: receive(&sluicev1.ReceiveMessagesRequest{Queue: "cur", Max: 1}),
			want: codeInvalid, field: "cursor"},

		{name: "ack no receipts", call: ack(&sluicev1.AckMessagesRequest{Queue: "q"}), want: codeInvalid, field: "receipts"},
		{name: "ack too many receipts", call: ack(&sluicev1.AckMessagesRequest{Queue: "q", Receipts: tooMany}), want: codeInvalid, field: "receipts"},
		{name: "ack on an empty queue name", call: ack(&sluicev1.AckMessagesRequest{Receipts: rc}), want: codeInvalid, field: "queue"},
		{name: "ack on an unknown queue", call: ack(&sluicev1.AckMessagesRequest{Queue: "nope", Receipts: rc}), want: codeUnknownQueue, field: "nope"},
		{name: "ack on partition 5", call: ack(&sluicev1.AckMessagesRequest{Queue: "q", Partition: 5, Receipts: rc}),
			want: codeUnknownPartition, field: "partition 5"},
		{name: "ack a garbage receipt", call: ack(&sluicev1.AckMessagesRequest{Queue: "q", Receipts: []string{"garbage"}}),
			want: codeBadReceipt, field: "receipt", lead: leadOf{"qs", 0}},
		{name: "ack an empty receipt", call: ack(&sluicev1.AckMessagesRequest{Queue: "q", Receipts: []string{""}}),
			want: codeBadReceipt, field: "receipt", lead: leadOf{"qs", 0}},
		{name: "ack a receipt on another partition", call: ack(&sluicev1.AckMessagesRequest{Queue: "q", Partition: 1, Receipts: rc}),
			want: codeBadReceipt, field: "partition", lead: leadOf{"qs", 1}},
		{name: "ack a receipt on another queue", call: ack(&sluicev1.AckMessagesRequest{Queue: "plain", Receipts: rc}),
			want: codeBadReceipt, field: "queue", lead: leadOf{"qs", 0}},

		{name: "nack no receipts", call: nack(&sluicev1.NackMessagesRequest{Queue: "q"}), want: codeInvalid, field: "receipts"},
		{name: "nack with a negative delay", call: nack(&sluicev1.NackMessagesRequest{Queue: "q", Receipts: rc, DelayMs: -1}),
			want: codeInvalid, field: "delay_ms"},
		{name: "nack with a delay too long", call: nack(&sluicev1.NackMessagesRequest{Queue: "q", Receipts: rc, DelayMs: queue.MaxDelay.Milliseconds() + 1}),
			want: codeInvalid, field: "delay_ms"},
		{name: "nack with a delay that overflows", call: nack(&sluicev1.NackMessagesRequest{Queue: "q", Receipts: rc, DelayMs: overflowMs}),
			want: codeInvalid, field: "delay_ms"},
		{name: "nack on an unknown queue", call: nack(&sluicev1.NackMessagesRequest{Queue: "nope", Receipts: rc}), want: codeUnknownQueue, field: "nope"},
		{name: "nack a garbage receipt", call: nack(&sluicev1.NackMessagesRequest{Queue: "q", Receipts: []string{"garbage"}}),
			want: codeBadReceipt, field: "receipt", lead: leadOf{"qs", 0}},

		{name: "extend no receipts", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q"}), want: codeInvalid, field: "receipts"},
		{name: "extend by a negative visibility", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q", Receipts: rc, VisibilityMs: -1}),
			want: codeInvalid, field: "visibility_ms"},
		{name: "extend by a visibility too long", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q", Receipts: rc,
			VisibilityMs: queue.MaxVisibility.Milliseconds() + 1}), want: codeInvalid, field: "visibility_ms"},
		{name: "extend by a visibility that overflows", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q", Receipts: rc, VisibilityMs: overflowMs}),
			want: codeInvalid, field: "visibility_ms"},
		{name: "extend on partition 2 of 2", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q", Partition: 2, Receipts: rc}),
			want: codeUnknownPartition, field: "partition 2"},
		{name: "extend a garbage receipt", call: extend(&sluicev1.ExtendMessagesRequest{Queue: "q", Receipts: []string{"garbage"}}),
			want: codeBadReceipt, field: "receipt", lead: leadOf{"qs", 0}},

		{name: "purge an empty queue name", call: purge(&sluicev1.PurgeQueueRequest{}), want: codeInvalid, field: "queue"},
		{name: "purge an unknown queue", call: purge(&sluicev1.PurgeQueueRequest{Queue: "nope"}), want: codeUnknownQueue, field: "nope"},
		{name: "purge partition 2 of 2", call: purge(&sluicev1.PurgeQueueRequest{Queue: "q", Partition: 2}), want: codeUnknownPartition, field: "partition 2"},
		{name: "purge a cursor subscription", call: purge(&sluicev1.PurgeQueueRequest{Queue: "cur"}), want: codeInvalid, field: "cursor"},

		{name: "redrive an empty queue name", call: redrive(&sluicev1.RedriveQueueRequest{}), want: codeInvalid, field: "queue"},
		{name: "redrive a bad queue name", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "a/b"}), want: codeInvalid, field: "queue"},
		{name: "redrive an unknown queue", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "nope"}), want: codeUnknownQueue, field: "nope"},
		{name: "redrive -1 messages", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "q", Max: -1}), want: codeInvalid, field: "max"},
		{name: "redrive too many messages", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "q", Max: maxRedrive + 1}), want: codeInvalid, field: "max"},
		{name: "redrive from partition 1 of 1", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "q", Partition: 1}),
			want: codeUnknownPartition, field: "partition 1"},
		{name: "redrive a queue with no dead-letter stream", call: redrive(&sluicev1.RedriveQueueRequest{Queue: "plain"}),
			want: codeInvalid, field: "dead-letter stream"},
	}
}

// internalCases are the nodes' internal calls.
func (c *tcluster) internalCases() []badCase {
	internal := func(n int) sluicev1.SluiceInternalClient { return sluicev1.NewSluiceInternalClient(c.conn(n)) }
	allocate := func(count int64) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			_, err := internal(n).AllocateProducerIDs(ctx, &sluicev1.AllocateProducerIDsRequest{Count: count})
			return err
		}
	}
	// offsets returns the request's error, else its first entry's.
	offsets := func(req *sluicev1.PartitionOffsetsRequest) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			resp, err := internal(n).PartitionOffsets(ctx, req)
			if err != nil {
				return err
			}
			return entryErr(resp.GetOffsets()[0].GetError(), resp.GetOffsets()[0].GetErrorMessage())
		}
	}
	commit := sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_COMMIT
	one := []*sluicev1.OffsetCommit{{Stream: "s", Offset: 1}}
	many := make([]*sluicev1.OffsetCommit, maxInternalOffsets+1)
	for i := range many {
		many[i] = &sluicev1.OffsetCommit{Stream: "s"}
	}
	return []badCase{
		{name: "ask the leaders of too many partitions", call: func(ctx context.Context, n int) error {
			_, err := internal(n).PartitionLeaders(ctx, &sluicev1.PartitionLeadersRequest{Partitions: make([]string, maxLeadersAsked+1)})
			return err
		}, want: codeInvalid, field: "partitions"},
		{name: "allocate no producer ids", call: allocate(0), want: codeInvalid, field: "count"},
		{name: "allocate -1 producer ids", call: allocate(-1), want: codeInvalid, field: "count"},
		{name: "allocate too many producer ids", call: allocate(metadata.MaxProducerIDBlock + 1), want: codeInvalid, field: "count"},
		{name: "offsets with an unknown op", call: offsets(&sluicev1.PartitionOffsetsRequest{Op: 9, Group: "g", Incarnation: 1, Offsets: one}),
			want: codeInvalid, field: "op"},
		{name: "offsets of too many entries", call: offsets(&sluicev1.PartitionOffsetsRequest{Group: "g", Incarnation: 1, Offsets: many}),
			want: codeInvalid, field: "offsets"},
		{name: "offsets of an empty group", call: offsets(&sluicev1.PartitionOffsetsRequest{Op: commit, Incarnation: 1, Offsets: one}),
			want: codeInvalid, field: "group"},
		{name: "offsets reset with an unknown spec", call: offsets(&sluicev1.PartitionOffsetsRequest{Op: sluicev1.PartitionOffsetsOp_PARTITION_OFFSETS_OP_RESET,
			Group: "g", Incarnation: 1, ResetSpec: 9, Offsets: one}), want: codeInvalid, field: "reset_spec"},
		{name: "offsets committed with no incarnation", call: offsets(&sluicev1.PartitionOffsetsRequest{Op: commit, Group: "g", Offsets: one}),
			want: codeInvalid, field: "incarnation", lead: leadOf{"s", 0}},
		{name: "offsets committed below 0", call: offsets(&sluicev1.PartitionOffsetsRequest{Op: commit, Group: "g", Incarnation: 1,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: -1}}}), want: codeInvalid, field: "offset", lead: leadOf{"s", 0}},
	}
}
