package rpc

import (
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// TestLeaderDiscovery uses a stream with one replica per partition, so
// that each node hosts some partitions and not others: every node names
// every partition's leader (asking the hosting node about the others),
// forwards produces to partitions it does not host, and sends readers to
// the leader. A leader whose client port is down cannot be forwarded to:
// the answer is NOT_LEADER with its hint, nothing written.
func TestLeaderDiscovery(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	if _, err := c.api(0).CreateStream(ctx, &sluicev1.CreateStreamRequest{Name: "one", Partitions: 6, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	c.settle("one")
	leaders := make([]int, 6)
	for p := range leaders {
		leaders[p] = c.partitionLeader("one", p)
	}
	for i := range 3 {
		md, err := c.api(i).GetMetadata(ctx, &sluicev1.GetMetadataRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range md.GetStreams()[0].GetPartitions() {
			l := leaders[p.GetPartition()]
			if p.GetLeaderId() != c.ids[l] || p.GetLeaderAddr() != c.addrs[l] || len(p.GetReplicas()) != 1 {
				t.Errorf("%s says partition %d is led by %q at %q, want %s at %s", c.ids[i], p.GetPartition(),
					p.GetLeaderId(), p.GetLeaderAddr(), c.ids[l], c.addrs[l])
			}
		}
	}
	for p, l := range leaders {
		other := (l + 1) % 3
		pr, err := c.api(other).Produce(ctx, &sluicev1.ProduceRequest{Stream: "one", Partition: int32(p), Batch: records(t, 0, 2, plain)})
		if err != nil {
			t.Fatalf("produce to partition %d through %s: %v", p, c.ids[other], err)
		}
		if pr.GetLeaderId() != c.ids[l] || pr.GetLeaderAddr() != c.addrs[l] || pr.GetBaseOffset() != 0 {
			t.Errorf("forwarded produce to partition %d: %v", p, pr)
		}
		_, err = c.api(other).ListOffsets(ctx, &sluicev1.ListOffsetsRequest{Stream: "one", Partition: int32(p)})
		if d := detailOf(err); d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || d.GetLeaderAddr() != c.addrs[l] {
			t.Errorf("ListOffsets of partition %d on %s: %v", p, c.ids[other], err)
		}
	}
	ds, err := c.api(0).DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ds.GetStream().GetPartitions() {
		if p.GetHighWatermark() != 2 || p.GetLogStartOffset() != 0 {
			t.Errorf("DescribeStream partition %v", p)
		}
	}

	// The client port of partition 0's leader goes down; its node stays.
	l := leaders[0]
	if err := c.srvs[l].Close(); err != nil {
		t.Fatal(err)
	}
	// A forward on a connection that was up and breaks as it is used is
	// OUTCOME_UNKNOWN (it may have been sent); once the forwarding node
	// sees the connection down, it is NOT_LEADER.
	other := (l + 1) % 3
	waitFor(t, 10*time.Second, "NOT_LEADER from a node that cannot forward", func() bool {
		_, err := c.api(other).Produce(ctx, &sluicev1.ProduceRequest{Stream: "one", Partition: 0, Batch: records(t, 2, 2, plain)})
		switch d := detailOf(err); {
		case d.GetCode() == sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN && d.GetRetriable():
			return false
		case d.GetCode() == sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER && d.GetLeaderAddr() == "":
			return false // an election on a loaded machine: the node knows no leader for now
		case d.GetCode() != sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER || !d.GetRetriable() || d.GetLeaderAddr() != c.addrs[l]:
			t.Fatalf("produce through %s to a leader that does not answer: %v", c.ids[other], err)
		}
		return true
	})
	r, _ := c.nodes[l].Partition(c.nodes[l].Metadata().Stream("one").Partitions[0].ID)
	if hw := r.HighWatermark(); hw != 2 {
		t.Errorf("high watermark %d after a produce that could not be forwarded", hw)
	}
}
