package natsdriver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicedb/sluice/bench"
)

// TestStreamMode sends keyed and unkeyed records, asynchronously and
// synchronously, to a 3-partition topic with two subscriptions, one read
// by two consumers and one by a single consumer: each subscription must
// receive every record exactly once, and keyed records must land on
// their key's partition. It runs with producers connected to any server
// and to the partition leaders.
func TestStreamMode(t *testing.T) {
	for _, opts := range []Options{{}, {LeaderConnections: true}} {
		t.Run(fmt.Sprintf("leader_connections=%v", opts.LeaderConnections), func(t *testing.T) {
			testStreamMode(t, opts)
		})
	}
}

func testStreamMode(t *testing.T, opts Options) {
	d := newDriverOpts(t, opts)
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 3, Subscriptions: []string{"a", "b"}})
	subs := map[string]*collector{"a": newCollector(), "b": newCollector()}
	for _, c := range []bench.ConsumerSpec{
		{Topic: topic, Partitions: 3, Subscription: "a", Index: 0, Count: 2},
		{Topic: topic, Partitions: 3, Subscription: "a", Index: 1, Count: 2},
		{Topic: topic, Partitions: 3, Subscription: "b", Index: 0, Count: 1},
	} {
		k, err := d.NewConsumer(t.Context(), c, subs[c.Subscription].handle)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := k.Close(); err != nil {
				t.Error(err)
			}
		}()
	}

	keyed := payloads("keyed", 300)
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i%7) }
	var all []string
	for _, tc := range []struct {
		name        string
		maxInFlight int
		payloads    []string
		key         func(int) []byte
	}{
		{"async keyed", 0, keyed, key},
		{"async unkeyed", 100, payloads("unkeyed", 300), nil},
		{"sync keyed", 1, payloads("sync", 30), key},
	} {
		p, err := d.NewProducer(t.Context(), topic, bench.ProducerOptions{MaxInFlight: tc.maxInFlight})
		if err != nil {
			t.Fatal(err)
		}
		if opts.LeaderConnections {
			checkLeaderRoutes(t, d, topic, p.(*producer))
		}
		send(t, p, tc.payloads, tc.key)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		all = append(all, tc.payloads...)
	}
	for name, c := range subs {
		c.wait(t, "subscription "+name, all)
	}

	// Partition 0 holds its share of the keyed records and a third of the
	// unkeyed ones (round robin).
	want := 0
	for i := range keyed {
		h := fnv.New32a()
		_, _ = h.Write(key(i))
		if h.Sum32()%3 == 0 {
			want++
		}
	}
	for i := range 30 {
		h := fnv.New32a()
		_, _ = h.Write(key(i))
		if h.Sum32()%3 == 0 {
			want++
		}
	}
	want += 100
	s, err := d.js.Stream(t.Context(), streamName(topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Errorf("partition 0: %d replicas configured, cluster %+v; want 3", info.Config.Replicas, info.Cluster)
	}
	if got := s.CachedInfo().State.Msgs; got != uint64(want) {
		t.Errorf("partition 0 holds %d records, want %d", got, want)
	}
}

// checkLeaderRoutes checks that each partition publishes through a
// connection to its stream's leader.
func checkLeaderRoutes(t *testing.T, d *Driver, topic string, p *producer) {
	t.Helper()
	leaders := map[string]bool{}
	for i, j := range p.route {
		s, err := d.js.Stream(t.Context(), streamName(topic, i))
		if err != nil {
			t.Fatal(err)
		}
		leader := s.CachedInfo().Cluster.Leader
		leaders[leader] = true
		if got := p.conns[j].nc.ConnectedServerName(); got != leader {
			t.Errorf("partition %d publishes through %s, its leader is %s", i, got, leader)
		}
	}
	if len(p.conns) != len(leaders) {
		t.Errorf("%d connections for %d leaders", len(p.conns), len(leaders))
	}
}

// TestQueueMode has three consumers share one queue subscription: together
// they receive every record once, and every record is acked.
func TestQueueMode(t *testing.T) {
	d := newDriver(t)
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 3, Subscriptions: []string{"q"}, Queue: true})
	got := newCollector()
	counts := make([]*collector, 3)
	for i := range counts {
		counts[i] = newCollector()
		k, err := d.NewConsumer(t.Context(), bench.ConsumerSpec{Topic: topic, Partitions: 3, Subscription: "q", Index: i, Count: 3, Queue: true},
			func(p []byte) { got.handle(p); counts[i].handle(p) })
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := k.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	p, err := d.NewProducer(t.Context(), topic, bench.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	recs := payloads("q", 600)
	send(t, p, recs, nil)
	got.wait(t, "queue", recs)
	for i, c := range counts {
		c.mu.Lock()
		t.Logf("consumer %d received %d records", i, c.n)
		c.mu.Unlock()
	}

	// Every record is acked: nothing stays pending on any partition.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 3; {
		c, err := d.js.Consumer(t.Context(), streamName(topic, i), "q")
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if info.NumAckPending == 0 && info.NumPending == 0 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %d: %d records unacked, %d pending", i, info.NumAckPending, info.NumPending)
		}
		<-tick.C
	}
}

