package sluicedriver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/testcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newDriver(t *testing.T) *Driver {
	t.Helper()
	return newDriverOpts(t, Options{})
}

func newDriverOpts(t *testing.T, opts Options) *Driver {
	t.Helper()
	c := testcluster.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, c.Addrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if d.opts.ReplicationFactor != 3 {
		t.Fatalf("replication factor %d, want 3 on a 3-node cluster", d.opts.ReplicationFactor)
	}
	return d
}

// TestSubscriptionsReadEverything: two subscriptions of two consumers
// each (over three partitions) receive every record exactly once each.
func TestSubscriptionsReadEverything(t *testing.T) {
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic, parts, n = "bench-t", 3, 2000
	if err := d.CreateTopic(ctx, bench.TopicSpec{Name: topic, Partitions: parts, Subscriptions: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]map[uint64]int{"a": {}, "b": {}}
	total := 0
	allIn := make(chan struct{})
	var consumers []bench.Consumer
	for _, sub := range []string{"a", "b"} {
		for i := range 2 {
			k, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Partitions: parts, Subscription: sub, Index: i, Count: 2},
				func(payload []byte) {
					mu.Lock()
					defer mu.Unlock()
					seen[sub][binary.BigEndian.Uint64(payload)]++
					if total++; total == 2*n {
						close(allIn)
					}
				})
			if err != nil {
				t.Fatal(err)
			}
			consumers = append(consumers, k)
		}
	}
	p, err := d.NewProducer(ctx, topic, bench.ProducerOptions{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for i := range n {
		payload := binary.BigEndian.AppendUint64(nil, uint64(i))
		var key []byte
		if i%2 == 0 {
			key = []byte(fmt.Sprint("k", i%17))
		}
		p.Send(ctx, key, payload, func(err error) { errs <- err })
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-allIn:
	case <-ctx.Done():
		t.Fatalf("received %d of %d records", total, 2*n)
	}
	for _, k := range consumers {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
	for sub, m := range seen {
		if len(m) != n {
			t.Errorf("subscription %s saw %d distinct records, want %d", sub, len(m), n)
		}
		for id, c := range m {
			if c != 1 {
				t.Errorf("subscription %s saw record %d %d times", sub, id, c)
			}
		}
	}
	if err := d.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := d.NewProducer(ctx, topic, bench.ProducerOptions{}); err == nil {
		t.Fatal("producer for a deleted topic: no error")
	}
}

func TestBadRequests(t *testing.T) {
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.CreateTopic(ctx, bench.TopicSpec{Name: "ok", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	noop := func([]byte) {}
	for _, tc := range []struct {
		name        string
		do          func() error
		unsupported bool
	}{
		{"filters in stream mode", func() error {
			return d.CreateTopic(ctx, bench.TopicSpec{Name: "f", Partitions: 1, Subscriptions: []string{"s"},
				Filters: []string{`{"headers.kind": ["a"]}`}})
		}, true},
		{"filters for fewer subscriptions", func() error {
			return d.CreateTopic(ctx, bench.TopicSpec{Name: "f2", Partitions: 1, Subscriptions: []string{"s", "t"},
				Filters: []string{`{"headers.kind": ["a"]}`}, Queue: true})
		}, false},
		{"bad filter", func() error {
			return d.CreateTopic(ctx, bench.TopicSpec{Name: "f3", Partitions: 1, Subscriptions: []string{"s"},
				Filters: []string{`{"kind": ["a"]}`}, Queue: true})
		}, false},
		{"queue consumer without a queue", func() error {
			_, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: "ok", Subscription: "none", Count: 1, Queue: true}, noop)
			return err
		}, false},
		{"acks none", func() error {
			_, err := d.NewProducer(ctx, "ok", bench.ProducerOptions{AcksNone: true})
			return err
		}, true},
		{"compression", func() error {
			_, err := d.NewProducer(ctx, "ok", bench.ProducerOptions{Compression: "brotli"})
			return err
		}, true},
		{"existing topic", func() error { return d.CreateTopic(ctx, bench.TopicSpec{Name: "ok", Partitions: 1}) }, false},
		{"zero partitions", func() error { return d.CreateTopic(ctx, bench.TopicSpec{Name: "z", Partitions: 0}) }, false},
		{"unknown topic producer", func() error {
			_, err := d.NewProducer(ctx, "nope", bench.ProducerOptions{})
			return err
		}, false},
		{"unknown topic consumer", func() error {
			_, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: "nope", Count: 1}, noop)
			return err
		}, false},
		{"consumer index", func() error {
			_, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: "ok", Index: 2, Count: 2}, noop)
			return err
		}, false},
		{"unknown topic delete", func() error { return d.DeleteTopic(ctx, "nope") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, bench.ErrUnsupported); got != tc.unsupported {
				t.Fatalf("%v: errors.Is(ErrUnsupported) = %v, want %v", err, got, tc.unsupported)
			}
		})
	}
	// A topic whose queues cannot be created is not left behind.
	if _, err := d.cl.DescribeStream(ctx, "f3"); !errors.Is(err, client.ErrUnknownStream) {
		t.Fatalf("stream of a topic that failed: %v, want ErrUnknownStream", err)
	}
	if _, err := New(ctx, nil, Options{}); err == nil {
		t.Fatal("New without servers: no error")
	}
	for _, o := range []Options{{QueueBatch: 1001}, {QueueLongPoll: -time.Second}, {QueueLongPoll: time.Minute}, {QueuePollMax: -1}, {QueueAckers: -1}} {
		if _, err := New(ctx, []string{"127.0.0.1:1"}, o); err == nil {
			t.Fatalf("New with %+v: no error", o)
		}
	}
}

