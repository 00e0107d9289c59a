package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// receiveJSON runs sluice queue receive -o json and parses its lines.
func receiveJSON(t *testing.T, bin string, env []string, args ...string) []queueMessageJSON {
	t.Helper()
	out := mustRun(t, bin, env, "", append([]string{"queue", "receive", "-o", "json"}, args...)...)
	var msgs []queueMessageJSON
	for line := range strings.Lines(out) {
		var m queueMessageJSON
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("queue receive line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func describeQueueJSON(t *testing.T, bin string, env []string, name string) queueJSON {
	t.Helper()
	var q queueJSON
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "queue", "describe", name, "-o", "json")), &q); err != nil {
		t.Fatal(err)
	}
	return q
}

// testQueues drives a queue through the CLI on the running cluster: a
// message received once and let go is dead-lettered at its next receive,
// describe counts it, redrive brings it back, and an ack settles it.
func testQueues(t *testing.T, bin string, env []string) {
	mustRun(t, bin, env, "", "stream", "create", "qdead", "--partitions", "2")
	mustRun(t, bin, env, "", "queue", "create", "work", "--partitions", "2", "--retention", "1d", "--visibility", "1s", "--max-receives", "1",
		"--dead-letter", "qdead")
	mustRun(t, bin, env, "one\ntwo\nthree\n", "queue", "send", "work")
	if got := receiveJSON(t, bin, env, "work", "--max", "10", "--wait", "5s"); len(got) == 0 {
		t.Fatal("received nothing")
	}
	// Let every message be received once and not acked, then wait for
	// the leases to end: the next receives dead-letter them.
	var q queueJSON
	var pending, dead int64
	if !waitFor(30*time.Second, func() bool {
		for _, m := range receiveJSON(t, bin, env, "work", "--max", "10") {
			if m.ReceiveCount > 1 {
				t.Fatalf("delivered a second time (max receives 1): %+v", m)
			}
		}
		q = describeQueueJSON(t, bin, env, "work")
		pending, dead = 0, 0
		for _, p := range q.PartitionStats {
			pending += p.Pending
		}
		for _, p := range q.DeadLetterStats {
			dead += p.Messages
		}
		return pending == 0 && dead == 3
	}) {
		t.Fatalf("not dead-lettered: pending %d, dead-lettered %d\n%+v", pending, dead, q)
	}
	if text := mustRun(t, bin, env, "", "queue", "describe", "work"); !strings.Contains(text, "dead-lettered, not redriven: 3 in stream qdead") {
		t.Errorf("queue describe:\n%s", text)
	}
	if out := mustRun(t, bin, env, "", "queue", "redrive", "work"); out != "moved 3 messages from the dead-letter stream back to queue work\n" {
		t.Errorf("queue redrive printed %q", out)
	}
	got := receiveJSON(t, bin, env, "work", "--max", "10", "--wait", "5s", "--ack")
	for len(got) < 3 {
		more := receiveJSON(t, bin, env, "work", "--max", "10", "--wait", "5s", "--ack")
		if len(more) == 0 {
			t.Fatalf("after the redrive received %d messages, want 3", len(got))
		}
		got = append(got, more...)
	}
	values := map[string]bool{}
	for _, m := range got {
		if m.Value != nil {
			values[*m.Value] = true
		}
		if m.ReceiveCount != 1 {
			t.Errorf("a redriven message received %d times", m.ReceiveCount)
		}
	}
	if len(values) != 3 || !values["one"] || !values["two"] || !values["three"] {
		t.Errorf("after the redrive received %v", values)
	}
	q = describeQueueJSON(t, bin, env, "work")
	for _, p := range q.PartitionStats {
		if p.Pending != 0 || p.InFlight != 0 {
			t.Errorf("after acking: %+v", p)
		}
	}
	for _, p := range q.DeadLetterStats {
		if p.Messages != 0 {
			t.Errorf("dead letters left after the redrive: %+v", p)
		}
	}
	if out := mustRun(t, bin, env, "", "queue", "redrive", "work"); !strings.HasPrefix(out, "moved 0 messages") {
		t.Errorf("a second redrive printed %q", out)
	}
}

// testTopics publishes to a topic with two filtered subscriptions, one
// acked per message and one read through its cursor: each gets exactly
// the records its filter accepts.
func testTopics(t *testing.T, bin string, env []string) {
	mustRun(t, bin, env, "", "topic", "create", "events", "--partitions", "3")
	mustRun(t, bin, env, "", "topic", "subscribe", "events", "orders", "--filter", `{"headers.kind": ["order"]}`)
	if out := mustRun(t, bin, env, "", "topic", "subscribe", "events", "eu", "--cursor", "--filter", `{"key": [{"prefix": "eu-"}]}`); !strings.Contains(out, "cursor: sluice consume events --group eu") {
		t.Errorf("topic subscribe --cursor printed %q", out)
	}
	var orders, eu strings.Builder
	want := map[string]map[string]bool{"orders": {}, "eu": {}}
	for i := range 60 {
		key := []string{"eu-", "us-", "ap-"}[i%3] + strconv.Itoa(i)
		kind := []string{"order", "refund"}[i%2]
		line := fmt.Sprintf("%s:%d\n", key, i)
		if kind == "order" {
			orders.WriteString(line)
			want["orders"][strconv.Itoa(i)] = true
		} else {
			eu.WriteString(line) // published with kind=refund
		}
		if strings.HasPrefix(key, "eu-") {
			want["eu"][strconv.Itoa(i)] = true
		}
	}
	mustRun(t, bin, env, orders.String(), "topic", "publish", "events", "--key-separator", ":", "--header", "kind=order")
	mustRun(t, bin, env, eu.String(), "topic", "publish", "events", "--key-separator", ":", "--header", "kind=refund")

	got := map[string]bool{}
	for _, m := range receiveJSON(t, bin, env, "orders", "--max", "1000", "--wait", "5s", "--ack") {
		got[*m.Value] = true
	}
	for len(got) < len(want["orders"]) {
		more := receiveJSON(t, bin, env, "orders", "--max", "1000", "--wait", "2s", "--ack")
		if len(more) == 0 {
			break
		}
		for _, m := range more {
			got[*m.Value] = true
		}
	}
	if !maps.Equal(got, want["orders"]) {
		t.Errorf("subscription orders received %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want["orders"])))
	}
	got = map[string]bool{}
	for _, r := range parseGroupRecords(t, mustRun(t, bin, env, "", "consume", "events", "--group", "eu", "--idle-timeout", "2s", "-o", "json")) {
		got[r.Value] = true
	}
	if !maps.Equal(got, want["eu"]) {
		t.Errorf("cursor subscription eu read %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want["eu"])))
	}
	if r := sluiceCmd(t, bin, env, "", "topic", "receive", "eu"); r.code == 0 || !strings.Contains(r.stderr, "read through a cursor") {
		t.Errorf("topic receive of a cursor subscription: exit %d, %s", r.code, r.stderr)
	}
}