// TestAcksNone publishes with core NATS: the stream still stores every
// record and the subscription receives them.
func TestAcksNone(t *testing.T) {
	d := newDriver(t)
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 2, Subscriptions: []string{"s"}})
	got := newCollector()
	k, err := d.NewConsumer(t.Context(), bench.ConsumerSpec{Topic: topic, Subscription: "s", Count: 1}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k.Close() }()
	p, err := d.NewProducer(t.Context(), topic, bench.ProducerOptions{AcksNone: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	recs := payloads("none", 200)
	send(t, p, recs, nil)
	got.wait(t, "acks none", recs)
}

// TestDeleteTopic checks that the partition streams, and so their
// consumers, are gone.
func TestDeleteTopic(t *testing.T) {
	d := newDriver(t)
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 3, Subscriptions: []string{"s"}})
	// Creating the same topic again is a no-op.
	if err := d.CreateTopic(t.Context(), bench.TopicSpec{Name: topic, Partitions: 3, Subscriptions: []string{"s"}}); err != nil {
		t.Fatalf("second CreateTopic: %v", err)
	}
	if err := d.DeleteTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := d.js.Stream(t.Context(), streamName(topic, i)); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream %s after DeleteTopic: %v, want not found", streamName(topic, i), err)
		}
	}
	if err := d.DeleteTopic(t.Context(), topic); !errors.Is(err, ErrNoTopic) {
		t.Errorf("second DeleteTopic = %v, want ErrNoTopic", err)
	}
	if _, err := d.NewProducer(t.Context(), topic, bench.ProducerOptions{}); !errors.Is(err, ErrNoTopic) {
		t.Errorf("NewProducer after DeleteTopic = %v, want ErrNoTopic", err)
	}
}

// TestErrors checks that bad inputs fail with errors that say why.
func TestErrors(t *testing.T) {
	d := newDriver(t)
	ctx := t.Context()
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 2, Subscriptions: []string{"s"}})
	nop := func([]byte) {}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"producer unknown topic", second(d.NewProducer(ctx, "nope", bench.ProducerOptions{})), ErrNoTopic},
		{"consumer unknown topic", second(d.NewConsumer(ctx, bench.ConsumerSpec{Topic: "nope", Subscription: "s", Count: 1}, nop)), ErrNoTopic},
		{"unknown subscription", second(d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Subscription: "x", Count: 1}, nop)), ErrNoSubscription},
		{"compression", second(d.NewProducer(ctx, topic, bench.ProducerOptions{Compression: "zstd"})), bench.ErrUnsupported},
		{"subscription filter", d.CreateTopic(ctx, bench.TopicSpec{Name: "filtered", Partitions: 1, Subscriptions: []string{"s"},
			Queue: true, Filters: []string{`{"headers.kind": ["a"]}`}}), bench.ErrUnsupported},
		{"bad topic name", d.CreateTopic(ctx, bench.TopicSpec{Name: "a.b", Partitions: 1}), ErrBadName},
		{"bad subscription name", d.CreateTopic(ctx, bench.TopicSpec{Name: "ok", Partitions: 1, Subscriptions: []string{"s*"}}), ErrBadName},
		{"delete unknown topic", d.DeleteTopic(ctx, "nope"), ErrNoTopic},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, tc.err)
		}
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"queue consumer of a stream subscription", second(d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Subscription: "s", Count: 1, Queue: true}, nop))},
		{"wrong partition count", second(d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Partitions: 5, Subscription: "s", Count: 1}, nop))},
		{"bad consumer index", second(d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Subscription: "s", Index: 2, Count: 2}, nop))},
		{"zero partitions", d.CreateTopic(ctx, bench.TopicSpec{Name: "zero", Partitions: 0})},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, tc.err)
		}
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	_, err := New(ctx, []string{"nats://127.0.0.1:1"}, Options{})
	if err == nil {
		t.Fatal("New to an unreachable server succeeded")
	}
	t.Log(err)
	if _, err := New(ctx, nil, Options{}); err == nil {
		t.Fatal("New with no URL succeeded")
	}
}

// TestCloseClosesChildren closes the driver with a producer and a consumer
// still open.
func TestCloseClosesChildren(t *testing.T) {
	d, err := New(t.Context(), urls(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 1, Subscriptions: []string{"s"}})
	p, err := d.NewProducer(t.Context(), topic, bench.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.NewConsumer(t.Context(), bench.ConsumerSpec{Topic: topic, Subscription: "s", Count: 1}, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	send(t, p, payloads("x", 10), nil)
	if err := d.DeleteTopic(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Logf("Close: %v", err) // The deleted consumer may report itself deleted.
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A closed producer fails new records at once.
	errc := make(chan error, 1)
	p.Send(t.Context(), nil, []byte("late"), func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
}

func TestPartition(t *testing.T) {
	p := &producer{subjects: []string{"t.0", "t.1", "t.2"}}
	for i := range 6 {
		if got := p.partition(nil); got != i%3 {
			t.Errorf("unkeyed record %d went to partition %d, want %d", i, got, i%3)
		}
	}
	for _, key := range [][]byte{{}, []byte("a"), []byte("key-1")} {
		h := fnv.New32a()
		_, _ = h.Write(key)
		want := int(h.Sum32() % 3)
		for range 3 {
			if got := p.partition(key); got != want {
				t.Errorf("key %q went to partition %d, want %d", key, got, want)
			}
		}
	}
}

// TestIdleConsumer: a stream-mode consumer left without a partition (more
// consumers than partitions) starts and closes cleanly.
func TestIdleConsumer(t *testing.T) {
	d := newDriver(t)
	topic := topicName(t)
	createTopic(t, d, bench.TopicSpec{Name: topic, Partitions: 1, Subscriptions: []string{"s"}})
	k, err := d.NewConsumer(t.Context(), bench.ConsumerSpec{Topic: topic, Subscription: "s", Index: 1, Count: 2}, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}