// queueRun is a queue-mode topic with its consumers, which record what
// each subscription received.
type queueRun struct {
	d         *Driver
	topic     string
	subs      []string
	consumers []bench.Consumer

	mu   sync.Mutex
	seen map[string]map[uint64]int // by subscription: record id -> times received
}

// startQueueRun creates topic in queue mode with the subscriptions subs
// (filters: one per subscription, or none) and starts count consumers
// on each.
func startQueueRun(ctx context.Context, t *testing.T, d *Driver, topic string, parts int, subs, filters []string, count int) *queueRun {
	t.Helper()
	if err := d.CreateTopic(ctx, bench.TopicSpec{Name: topic, Partitions: parts, Subscriptions: subs, Queue: true, Filters: filters}); err != nil {
		t.Fatal(err)
	}
	q := &queueRun{d: d, topic: topic, subs: subs, seen: map[string]map[uint64]int{}}
	for _, sub := range subs {
		q.seen[sub] = map[uint64]int{}
		for i := range count {
			k, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: topic, Partitions: parts, Subscription: sub, Index: i, Count: count, Queue: true},
				func(payload []byte) {
					q.mu.Lock()
					defer q.mu.Unlock()
					q.seen[sub][binary.BigEndian.Uint64(payload)]++
				})
			if err != nil {
				t.Fatal(err)
			}
			q.consumers = append(q.consumers, k)
		}
	}
	return q
}

