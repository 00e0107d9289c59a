package rpc

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
)

// TestBadRequests sends requests that must be refused, to the partition's
// leader and to a follower, and checks the ErrorDetail code (and that the
// node goes on serving: a bad request never brings anything down).
func TestBadRequests(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	if _, err := c.api(0).CreateStream(ctx, &sluicev1.CreateStreamRequest{Name: "s", Partitions: 2, MaxRecordBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	c.settle("s")
	if err := c.onLeader("s", 0, func(api sluicev1.SluiceClient) error {
		_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Batch: records(t, 0, 5, plain)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lead := c.partitionLeader("s", 0)

	good := records(t, 0, 3, plain)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 0xff
	big := make([]byte, 2000)
	tooLarge, err := batch.Append(nil, []batch.Record{{Key: []byte("k"), Value: big}}, plain)
	if err != nil {
		t.Fatal(err)
	}
	bigBatch := make([]byte, 1000+8<<20+1)
	zstdBig, err := batch.Append(nil, []batch.Record{{Value: bytes.Repeat([]byte("a"), 4000)}}, batch.EncodeOptions{ProducerID: -1, Codec: batch.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	twoBatches := append(bytes.Clone(good), good...)
	const (
		invalidArg  = sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT
		unknownStr  = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_STREAM
		unknownPart = sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION
		badBatch    = sluicev1.ErrorCode_ERROR_CODE_INVALID_BATCH
		tooBig      = sluicev1.ErrorCode_ERROR_CODE_RECORD_TOO_LARGE
		outOfRange  = sluicev1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE
		outOfOrder  = sluicev1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE
	)
	produce := func(stream string, part int32, b []byte, acks sluicev1.Acks) func(context.Context, sluicev1.SluiceClient) error {
		return func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: stream, Partition: part, Batch: b, Acks: acks})
			return err
		}
	}
	fetch := func(part int32, off int64, maxBytes, wait int32) func(context.Context, sluicev1.SluiceClient) error {
		return func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "s", Partition: part, Offset: off, MaxBytes: maxBytes, MaxWaitMs: wait})
			return err
		}
	}
	follow := func(part int32, off int64, maxBytes int32) func(context.Context, sluicev1.SluiceClient) error {
		return func(ctx context.Context, api sluicev1.SluiceClient) error {
			fs, err := api.Follow(ctx, &sluicev1.FollowRequest{Stream: "s", Partition: part, Offset: off, MaxBytes: maxBytes})
			if err != nil {
				return err
			}
			_, err = fs.Recv()
			return err
		}
	}
	listOffsets := func(stream string, part int32, spec sluicev1.OffsetSpec) func(context.Context, sluicev1.SluiceClient) error {
		return func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.ListOffsets(ctx, &sluicev1.ListOffsetsRequest{Stream: stream, Partition: part, Spec: spec})
			return err
		}
	}
	create := func(req *sluicev1.CreateStreamRequest) func(context.Context, sluicev1.SluiceClient) error {
		return func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.CreateStream(ctx, req)
			return err
		}
	}
	cases := []struct {
		name string
		call func(context.Context, sluicev1.SluiceClient) error
		want sluicev1.ErrorCode
	}{
		{"produce to an unknown stream", produce("nope", 0, good, 0), unknownStr},
		{"produce to partition -1", produce("s", -1, good, 0), unknownPart},
		{"produce to partition 2 of 2", produce("s", 2, good, 0), unknownPart},
		{"produce an empty batch", produce("s", 0, nil, 0), badBatch},
		{"produce a corrupt batch", produce("s", 0, corrupt, 0), badBatch},
		{"produce a truncated batch", produce("s", 0, good[:len(good)-3], 0), badBatch},
		{"produce garbage", produce("s", 0, []byte("not a record batch at all, not at all"), 0), badBatch},
		{"produce two batches", produce("s", 0, twoBatches, 0), badBatch},
		{"produce a record too large", produce("s", 0, tooLarge, 0), tooBig},
		{"produce a batch too large", produce("s", 0, bigBatch, 0), tooBig},
		{"produce with bad acks", produce("s", 0, good, 7), invalidArg},
		{"produce out of order", produce("s", 0, records(t, 0, 1, batch.EncodeOptions{ProducerID: 1 << 40, BaseSequence: 5}), 0), outOfOrder},
		{"fetch an unknown stream", func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "nope"})
			return err
		}, unknownStr},
		{"fetch partition -1", fetch(-1, 0, 0, 0), unknownPart},
		{"fetch partition 9", fetch(9, 0, 0, 0), unknownPart},
		{"fetch negative max_bytes", fetch(0, 0, -1, 0), invalidArg},
		{"fetch negative max_wait_ms", fetch(0, 0, 0, -1), invalidArg},
		{"fetch above the high watermark", fetch(0, 6, 0, 0), outOfRange},
		{"fetch a negative offset", fetch(0, -1, 0, 0), outOfRange},
		{"follow above the high watermark", follow(0, 100, 0), outOfRange},
		{"follow negative max_bytes", follow(0, 0, -5), invalidArg},
		{"follow an unknown partition", follow(3, 0, 0), unknownPart},
		{"list offsets of an unknown stream", listOffsets("nope", 0, 0), unknownStr},
		{"list offsets with a bad spec", listOffsets("s", 0, 9), invalidArg},
		{"describe an unknown stream", func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: "nope"})
			return err
		}, unknownStr},
		{"create with no partitions", create(&sluicev1.CreateStreamRequest{Name: "x"}), invalidArg},
		{"create with negative partitions", create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: -3}), invalidArg},
		{"create with an empty name", create(&sluicev1.CreateStreamRequest{Partitions: 1}), invalidArg},
		{"create with a negative retention", create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, RetentionMs: -5}), invalidArg},
		{"create with a huge record limit", create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, MaxRecordBytes: metadata.MaxRecordBytesLimit + 1}), invalidArg},
		{"create an existing stream", create(&sluicev1.CreateStreamRequest{Name: "s", Partitions: 1}), sluicev1.ErrorCode_ERROR_CODE_STREAM_EXISTS},
		{"create with too many replicas", create(&sluicev1.CreateStreamRequest{Name: "x", Partitions: 1, ReplicationFactor: 5}), sluicev1.ErrorCode_ERROR_CODE_NOT_ENOUGH_NODES},
		{"delete an unknown stream", func(ctx context.Context, api sluicev1.SluiceClient) error {
			_, err := api.DeleteStream(ctx, &sluicev1.DeleteStreamRequest{Name: "nope"})
			return err
		}, unknownStr},
	}
	// A follower answers these NOT_LEADER first: only the leader knows.
	leaderOnly := map[string]bool{"fetch above the high watermark": true, "fetch a negative offset": true,
		"follow above the high watermark": true}
	for _, tc := range cases {
		for _, node := range []int{lead, (lead + 1) % 3} {
			if leaderOnly[tc.name] && node != lead {
				continue
			}
			t.Run(fmt.Sprintf("%s via %s", tc.name, c.ids[node]), func(t *testing.T) {
				err := retry(t, func() error {
					if leaderOnly[tc.name] {
						node = c.partitionLeader("s", 0) // it may have moved
					}
					return tc.call(ctx, c.api(node))
				})
				d := detailOf(err)
				if d.GetCode() != tc.want {
					t.Fatalf("got %v (detail %v), want %v", err, d, tc.want)
				}
				if msg := status.Convert(err).Message(); msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("message %q is not one line", msg)
				}
			})
		}
	}
	// Reads on a node that does not lead the partition are refused with
	// the leader's client address; a forwarded produce that reaches a
	// non-leader is not forwarded again.
	waitFor(t, 10*time.Second, "NOT_LEADER answers naming the leader", func() bool {
		lead := c.partitionLeader("s", 0)
		f := (lead + 1) % 3
		_, err := c.api(f).Fetch(ctx, &sluicev1.FetchRequest{Stream: "s", Partition: 0})
		d := detailOf(err)
		if d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || !d.GetRetriable() ||
			d.GetLeaderId() != c.ids[lead] || d.GetLeaderAddr() != c.addrs[lead] || status.Code(err) != codes.FailedPrecondition {
			t.Logf("fetch from a follower: %v", err)
			return false
		}
		_, err = c.api(f).Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Partition: 0, Batch: good, Forwarded: true})
		if d := detailOf(err); d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || d.GetLeaderAddr() != c.addrs[lead] {
			t.Logf("forwarded produce to a follower: %v", err)
			return false
		}
		return true
	})
	// A compressed batch within the limit is taken even though its record,
	// decompressed, is above it (the limit holds compressed batches as a
	// whole, as in Kafka); the nodes still serve.
	if len(zstdBig) > 1000 {
		t.Fatalf("the zstd batch is %d bytes", len(zstdBig))
	}
	var pr *sluicev1.ProduceResponse
	err = retry(t, func() (err error) {
		pr, err = c.api((c.partitionLeader("s", 0)+1)%3).Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Partition: 0, Batch: zstdBig})
		return err
	})
	if err != nil || pr.GetBaseOffset() != 5 {
		t.Fatalf("compressed produce: %v, %v", pr, err)
	}
}
