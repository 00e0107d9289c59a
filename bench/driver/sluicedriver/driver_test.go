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
	"github.com/sluicedb/sluice/internal/testcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newDriver(t *testing.T) *Driver {
	t.Helper()
	c := testcluster.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, c.Addrs, Options{})
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
		{"queue topic", func() error {
			return d.CreateTopic(ctx, bench.TopicSpec{Name: "q", Partitions: 1, Queue: true})
		}, true},
		{"queue consumer", func() error {
			_, err := d.NewConsumer(ctx, bench.ConsumerSpec{Topic: "ok", Count: 1, Queue: true}, noop)
			return err
		}, true},
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
	if _, err := New(ctx, nil, Options{}); err == nil {
		t.Fatal("New without servers: no error")
	}
}
