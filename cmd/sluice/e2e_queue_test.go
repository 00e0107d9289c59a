package main

import (
	"encoding/json"
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
	mustRun(t, bin, env, "", "queue", "create", "work", "--partitions", "2", "--visibility", "1s", "--max-receives", "1",
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