// send sends records 0..n-1 (the id in the payload, every other one
// keyed), with the header of header(i) when header is not nil, and waits
// for their acknowledgements.
func (q *queueRun) send(ctx context.Context, t *testing.T, n int, header func(i int) bench.Header) {
	t.Helper()
	p, err := q.d.NewProducer(ctx, q.topic, bench.ProducerOptions{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	errs := make(chan error, n)
	done := func(err error) { errs <- err }
	for i := range n {
		payload := binary.BigEndian.AppendUint64(nil, uint64(i))
		var key []byte
		if i%2 == 0 {
			key = []byte(fmt.Sprint("k", i%17))
		}
		if header != nil {
			p.(bench.HeaderProducer).SendHeader(ctx, key, header(i), payload, done)
		} else {
			p.Send(ctx, key, payload, done)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// waitReceived waits until each subscription received want[sub]
// distinct records, or ctx ends.
func (q *queueRun) waitReceived(ctx context.Context, t *testing.T, want map[string]int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		q.mu.Lock()
		all := true
		got := map[string]int{}
		for sub, n := range want {
			got[sub] = len(q.seen[sub])
			all = all && got[sub] >= n
		}
		q.mu.Unlock()
		if all {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("received %v distinct records, want %v", got, want)
		case <-tick.C:
		}
	}
}

// waitSettled waits until every queue of the run has nothing pending
// (every message acknowledged: the floor at the high watermark) in each
// partition, as the partitions' leaders say, or ctx ends. The consumers
// keep running meanwhile, so a message whose ack failed (its lease lost
// in a leader change, on a busy machine) is delivered and acked again.
func (q *queueRun) waitSettled(ctx context.Context, t *testing.T) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var unsettled []string
		for _, sub := range q.subs {
			info, err := q.d.cl.DescribeQueue(ctx, queueName(q.topic, sub))
			if err != nil {
				unsettled = append(unsettled, err.Error())
				continue
			}
			for _, p := range info.Partitions {
				if p.Floor < 0 || p.Pending != 0 || p.InFlight != 0 || p.Floor != p.HighWatermark {
					unsettled = append(unsettled, fmt.Sprintf("%s/%d: %+v", info.Name, p.Partition, p))
				}
			}
		}
		if len(unsettled) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("queues not settled: %q", unsettled)
		case <-tick.C:
		}
	}
}

// closeAndCheck closes the consumers and checks that they acknowledged
// at least every record received. A leader change can fail acks (and
// receives), which Close reports and the test logs: the message is then
// delivered again, and waitSettled checked that all ended acknowledged.
func (q *queueRun) closeAndCheck(t *testing.T) {
	t.Helper()
	var handled, acked, failed int64
	for _, k := range q.consumers {
		if err := k.Close(); err != nil {
			t.Logf("close: %v", err)
		}
		qc := k.(*queueConsumer)
		handled += qc.received.Load()
		acked += qc.acked.Load()
		failed += qc.ackFailed.Load()
	}
	var distinct int64
	dups := 0
	for _, m := range q.seen {
		distinct += int64(len(m))
		for _, c := range m {
			dups += c - 1
		}
	}
	if handled != acked+failed || acked < distinct {
		t.Errorf("handled %d messages, acked %d, %d acks failed; %d distinct records", handled, acked, failed, distinct)
	}
	t.Logf("handled %d messages, acked %d, %d acks failed, %d distinct records, %d received again", handled, acked, failed, distinct, dups)
}

// TestQueueMode: two queue subscriptions of three consumers each, over
// four partitions: every record is received by each subscription and
// every message handled is acknowledged; DeleteTopic removes the queues
// with the stream.
func TestQueueMode(t *testing.T) {
	d := newDriverOpts(t, Options{QueueBatch: 100, VisibilityTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, n = "bench-q", 3000
	q := startQueueRun(ctx, t, d, topic, 4, []string{"a", "b"}, nil, 3)
	q.send(ctx, t, n, nil)
	q.waitReceived(ctx, t, map[string]int{"a": n, "b": n})
	q.waitSettled(ctx, t)
	q.closeAndCheck(t)
	for sub, m := range q.seen {
		if len(m) != n {
			t.Errorf("subscription %s: %d distinct records, want %d", sub, len(m), n)
		}
	}
	qs, err := d.cl.ListQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].Stream != topic || qs[0].Subscription || qs[0].Filter != "" {
		t.Fatalf("queues %+v: want two plain queues over %s", qs, topic)
	}
	if err := d.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if qs, err := d.cl.ListQueues(ctx); err != nil || len(qs) != 0 {
		t.Fatalf("after DeleteTopic: queues %+v, %v", qs, err)
	}
}

// TestFilteredSubscriptions: four filtered subscriptions over a header
// that cycles over four values each receive exactly the records their
// filter matches, filtered on the server.
func TestFilteredSubscriptions(t *testing.T) {
	d := newDriverOpts(t, Options{VisibilityTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, n = "bench-f", 2000
	values := []string{"a", "b", "c", "10"}
	subs := []string{"s0", "s1", "s2", "s3"}
	filters := []string{
		`{"headers.kind": ["a"]}`,
		`{"headers.kind": ["a", "b", "c"]}`,
		`{"headers.kind": [{"numeric": [">=", 10]}]}`,
		"",
	}
	matches := func(sub, i int) bool {
		v := i % len(values)
		return [][]bool{{true, false, false, false}, {true, true, true, false}, {false, false, false, true}, {true, true, true, true}}[sub][v]
	}
	q := startQueueRun(ctx, t, d, topic, 2, subs, filters, 2)
	q.send(ctx, t, n, func(i int) bench.Header { return bench.Header{Name: "kind", Value: []byte(values[i%len(values)])} })
	want := map[string]int{}
	for s, sub := range subs {
		for i := range n {
			if matches(s, i) {
				want[sub]++
			}
		}
	}
	q.waitReceived(ctx, t, want)
	q.waitSettled(ctx, t)
	q.closeAndCheck(t)
	for s, sub := range subs {
		for id := range q.seen[sub] {
			if !matches(s, int(id)) {
				t.Errorf("subscription %s (%s) received record %d of kind %s", sub, filters[s], id, values[int(id)%len(values)])
			}
		}
		if len(q.seen[sub]) != want[sub] {
			t.Errorf("subscription %s: %d distinct records, want %d", sub, len(q.seen[sub]), want[sub])
		}
	}
	qs, err := d.cl.ListQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range qs {
		if !info.Subscription {
			t.Errorf("queue %+v: not a subscription", info)
		}
	}
	if err := d.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
}

// TestQueueLongPoll: with long polls, consumers that wait for records
// receive each once they come (one partition: a single poll, which the
// client does not cancel for another's answer).
func TestQueueLongPoll(t *testing.T) {
	d := newDriverOpts(t, Options{QueueLongPoll: 500 * time.Millisecond, QueueReceivers: 1, QueueAckers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, n = "bench-lp", 500
	q := startQueueRun(ctx, t, d, topic, 1, []string{"a"}, nil, 2)
	q.send(ctx, t, n, nil)
	q.waitReceived(ctx, t, map[string]int{"a": n})
	q.waitSettled(ctx, t)
	q.closeAndCheck(t)
	if err := d.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
}
