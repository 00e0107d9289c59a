package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// badCase is one bad request: call sends it to node n with a raw client
// and returns the error (a per-entry error of a response as an error, see
// entryErr). The answer must carry want in its ErrorDetail and a one-line
// message holding field (the field refused, or the name not found).
type badCase struct {
	name  string
	call  func(ctx context.Context, n int) error
	want  sluicev1.ErrorCode
	field string
	// lead names the partition whose leader is asked (only it answers);
	// none asks every node.
	lead leadOf
}

// leadOf names a partition of a stream; the zero leadOf names none.
type leadOf struct {
	stream string
	part   int
}

// entryErr turns a per-entry error of a response (a receipt's, an
// offset's) into a status error, or nil when there is none.
func entryErr(d *sluicev1.ErrorDetail, msg string) error {
	if d == nil {
		return nil
	}
	st, err := status.New(codes.Unknown, msg).WithDetails(d)
	if err != nil {
		return err
	}
	return st.Err()
}

// resealed returns b, one batch, with its header changed by edit and its
// CRC computed again: a batch that is bad for its contents, not for its
// bytes on the way.
func resealed(b []byte, edit func(b []byte)) []byte {
	b = bytes.Clone(b)
	edit(b)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestBadInput sends bad values of the request fields of every RPC, through
// raw clients, to every node (or to the partition's leader where only it
// can answer), and checks the ErrorDetail code and that the message names
// the field. At the end nothing stored has changed and the nodes serve.
func TestBadInput(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, 5*time.Minute)
	c.createStream(0, "s", 2, 3)
	c.createStream(0, "qs", 2, 3)
	c.createStream(0, "dlq", 1, 3)
	c.createQueue(0, &sluicev1.Queue{Name: "q", Stream: "qs", VisibilityTimeoutMs: 600000, MaxReceives: 3, DeadLetterStream: "dlq"})
	c.createQueue(0, &sluicev1.Queue{Name: "plain", Stream: "qs"})
	c.createQueue(0, &sluicev1.Queue{Name: "cur", Stream: "qs", Subscription: true, Cursor: true})
	for _, sp := range []struct {
		stream string
		part   int
	}{{"s", 0}, {"qs", 0}} {
		if err := c.onLeader(sp.stream, sp.part, func(api sluicev1.SluiceClient) error {
			_, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: sp.stream, Partition: int32(sp.part), Batch: records(t, 0, 5, plain)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A receipt of queue q, partition 0 (its lease outlasts the test).
	var receipt string
	if err := c.onLeader("qs", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "q", Max: 1})
		if len(resp.GetMessages()) == 1 {
			receipt = resp.GetMessages()[0].GetReceipt()
		}
		return err
	}); err != nil || receipt == "" {
		t.Fatalf("receive: %v (receipt %q)", err, receipt)
	}
	// A member of group g, with a session that outlasts the test, and a
	// committed offset.
	var join *sluicev1.JoinGroupResponse
	err := retry(t, func() (err error) {
		join, err = c.api(0).JoinGroup(ctx, &sluicev1.JoinGroupRequest{Group: "g", Streams: []string{"s"}, SessionTimeoutMs: 600000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	member, gen := join.GetMemberId(), join.GetGeneration()
	var commit *sluicev1.CommitOffsetsResponse
	err = retry(t, func() (err error) {
		commit, err = c.api(0).CommitOffsets(ctx, &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: member, Generation: gen,
			Offsets: []*sluicev1.OffsetCommit{{Stream: "s", Offset: 3, Metadata: "m"}}})
		return err
	})
	if err != nil || commit.GetResults()[0].GetError() != nil {
		t.Fatalf("commit: %v %v", commit, err)
	}
	before := c.storedState(ctx)

	families := []struct {
		name  string
		cases []badCase
	}{
		{"streams", c.streamCases()},
		{"records", c.recordCases()},
		{"groups", c.groupCases(member, gen)},
		{"queues", c.queueCases(receipt)},
		{"internal", c.internalCases()},
	}
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			for _, tc := range f.cases {
				nodes := []int{0, 1, 2}
				if tc.lead.stream != "" {
					nodes = []int{-1} // whoever leads at each attempt
				}
				for _, n := range nodes {
					via := "leader"
					if n >= 0 {
						via = c.ids[n]
					}
					t.Run(fmt.Sprintf("%s via %s", tc.name, via), func(t *testing.T) {
						err := retry(t, func() error {
							at := n
							if tc.lead.stream != "" {
								at = c.partitionLeader(tc.lead.stream, tc.lead.part)
							}
							// A request taken by mistake must not hang the test.
							cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
							defer cancel()
							return tc.call(cctx, at)
						})
						checkRefused(t, err, tc.want, tc.field)
					})
				}
			}
		})
	}

	if after := c.storedState(ctx); after != before {
		t.Errorf("stored state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The nodes still serve: a good produce through each, read back.
	for n := range 3 {
		var pr *sluicev1.ProduceResponse
		err := retry(t, func() (err error) {
			pr, err = c.api(n).Produce(ctx, &sluicev1.ProduceRequest{Stream: "s", Batch: records(t, 5+n, 1, plain)})
			return err
		})
		if err != nil || pr.GetBaseOffset() != int64(5+n) {
			t.Fatalf("produce through %s after the bad requests: %v, %v", c.ids[n], pr, err)
		}
	}
	var fr *sluicev1.FetchResponse
	if err := c.onLeader("s", 0, func(api sluicev1.SluiceClient) (err error) {
		fr, err = api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "s", Offset: 5})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if recs := decode(t, fr.GetBatches()); len(recs) != 3 || string(recs[2].Value) != "v7" {
		t.Fatalf("fetched %v", recs)
	}
}

// checkRefused checks that err carries code want and a one-line message
// that names field.
func checkRefused(t *testing.T, err error, want sluicev1.ErrorCode, field string) {
	t.Helper()
	d := detailOf(err)
	if d.GetCode() != want {
		t.Fatalf("got %v (detail %v), want %v", err, d, want)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(strings.ToLower(msg), strings.ToLower(field)) {
		t.Errorf("message %q does not name %q", msg, field)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one line", msg)
	}
}

// storedState prints what a bad request must not change: the streams and
// their offsets, the queues, the groups with their members and committed
// offsets.
func (c *tcluster) storedState(ctx context.Context) string {
	c.t.Helper()
	var b strings.Builder
	var streams *sluicev1.ListStreamsResponse
	if err := retry(c.t, func() (err error) {
		streams, err = c.api(0).ListStreams(ctx, &sluicev1.ListStreamsRequest{})
		return err
	}); err != nil {
		c.t.Fatal(err)
	}
	for _, st := range streams.GetStreams() {
		fmt.Fprintf(&b, "stream %s rf %d retention %d ms %d bytes, max record %d, created %d\n", st.GetName(), st.GetReplicationFactor(),
			st.GetRetentionMs(), st.GetRetentionBytes(), st.GetMaxRecordBytes(), st.GetCreatedAtMs())
		for p := range st.GetPartitions() {
			var lo *sluicev1.ListOffsetsResponse
			if err := c.onLeader(st.GetName(), p, func(api sluicev1.SluiceClient) (err error) {
				lo, err = api.ListOffsets(ctx, &sluicev1.ListOffsetsRequest{Stream: st.GetName(), Partition: int32(p)})
				return err
			}); err != nil {
				c.t.Fatal(err)
			}
			fmt.Fprintf(&b, "  partition %d: offsets %d to %d\n", p, lo.GetLogStartOffset(), lo.GetHighWatermark())
		}
	}
	var queues *sluicev1.ListQueuesResponse
	if err := retry(c.t, func() (err error) {
		queues, err = c.api(0).ListQueues(ctx, &sluicev1.ListQueuesRequest{})
		return err
	}); err != nil {
		c.t.Fatal(err)
	}
	for _, q := range queues.GetQueues() {
		fmt.Fprintf(&b, "queue %v\n", q)
	}
	var groups *sluicev1.ListGroupsResponse
	if err := retry(c.t, func() (err error) {
		groups, err = c.api(0).ListGroups(ctx, &sluicev1.ListGroupsRequest{})
		return err
	}); err != nil {
		c.t.Fatal(err)
	}
	for _, g := range groups.GetGroups() {
		fmt.Fprintf(&b, "group %s generation %d strategy %s streams %v\n", g.GetGroup(), g.GetGeneration(), g.GetStrategy(), g.GetStreams())
		var desc *sluicev1.DescribeGroupResponse
		if err := retry(c.t, func() (err error) {
			desc, err = c.api(0).DescribeGroup(ctx, &sluicev1.DescribeGroupRequest{Group: g.GetGroup()})
			return err
		}); err != nil {
			c.t.Fatal(err)
		}
		for _, m := range desc.GetMembers() {
			fmt.Fprintf(&b, "  member %s streams %v assigned %v owns %v\n", m.GetMemberId(), m.GetStreams(),
				toTPs(m.GetAssigned()), toTPs(m.GetOwned()))
		}
		for _, o := range desc.GetOffsets() {
			fmt.Fprintf(&b, "  offset %s/%d: %d %q\n", o.GetStream(), o.GetPartition(), o.GetCommitted(), o.GetMetadata())
		}
	}
	return b.String()
}
