package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// newClient connects the Go client to the cluster through the given
// nodes, with short backoffs; closed when the test ends.
func (c *tcluster) newClient(ctx context.Context, nodes ...int) *client.Client {
	c.t.Helper()
	var servers []string
	for _, i := range nodes {
		servers = append(servers, c.addrs[i])
	}
	cl, err := client.New(ctx, client.Config{Servers: servers, RequestTimeout: 5 * time.Second,
		RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// acked collects produce results.
type acked struct {
	mu   sync.Mutex
	at   map[int]client.RecordResult // by record number
	errs []error
	done chan struct{} // closed when want results are in
	want int
}

func newAcked(want int) *acked {
	return &acked{at: map[int]client.RecordResult{}, done: make(chan struct{}), want: want}
}

func (a *acked) callback(i int) func(client.RecordResult, error) {
	return func(r client.RecordResult, err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if err != nil {
			a.errs = append(a.errs, fmt.Errorf("record %d: %w", i, err))
		} else {
			a.at[i] = r
		}
		if len(a.at)+len(a.errs) == a.want {
			close(a.done)
		}
	}
}

// consumeAll reads stream from the earliest offsets until want records
// came, and checks that each record number comes once, that each key's
// records come in the order they were produced, and (when acks is given)
// at the offsets they were acknowledged with.
func consumeAll(t *testing.T, ctx context.Context, cl *client.Client, stream string, want, keys int, acks *acked, follow bool) {
	t.Helper()
	k, err := cl.NewConsumer(client.ConsumerConfig{MaxWait: 100 * time.Millisecond, Follow: follow})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.Assign(ctx, stream, nil, client.Earliest()); err != nil {
		t.Fatal(err)
	}
	seen := make(map[int]bool, want)
	last := make([]int, keys)
	for i := range last {
		last[i] = -1
	}
	for len(seen) < want {
		recs, err := k.Poll(ctx)
		if err != nil {
			t.Fatalf("Poll after %d records: %v", len(seen), err)
		}
		for _, r := range recs {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("record value %q", r.Value)
			}
			key := n % keys
			if string(r.Key) != fmt.Sprint("key-", key) {
				t.Fatalf("record %d has key %q", n, r.Key)
			}
			if seen[n] {
				t.Fatalf("record %d read twice (partition %d offset %d)", n, r.Partition, r.Offset)
			}
			seen[n] = true
			if n < last[key] {
				t.Fatalf("key %d: record %d read after %d", key, n, last[key])
			}
			last[key] = n
			if acks != nil {
				acks.mu.Lock()
				a, ok := acks.at[n]
				acks.mu.Unlock()
				if ok && (a.Partition != r.Partition || a.Offset != r.Offset) {
					t.Fatalf("record %d read at %d/%d, acknowledged at %d/%d", n, r.Partition, r.Offset, a.Partition, a.Offset)
				}
			}
		}
	}
}

// TestClientRoundTrip produces 10,000 keyed records with the Go client's
// idempotent producer (5 batches in flight per partition), through a node
// that leads nothing in particular, and reads them all back from the
// earliest offsets with its consumer, fetching and following.
func TestClientRoundTrip(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	cl := c.newClient(ctx, c.metaFollower())
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "events", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	c.settle("events")
	info, err := cl.DescribeStream(ctx, "events")
	if err != nil || len(info.Partitions) != 4 || info.ReplicationFactor != 3 || info.Retention != 0 || info.RetentionBytes != 0 {
		t.Fatalf("DescribeStream: %+v, %v", info, err)
	}

	const n, keys = 10000, 97
	p, err := cl.NewProducer(client.ProducerConfig{MaxInFlight: 5, Linger: time.Millisecond, BatchBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	acks := newAcked(n)
	for i := range n {
		rec := client.NewRecord("events", fmt.Appendf(nil, "key-%d", i%keys), []byte(strconv.Itoa(i)))
		p.Produce(ctx, rec, acks.callback(i))
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-acks.done
	if len(acks.errs) > 0 {
		t.Fatalf("%d records failed, first: %v", len(acks.errs), acks.errs[0])
	}
	consumeAll(t, ctx, cl, "events", n, keys, acks, false)
	consumeAll(t, ctx, cl, "events", n, keys, acks, true)

	// A partition whose leader cannot tell (being elected, or not
	// answering in time) is -1: wait until every one is known.
	total := int64(0)
	waitFor(t, 20*time.Second, "every partition's log range", func() bool {
		info, err = cl.DescribeStream(ctx, "events")
		if err != nil {
			t.Fatal(err)
		}
		total = 0
		for _, pi := range info.Partitions {
			if pi.HighWatermark < 0 || pi.LogStartOffset < 0 {
				return false
			}
			total += pi.HighWatermark - pi.LogStartOffset
		}
		return true
	})
	if total != n {
		t.Errorf("DescribeStream counts %d records, want %d", total, n)
	}
}

// TestClientAdmin runs the admin calls through a node that does not lead
// the metadata group: they are forwarded, and their errors keep their
// codes.
func TestClientAdmin(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	f := c.metaFollower()
	cl := c.newClient(ctx, f)
	info, err := cl.CreateStream(ctx, client.StreamConfig{Name: "a", Partitions: 2, ReplicationFactor: 2,
		Retention: time.Hour, MaxRecordBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if info.ReplicationFactor != 2 || info.Retention != time.Hour || info.MaxRecordBytes != 1000 || len(info.Partitions) != 2 {
		t.Fatalf("CreateStream: %+v", info)
	}
	if c.nodes[f].Metadata().Stream("a") == nil {
		t.Fatal("the forwarding node does not know the stream it just created")
	}
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "a", Partitions: 1}); !errors.Is(err, client.ErrStreamExists) {
		t.Fatalf("CreateStream again: %v", err)
	}
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "b", Partitions: 1, ReplicationFactor: 4}); !errors.Is(err, client.ErrNotEnoughNodes) {
		t.Fatalf("CreateStream with too many replicas: %v", err)
	}
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "b/c", Partitions: 1}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("CreateStream with a bad name: %v", err)
	}
	if info, err = cl.AlterStream(ctx, "a", client.SetRetention(0), client.SetRetentionBytes(5000)); err != nil ||
		info.Retention != 0 || info.RetentionBytes != 5000 {
		t.Fatalf("AlterStream: %+v, %v", info, err)
	}
	if _, err := cl.AlterStream(ctx, "zz", client.SetRetention(time.Minute)); !errors.Is(err, client.ErrUnknownStream) {
		t.Fatalf("AlterStream of an unknown stream: %v", err)
	}
	cli, err := cl.Cluster(ctx)
	if err != nil || len(cli.Nodes) != 3 || cli.MetadataLeaderID == "" || cli.AnsweredBy != c.ids[f] {
		t.Fatalf("Cluster: %+v, %v", cli, err)
	}
	if err := cl.DeleteStream(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteStream(ctx, "a"); !errors.Is(err, client.ErrUnknownStream) {
		t.Fatalf("DeleteStream again: %v", err)
	}
	if streams, err := cl.ListStreams(ctx); err != nil || len(streams) != 0 {
		t.Fatalf("ListStreams: %v, %v", streams, err)
	}
}
