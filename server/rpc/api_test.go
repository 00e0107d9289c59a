package rpc

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/metadata"
)

// TestRawAPI walks every RPC of the API with the generated client: admin
// and metadata calls, producing (plain and idempotent, to the leader and
// through a follower), fetching, following, listing offsets, and the
// internal calls. Calls that an election may refuse are retried.
func TestRawAPI(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t, time.Minute)
	c.waitReady()
	l := c.metaLeader()
	f := (l + 1) % 3

	var cl *sluicev1.GetClusterResponse
	waitFor(t, 10*time.Second, "GetCluster to name the metadata leader", func() bool {
		var err error
		cl, err = c.api(f).GetCluster(ctx, &sluicev1.GetClusterRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return cl.GetMetadataLeaderId() == c.ids[c.metaLeader()]
	})
	if cl.GetNodeId() != c.ids[f] || len(cl.GetNodes()) != 3 {
		t.Fatalf("GetCluster: %v", cl)
	}
	for _, n := range cl.GetNodes() {
		if n.GetClientAddr() != c.addrs[c.index(n.GetId())] || n.GetState() != "active" {
			t.Errorf("node %v: want client address %s, active", n, c.addrs[c.index(n.GetId())])
		}
	}

	var cr *sluicev1.CreateStreamResponse
	err := retry(t, func() (err error) {
		cr, err = c.api(c.metaLeader()).CreateStream(ctx, &sluicev1.CreateStreamRequest{Name: "orders", Partitions: 3, RetentionBytes: 1 << 30})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st := cr.GetStream()
	if st.GetName() != "orders" || len(st.GetPartitions()) != 3 || st.GetReplicationFactor() != 3 ||
		st.GetRetentionMs() != metadata.Unlimited || st.GetRetentionBytes() != 1<<30 ||
		st.GetMaxRecordBytes() != metadata.DefaultMaxRecordBytes || st.GetCreatedAtMs() == 0 {
		t.Fatalf("CreateStream: %v", st)
	}
	c.settle("orders")

	// Every node names every partition's leader, at its client address.
	for i := range 3 {
		waitFor(t, 10*time.Second, fmt.Sprintf("%s to name the partition leaders", c.ids[i]), func() bool {
			md, err := c.api(i).GetMetadata(ctx, &sluicev1.GetMetadataRequest{Streams: []string{"orders", "nope"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(md.GetStreams()) != 1 || len(md.GetNodes()) != 3 {
				t.Fatalf("GetMetadata from %s: %v", c.ids[i], md)
			}
			for _, p := range md.GetStreams()[0].GetPartitions() {
				if len(p.GetReplicas()) != 3 || len(p.GetHashKeyStart()) != 16 || len(p.GetHashKeyEnd()) != 16 ||
					p.GetLogStartOffset() != -1 || p.GetHighWatermark() != -1 || p.GetId() == "" {
					t.Fatalf("partition info %v", p)
				}
				lead := c.partitionLeader("orders", int(p.GetPartition()))
				if p.GetLeaderId() != c.ids[lead] || p.GetLeaderAddr() != c.addrs[lead] {
					return false
				}
			}
			return true
		})
	}

	// Produce to partition 0: a plain batch to the leader, an idempotent
	// one through a follower (forwarded), its retry (a duplicate).
	var pr *sluicev1.ProduceResponse
	err = c.onLeader("orders", 0, func(api sluicev1.SluiceClient) (err error) {
		pr, err = api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "orders", Partition: 0, Batch: records(t, 0, 10, plain)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lead := c.index(pr.GetLeaderId())
	if pr.GetBaseOffset() != 0 || pr.GetLastOffset() != 9 || pr.GetDuplicate() || pr.GetLeaderAddr() != c.addrs[lead] {
		t.Fatalf("Produce: %v", pr)
	}
	follower := (lead + 1) % 3
	var ip *sluicev1.InitProducerResponse
	if err := retry(t, func() (err error) {
		ip, err = c.api(follower).InitProducer(ctx, &sluicev1.InitProducerRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	idem := records(t, 10, 5, batch.EncodeOptions{ProducerID: ip.GetProducerId(), BaseSequence: 0})
	for attempt, dup := range []bool{false, true} {
		err := retry(t, func() (err error) {
			pr, err = c.api(follower).Produce(ctx, &sluicev1.ProduceRequest{Stream: "orders", Partition: 0, Batch: idem})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if pr.GetBaseOffset() != 10 || pr.GetLastOffset() != 14 || pr.GetDuplicate() != dup || pr.GetLeaderId() == c.ids[follower] {
			t.Fatalf("forwarded Produce attempt %d: %v", attempt, pr)
		}
	}
	// ACKS_NONE answers at once, without offsets; the batch lands.
	err = c.onLeader("orders", 0, func(api sluicev1.SluiceClient) (err error) {
		pr, err = api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "orders", Partition: 0,
			Batch: records(t, 15, 5, plain), Acks: sluicev1.Acks_ACKS_NONE})
		return err
	})
	if err != nil || pr.GetBaseOffset() != -1 {
		t.Fatalf("ACKS_NONE Produce: %v, %v", pr, err)
	}

	// Fetch everything back (waiting for the ACKS_NONE batch).
	var got []batch.Record
	for off := int64(0); off < 20; {
		var fr *sluicev1.FetchResponse
		err := c.onLeader("orders", 0, func(api sluicev1.SluiceClient) (err error) {
			fr, err = api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "orders", Partition: 0, Offset: off, MaxWaitMs: 1000})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		recs := decode(t, fr.GetBatches())
		if len(recs) == 0 {
			t.Fatalf("no records at %d (hw %d)", off, fr.GetHighWatermark())
		}
		if fr.GetNextOffset() != recs[len(recs)-1].Offset+1 || fr.GetLogStartOffset() != 0 {
			t.Fatalf("Fetch at %d: next %d after %d records, log start %d", off, fr.GetNextOffset(), len(recs), fr.GetLogStartOffset())
		}
		got = append(got, recs...)
		off = fr.GetNextOffset()
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Key) != fmt.Sprint("k", i) || string(r.Value) != fmt.Sprint("v", i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}

	// ListOffsets.
	for _, tc := range []struct {
		spec sluicev1.OffsetSpec
		ts   int64
		want int64
	}{
		{sluicev1.OffsetSpec_OFFSET_SPEC_EARLIEST, 0, 0},
		{sluicev1.OffsetSpec_OFFSET_SPEC_LATEST, 0, 20},
		{sluicev1.OffsetSpec_OFFSET_SPEC_TIMESTAMP, 1012, 12},
		{sluicev1.OffsetSpec_OFFSET_SPEC_TIMESTAMP, 1 << 40, 20},
	} {
		var lo *sluicev1.ListOffsetsResponse
		err := c.onLeader("orders", 0, func(api sluicev1.SluiceClient) (err error) {
			lo, err = api.ListOffsets(ctx, &sluicev1.ListOffsetsRequest{Stream: "orders", Partition: 0, Spec: tc.spec, TimestampMs: tc.ts})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if lo.GetOffset() != tc.want || lo.GetHighWatermark() != 20 || lo.GetLogStartOffset() != 0 {
			t.Errorf("ListOffsets %v %d: %v, want offset %d", tc.spec, tc.ts, lo, tc.want)
		}
	}

	// Follow from 18: the two records there, then what comes.
	fctx, cancel := context.WithCancel(ctx)
	var m *sluicev1.FetchResponse
	var fs sluicev1.Sluice_FollowClient
	err = c.onLeader("orders", 0, func(api sluicev1.SluiceClient) (err error) {
		if fs, err = api.Follow(fctx, &sluicev1.FollowRequest{Stream: "orders", Partition: 0, Offset: 18}); err != nil {
			return err
		}
		m, err = fs.Recv()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.GetNextOffset() != 20 {
		t.Fatalf("first Follow message: next %d", m.GetNextOffset())
	}
	if err := retry(t, func() error {
		_, err := c.api(follower).Produce(ctx, &sluicev1.ProduceRequest{Stream: "orders", Partition: 0, Batch: records(t, 20, 3, plain)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m, err = fs.Recv()
	if err != nil && !nothingDone(err) {
		t.Fatal(err)
	}
	if err == nil {
		if recs := decode(t, m.GetBatches()); len(recs) != 3 || recs[0].Offset != 20 || m.GetNextOffset() != 23 || m.GetHighWatermark() != 23 {
			t.Fatalf("Follow after a produce: %d records, next %d, hw %d", len(recs), m.GetNextOffset(), m.GetHighWatermark())
		}
	}
	cancel()
	if _, err := fs.Recv(); err == nil || err == io.EOF {
		t.Fatalf("Follow after cancel: %v", err)
	}

	// DescribeStream from a follower: offsets from the leaders.
	waitFor(t, 10*time.Second, "DescribeStream with every partition's offsets", func() bool {
		ds, err := c.api(follower).DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ds.GetStream().GetPartitions() {
			want := int64(0)
			if p.GetPartition() == 0 {
				want = 23
			}
			if p.GetHighWatermark() != want || p.GetLogStartOffset() != 0 || p.GetLeaderId() == "" {
				return false
			}
		}
		return true
	})

	ls, err := c.api(follower).ListStreams(ctx, &sluicev1.ListStreamsRequest{})
	if err != nil || len(ls.GetStreams()) != 1 || ls.GetStreams()[0].GetName() != "orders" {
		t.Fatalf("ListStreams: %v, %v", ls, err)
	}
	ms, zero := int64(60000), int64(0)
	var as *sluicev1.AlterStreamResponse
	err = retry(t, func() (err error) {
		as, err = c.api(follower).AlterStream(ctx, &sluicev1.AlterStreamRequest{Name: "orders", RetentionMs: &ms})
		return err
	})
	if err != nil || as.GetStream().GetRetentionMs() != ms || as.GetStream().GetRetentionBytes() != 1<<30 {
		t.Fatalf("AlterStream: %v, %v", as, err)
	}
	err = retry(t, func() (err error) {
		as, err = c.api(c.metaLeader()).AlterStream(ctx, &sluicev1.AlterStreamRequest{Name: "orders", RetentionBytes: &zero})
		return err
	})
	if err != nil || as.GetStream().GetRetentionMs() != ms || as.GetStream().GetRetentionBytes() != metadata.Unlimited {
		t.Fatalf("AlterStream to unlimited: %v, %v", as, err)
	}

	// Producer ids from different nodes never repeat.
	seen := map[int64]bool{ip.GetProducerId(): true}
	for i := range 6 {
		err := retry(t, func() (err error) {
			ip, err = c.api(i%3).InitProducer(ctx, &sluicev1.InitProducerRequest{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen[ip.GetProducerId()] || ip.GetProducerEpoch() != 0 {
			t.Fatalf("InitProducer from %s: %v (seen %v)", c.ids[i%3], ip, seen)
		}
		seen[ip.GetProducerId()] = true
	}

	// The internal leaders call, as another node makes it.
	ids := []string{st.GetPartitions()[0].GetId(), "s999-p0"}
	waitFor(t, 10*time.Second, "PartitionLeaders to name the leader", func() bool {
		pl, err := sluicev1.NewSluiceInternalClient(c.conn(follower)).PartitionLeaders(ctx, &sluicev1.PartitionLeadersRequest{Partitions: ids})
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.GetLeaders()) != 2 || !pl.GetLeaders()[0].GetHosted() || pl.GetLeaders()[1].GetHosted() {
			t.Fatalf("PartitionLeaders: %v", pl)
		}
		return pl.GetLeaders()[0].GetLeaderId() == c.ids[c.partitionLeader("orders", 0)]
	})

	if err := retry(t, func() error {
		_, err := c.api(follower).DeleteStream(ctx, &sluicev1.DeleteStreamRequest{Name: "orders"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The follower forwarded it, or led the metadata group: either way
	// its own metadata shows it.
	if ls, err := c.api(follower).ListStreams(ctx, &sluicev1.ListStreamsRequest{}); err != nil || len(ls.GetStreams()) != 0 {
		t.Fatalf("ListStreams after DeleteStream: %v, %v", ls, err)
	}
}
