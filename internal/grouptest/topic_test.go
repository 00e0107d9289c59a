package grouptest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// topicRecords is how many records TestTopicFilteredSubscriptionsExact
// publishes.
const topicRecords = 2000

// topicSub is a subscription of TestTopicFilteredSubscriptionsExact: its
// filter, and the test's own reading of it (written from the filter
// documentation, not with the filter code).
type topicSub struct {
	name   string
	filter string
	match  func(key []byte, hs []client.Header) bool
}

// firstHeader returns the value of the first header name (the one a
// filter looks at).
func firstHeader(hs []client.Header, name string) (string, bool) {
	for _, h := range hs {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

var topicSubs = []topicSub{
	{"orders", `{"headers.type": ["order"]}`, func(_ []byte, hs []client.Header) bool {
		v, ok := firstHeader(hs, "type")
		return ok && v == "order"
	}},
	{"eu-users", `{"headers.region": [{"prefix": "eu-"}], "key": [{"prefix": "user-"}]}`, func(key []byte, hs []client.Header) bool {
		v, ok := firstHeader(hs, "region")
		return ok && strings.HasPrefix(v, "eu-") && key != nil && strings.HasPrefix(string(key), "user-")
	}},
	{"mid-amounts", `{"headers.amount": [{"numeric": [">", 100, "<=", 500]}, 42]}`, func(_ []byte, hs []client.Header) bool {
		v, ok := firstHeader(hs, "amount")
		if !ok {
			return false
		}
		n, err := strconv.ParseFloat(v, 64)
		return err == nil && (n > 100 && n <= 500 || n == 42)
	}},
	{"untraced", `{"headers.trace": [{"exists": false}], "headers.type": [{"anything-but": ["test", "order"]}]}`, func(_ []byte, hs []client.Header) bool {
		_, traced := firstHeader(hs, "trace")
		v, ok := firstHeader(hs, "type")
		return !traced && ok && v != "test" && v != "order"
	}},
	{"all", "", func([]byte, []client.Header) bool { return true }},
}

// topicRecord makes record i of the topic: value "r<i>", a key (or
// none) and headers drawn from values that sit on both sides of the
// filters' conditions.
func topicRecord(rng *rand.Rand, stream string, i int) client.Record {
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	r := client.Record{Stream: stream, Partition: client.AnyPartition, Value: fmt.Appendf(nil, "r%d", i)}
	switch rng.IntN(10) {
	case 0:
		// no key
	case 1, 2, 3, 4:
		r.Key = fmt.Appendf(nil, "user-%d", rng.IntN(500))
	case 5:
		r.Key = []byte{}
	default:
		r.Key = fmt.Appendf(nil, pick("order-%d", "User-%d", "users%d"), rng.IntN(500))
	}
	add := func(name string, odds int, vs ...string) {
		if rng.IntN(100) < odds {
			r.Headers = append(r.Headers, client.Header{Key: name, Value: []byte(pick(vs...))})
		}
	}
	add("type", 85, "order", "refund", "test", "ORDER", "order ", "")
	add("region", 80, "eu-west", "eu-north", "eu", "us-east", "EU-west", "", "eu-")
	add("amount", 80, strconv.Itoa(rng.IntN(1000)), strconv.Itoa(rng.IntN(1000)), "100", "500", "100.5", "500.01",
		"42", "42.0", "4.2e1", "1e2", "n/a", "")
	add("trace", 30, "t1", "")
	add("type", 10, "order", "refund") // a second type header: only the first counts
	rng.Shuffle(len(r.Headers), func(a, b int) { r.Headers[a], r.Headers[b] = r.Headers[b], r.Headers[a] })
	return r
}

// TestTopicFilteredSubscriptionsExact: a topic of 3 partitions with five
// subscriptions (equality on a header; a header prefix and a key prefix;
// a numeric range or a number; a missing header and anything-but; no
// filter). After ~2,000 records with varied keys and headers, each
// subscription has received and acked exactly the records its filter
// matches, each once, and has nothing pending. Filters that do not parse
// are refused with ErrInvalidArgument and create nothing.
func TestTopicFilteredSubscriptionsExact(t *testing.T) {
	f := newFixture(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("invalid filters are refused", func(t *testing.T) {
		for i, bad := range []string{
			`{"headers.type": [{"regex": "o.*"}]}`,
			`{"value": ["x"]}`,
			`not json`,
			`{"headers.amount": [{"numeric": [">>", 1]}]}`,
			`{"key": []}`,
			`{"headers.type": ["a"]} {}`,
		} {
			name := fmt.Sprintf("bad-%d", i)
			_, err := f.cl.CreateQueue(ctx, client.QueueConfig{Name: name, Stream: f.stream, Filter: bad, Subscription: true})
			var e *client.Error
			if !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &e) || e.Code != client.CodeInvalidArgument || e.Retriable {
				t.Errorf("filter %s: %v, want a non-retriable %v", bad, err, client.CodeInvalidArgument)
			}
			if _, err := f.cl.DescribeQueue(ctx, name); !errors.Is(err, client.ErrUnknownQueue) {
				t.Errorf("filter %s: describing the refused subscription: %v, want %v", bad, err, client.ErrUnknownQueue)
			}
		}
	})

	for _, s := range topicSubs {
		if _, err := f.cl.CreateQueue(ctx, client.QueueConfig{Name: s.name, Stream: f.stream, Filter: s.filter,
			// 20 s: a long poll that the client cancels after another
			// partition answered can lose an answer whose messages the
			// server already leased (as in SQS, a lost answer hides its
			// messages for the visibility timeout); they must come back
			// within the drain's minute.
			Subscription: true, VisibilityTimeout: 20 * time.Second}); err != nil {
			t.Fatalf("subscribe %s: %v", s.name, err)
		}
		info, err := f.cl.DescribeQueue(ctx, s.name)
		if err != nil || !info.Subscription || (info.Filter == "") != (s.filter == "") {
			t.Fatalf("subscription %s: %+v %v", s.name, info, err)
		}
	}

	// Publish, and work out what each subscription should get.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	recs := make([]client.Record, topicRecords)
	want := make([]map[string]bool, len(topicSubs))
	for i := range want {
		want[i] = map[string]bool{}
	}
	for i := range recs {
		recs[i] = topicRecord(rng, f.stream, i)
		for j, s := range topicSubs {
			if s.match(recs[i].Key, recs[i].Headers) {
				want[j][string(recs[i].Value)] = true
			}
		}
	}
	p, err := f.cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	byValue := map[string]client.Record{}
	for _, r := range recs {
		byValue[string(r.Value)] = r
	}

	// Two consumers per subscription receive and ack.
	got := make([]map[string]int, len(topicSubs))
	// Messages whose ack was refused as ErrInvalidReceipt: on a loaded
	// machine a partition's leadership can move, which ends every lease
	// of the earlier leader, and such messages are delivered again.
	again := make([]map[string]bool, len(topicSubs))
	var mu sync.Mutex // guards got and again
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	for j, s := range topicSubs {
		got[j] = map[string]int{}
		again[j] = map[string]bool{}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for runCtx.Err() == nil {
					msgs, err := f.cl.Receive(runCtx, s.name, 100, 500*time.Millisecond)
					if err != nil {
						var ce *client.Error
						switch {
						case runCtx.Err() != nil:
						case errors.As(err, &ce) && ce.Retriable:
							// No partition answered in the wait: an
							// election on a loaded machine.
							t.Logf("%s: receive: %v (retrying)", s.name, err)
							retryPause(runCtx)
						default:
							t.Errorf("%s: receive: %v", s.name, err)
							retryPause(runCtx)
						}
						continue
					}
					mu.Lock()
					for _, m := range msgs {
						got[j][string(m.Value)]++
						r, ok := byValue[string(m.Value)]
						if ok && recordText(m.Key, m.Value, m.Headers) != recordText(r.Key, r.Value, r.Headers) {
							t.Errorf("%s: delivered %s, published %s", s.name, recordText(m.Key, m.Value, m.Headers), recordText(r.Key, r.Value, r.Headers))
						}
					}
					mu.Unlock()
					if len(msgs) > 0 {
						if err := f.cl.Ack(runCtx, msgs...); err != nil && runCtx.Err() == nil {
							for _, v := range redelivered(t, s.name, err, msgs) {
								mu.Lock()
								again[j][v] = true
								mu.Unlock()
							}
						}
					}
				}
			}()
		}
	}
	for _, s := range topicSubs {
		f.waitDrained(s.name, 60*time.Second)
	}
	stop()
	wg.Wait()

	for j, s := range topicSubs {
		var missing, extra, twice []string
		for v := range want[j] {
			if got[j][v] == 0 {
				missing = append(missing, v)
			}
		}
		for v, n := range got[j] {
			if !want[j][v] {
				extra = append(extra, v)
			}
			if n > 1 && !again[j][v] {
				twice = append(twice, v)
			}
		}
		t.Logf("%s (%s): %d of %d records matched, %d received, %d again after a refused ack", s.name, s.filter,
			len(want[j]), topicRecords, len(got[j]), len(again[j]))
		for _, c := range []struct {
			what string
			vs   []string
		}{{"matched but not received", missing}, {"received but not matched", extra}, {"received more than once", twice}} {
			if len(c.vs) == 0 {
				continue
			}
			slices.Sort(c.vs)
			var ex []string
			for _, v := range c.vs[:min(len(c.vs), 5)] {
				r := byValue[v]
				ex = append(ex, recordText(r.Key, r.Value, r.Headers))
			}
			t.Errorf("%s: %d records %s, such as %s", s.name, len(c.vs), c.what, strings.Join(ex, "; "))
		}
		// Nothing is left to receive.
		msgs, err := f.cl.Receive(ctx, s.name, 10, 0)
		if err != nil || len(msgs) != 0 {
			t.Errorf("%s: a receive after the drain: %d messages, %v", s.name, len(msgs), err)
		}
	}
}

// redelivered returns the values of the messages whose ack failed with
// ErrInvalidReceipt (they are delivered again), and fails the test for
// any other failure.
func redelivered(t *testing.T, queue string, err error, msgs []client.QueueMessage) []string {
	t.Helper()
	failed := ackFailures(err, msgs)
	var out []string
	for _, m := range msgs {
		switch e, ok := failed[m.Receipt]; {
		case !ok:
		case errors.Is(e, client.ErrInvalidReceipt):
			out = append(out, string(m.Value))
		default:
			t.Errorf("%s: ack: %v", queue, e)
		}
	}
	return out
}
