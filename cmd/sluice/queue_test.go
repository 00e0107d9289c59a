package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// TestQueueUsageErrors runs queue and topic command lines that are wrong
// before any cluster is needed: one line on stderr, exit code 2, nothing
// on stdout.
func TestQueueUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string
	}{
		{"queue frob", "unknown command \"frob\""},
		{"queue create", "missing argument QUEUE"},
		{"queue create a b", "unexpected argument \"b\""},
		{"queue create q -o yaml", "-o \"yaml\""},
		{"queue create q --visibility 0s", "--visibility 0s: want 1ms to 12h"},
		{"queue create q --visibility 13h", "--visibility 13h0m0s"},
		{"queue create q --visibility soon", "invalid value \"soon\" for flag -visibility"},
		{"queue create q --delay 16m", "--delay 16m0s: want 0 to 15m0s"},
		{"queue create q --delay -1s", "--delay -1s"},
		{"queue create q --max-receives -1", "--max-receives -1"},
		{"queue create q --max-receives 1001 --dead-letter d", "--max-receives 1001"},
		{"queue create q --max-receives 3", "--max-receives needs --dead-letter"},
		{"queue create q --partitions 0", "--partitions 0: want at least 1"},
		{"queue create q --retention soon", "--retention: "},
		{"queue create q --stream s --retention 1d", "--retention sets the retention of the stream the queue creates"},
		{"queue create q --filter nope", "--filter \"nope\": not JSON"},
		{"queue create q --bogus", "flag provided but not defined: -bogus"},
		{"queue delete", "missing argument QUEUE"},
		{"queue describe a b", "unexpected argument \"b\""},
		{"queue list x", "unexpected argument \"x\""},
		{"queue send", "missing argument QUEUE"},
		{"queue send q a b", "unexpected argument \"b\""},
		{"queue send q v --delay 16m", "--delay 16m0s"},
		{"queue send q v --delay -5ms", "--delay -5ms"},
		{"queue send q v --header novalue", "--header \"novalue\": want name=value"},
		{"queue send q v -o yaml", "-o \"yaml\""},
		{"queue receive", "missing argument QUEUE"},
		{"queue receive q --max 0", "--max 0: want 1 to 1000"},
		{"queue receive q --max 1001", "--max 1001"},
		{"queue receive q --wait 21s", "--wait 21s: want 0 to 20s"},
		{"queue receive q --wait -1s", "--wait -1s"},
		{"queue receive q r", "unexpected argument \"r\""},
		{"queue ack", "missing argument QUEUE"},
		{"queue ack q", "no receipts given"},
		{"queue ack q abc", "receipt \"abc\": want PARTITION:RECEIPT"},
		{"queue ack q 0:ok 1:", "receipt \"1:\""},
		{"queue ack q x:abc", "receipt \"x:abc\""},
		{"queue nack q 0:a --delay 16m", "--delay 16m0s"},
		{"queue nack q 0:a --delay -1s", "--delay -1s"},
		{"queue extend q 0:a", "--visibility is required"},
		{"queue extend q 0:a --visibility 13h", "--visibility 13h0m0s: want 0 to 12h"},
		{"queue extend q 0:a --visibility -1s", "--visibility -1s"},
		{"topic frob", "unknown command \"frob\""},
		{"topic create", "missing argument TOPIC"},
		{"topic create t --partitions 0", "--partitions 0"},
		{"topic create t --replicas -1", "--replicas -1"},
		{"topic create t --retention 7x", "--retention"},
		{"topic subscribe t", "missing argument SUBSCRIPTION"},
		{"topic subscribe t s x", "unexpected argument \"x\""},
		{"topic subscribe t s --filter {", "--filter \"{\": not JSON"},
		{"topic subscribe t s --visibility 0s", "--visibility 0s"},
		{"topic subscribe t s --max-receives 2", "--max-receives needs --dead-letter"},
		{"topic unsubscribe", "missing argument SUBSCRIPTION"},
		{"topic subscriptions a b", "unexpected argument \"b\""},
		{"topic subscriptions -o yaml", "-o \"yaml\""},
		{"topic publish", "missing argument TOPIC"},
		{"topic publish t u", "unexpected argument \"u\""},
		{"topic publish t --format xml", "--format \"xml\""},
		{"topic receive", "missing argument SUBSCRIPTION"},
		{"topic receive s --max 0", "--max 0"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"sluice"}, strings.Fields(tc.args)...),
			strings.NewReader(""), &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.args, code, exitUsage, stderr.String())
			continue
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "sluice") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: stderr %q, want one line containing %q", tc.args, msg, tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q", tc.args, stdout.String())
		}
	}
}

func TestQueueReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct{ in, want string }{
		{"sluice queue create jobs --partitions 3 --visibility 1m --fifo",
			"sluice queue create --partitions 3 --visibility 1m --fifo jobs"},
		{"sluice queue send jobs hello --key k -H a=1 --delay 5s", "sluice queue send --key k -H a=1 --delay 5s jobs hello"},
		{"sluice queue receive jobs --max 5 --wait 20s --ack -o json", "sluice queue receive --max 5 --wait 20s --ack -o json jobs"},
		{"sluice queue ack jobs 0:abc 1:def", "sluice queue ack jobs 0:abc 1:def"},
		{"sluice queue nack jobs 0:abc --delay 10s", "sluice queue nack --delay 10s jobs 0:abc"},
		{"sluice queue extend jobs 0:abc --visibility 1m", "sluice queue extend --visibility 1m jobs 0:abc"},
		{`sluice topic subscribe events audit --filter {"key":["a"]}`, `sluice topic subscribe --filter {"key":["a"]} events audit`},
		{"sluice topic publish events --value v", "sluice topic publish --value v events"},
		{"sluice topic receive audit --max 1", "sluice topic receive --max 1 audit"},
	} {
		if got := strings.Join(reorderArgs(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("reorderArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestQueueExitCodes(t *testing.T) {
	settleErr := func(errs ...error) error { // as client.Ack returns them
		return &joined{errs}
	}
	receiptErr := &client.MessageError{Op: "ack", Message: client.QueueMessage{Queue: "q", Partition: 1, Offset: 7},
		Err: &client.Error{Code: client.CodeInvalidReceipt, Msg: "expired"}}
	for _, tc := range []struct {
		err  error
		code int
		line string
	}{
		{queueAdminError("queue", "q", &client.Error{Code: client.CodeUnknownQueue, Msg: "metadata: queue not found"}),
			exitNotFound, `sluice: unknown queue "q"`},
		{queueAdminError("subscription", "s", fmt.Errorf("x: %w", &client.Error{Code: client.CodeQueueExists})),
			exitExists, `sluice: subscription "s" already exists (queues and subscriptions share names)`},
		{&client.Error{Code: client.CodeStreamInUse, Msg: `stream "s" is the stream of queue(s) q`}, exitBusy,
			`sluice: stream in use by a queue: stream "s" is the stream of queue(s) q`},
		{receiptErr, exitRejected,
			`sluice: ack: queue "q" partition 1 offset 7: invalid receipt (expired, replaced, or of an earlier leader): expired`},
		{settleErr(receiptErr, receiptErr), exitRejected, "sluice: ack: queue \"q\" partition 1 offset 7"},
		{queueAdminError("queue", "q", &client.Error{Code: client.CodeInvalidArgument, Msg: "bad filter"}), exitRejected,
			"sluice: invalid argument: bad filter"},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if got := errorLine(tc.err); !strings.HasPrefix(got, tc.line) || strings.Contains(got, "\n") {
			t.Errorf("errorLine:\n got %q\nwant %q...", got, tc.line)
		}
	}
	if n := failedCount(settleErr(receiptErr, receiptErr), 5); n != 2 {
		t.Errorf("failedCount of 2 message errors = %d", n)
	}
	if n := failedCount(errors.New("whole"), 5); n != 5 {
		t.Errorf("failedCount of a plain error = %d", n)
	}
}

// joined is a list of errors on one line, like client's settle error.
type joined struct{ errs []error }

func (j *joined) Error() string   { return j.errs[0].Error() + " (and more)" }
func (j *joined) Unwrap() []error { return j.errs }

func TestReceiptTokens(t *testing.T) {
	m := client.QueueMessage{Queue: "q", Partition: 12, Offset: 5, Receipt: "AQAAAA_-x"}
	tok := receiptToken(&m)
	if tok != "12:AQAAAA_-x" {
		t.Fatalf("token %q", tok)
	}
	for _, in := range []string{tok, "receipt=" + tok} {
		got, err := parseReceiptToken("q", in)
		if err != nil || got.Queue != "q" || got.Partition != 12 || got.Receipt != m.Receipt || got.Offset != -1 {
			t.Errorf("parseReceiptToken(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "abc", ":abc", "-1:abc", "1:", "x:y", "99999999999:a"} {
		if _, err := parseReceiptToken("q", bad); exitCode(err) != exitUsage {
			t.Errorf("parseReceiptToken(%q): %v", bad, err)
		}
	}
	toks, err := readTokens(strings.NewReader("0:a 1:b\n\n  2:c\n"))
	if err != nil || strings.Join(toks, ",") != "0:a,1:b,2:c" {
		t.Errorf("readTokens: %q, %v", toks, err)
	}
}

func TestQueueMessageOutput(t *testing.T) {
	m := client.QueueMessage{Queue: "jobs", Partition: 2, Offset: 41, Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC),
		Key: []byte("k1"), Value: []byte("hello world"), Headers: []client.Header{{Key: "trace", Value: []byte("abc")}},
		Receipt: "AQAB", ReceiveCount: 3}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeQueueMessage(w, &m, false); err != nil {
		t.Fatal(err)
	}
	noKey := m
	noKey.Key, noKey.Value = nil, []byte{0xff}
	if err := writeQueueMessage(w, &noKey, true); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", b.String())
	}
	if want := `receipt=2:AQAB receives=3 partition=2 offset=41 time=2025-01-02T03:04:05.678Z key=k1 value="hello world" h.trace=abc`; lines[0] != want {
		t.Errorf("text:\n got %q\nwant %q", lines[0], want)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &j); err != nil {
		t.Fatal(err)
	}
	if j["queue"] != "jobs" || j["receipt"] != "2:AQAB" || j["receive_count"] != float64(3) || j["partition"] != float64(2) ||
		j["offset"] != float64(41) || j["key"] != nil || j["value_base64"] != "/w==" || j["timestamp"] != "2025-01-02T03:04:05.678Z" {
		t.Errorf("json: %v", j)
	}
	if _, ok := j["stream"]; ok {
		t.Errorf("json has a stream: %v", j)
	}
}

func TestQueueDescriptionOutput(t *testing.T) {
	q := client.QueueInfo{Name: "jobs", Stream: "orders", VisibilityTimeout: 45 * time.Second, MaxReceives: 5,
		DeadLetterStream: "dlq", Delay: time.Second, FIFO: true,
		Partitions: []client.QueuePartitionStats{
			{Partition: 0, Floor: 7, HighWatermark: 10, Pending: 3, InFlight: 1, Visible: 1, Delayed: 1,
				Oldest: time.Now().Add(-90 * time.Second)},
			{Partition: 1, Floor: -1, HighWatermark: -1, Pending: -1, InFlight: -1, Visible: -1, Delayed: -1},
			{Partition: 2, Floor: 0, HighWatermark: 5000000, Pending: 5000000, Visible: 5000000, Approximate: true},
		},
		DeadLetter: []client.DeadLetterStats{{Partition: 0, Messages: 4}, {Partition: 1, Messages: -1}}}
	var b bytes.Buffer
	if err := writeQueueDescription(&b, q); err != nil {
		t.Fatal(err)
	}
	want := "queue jobs\nstream orders, visibility 45s, max receives 5, dead letter dlq, delay 1s, fifo yes, filter -, created -\n\n" +
		"PARTITION  FLOOR  HIGH WATERMARK  VISIBLE   IN FLIGHT  DELAYED  OLDEST\n" +
		"0          7      10              1         1          1        1m30s ago\n" +
		"1          ?      ?               ?         ?          ?        -\n" +
		"2          0      5000000         ~5000000  0          0        -\n" +
		"~: the leader looked at the first 4 MiB of pending records and counted the rest as visible\n\n" +
		"dead-lettered, not redriven: at least 4 (a partition's leader did not answer) in stream dlq\n"
	if b.String() != want {
		t.Errorf("describe:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	cur := client.QueueInfo{Name: "audit", Stream: "news", Subscription: true, Cursor: true, Filter: `{"key":["k"]}`}
	if err := writeQueueDescription(&b, cur); err != nil {
		t.Fatal(err)
	}
	if want := "subscription audit\ntopic news, read through a cursor by consumer group audit, filter {\"key\":[\"k\"]}, created -\n" +
		"(its position and lag: sluice group describe audit)\n"; b.String() != want {
		t.Errorf("describe a cursor subscription:\n%s\nwant:\n%s", b.String(), want)
	}
	var j map[string]any
	if err := json.Unmarshal(mustJSON(t, toQueueJSON(q)), &j); err != nil {
		t.Fatal(err)
	}
	stats := j["partition_stats"].([]any)
	if j["visibility_timeout_ms"] != float64(45000) || j["fifo"] != true || len(stats) != 3 ||
		stats[1].(map[string]any)["floor"] != float64(-1) {
		t.Errorf("describe json: %v", j)
	}
}

func TestQueueHelp(t *testing.T) {
	for _, args := range []string{"queue", "topic", "queue send --help", "topic publish --help", "topic receive -h"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"sluice"}, strings.Fields(args)...), nil, &stdout, &stderr)
		if code != 0 || stdout.Len() == 0 {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q", args, code, stdout.Len(), stderr.String())
		}
	}
}
