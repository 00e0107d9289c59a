package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// TestGroupUsageErrors runs group command lines that are wrong before any
// cluster is needed: one line on stderr, exit code 2.
func TestGroupUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string
	}{
		{"consume s --group g --from 42",
			"--from 42: with --group, --from only says where a partition the group has no offset for starts (earliest or latest); " +
				"to move the group's offsets run: sluice group reset-offsets g --stream s --to 42"},
		{"consume s --group g --from 2025-01-01T00:00:00Z", "sluice group reset-offsets g --stream s --to 2025-01-01T00:00:00Z"},
		{"consume s --group g --from -1h", "sluice group reset-offsets g --stream s --to -1h"},
		{"consume s --group g --from soon", "--from: \"soon\" is not"},
		{"consume s --group g --partition 1", "--partition cannot be used with --group: the group assigns the partitions"},
		{"consume s -g g -p 0,1", "--partition cannot be used with --group"},
		{"consume s --group g --max -1", "--max -1"},
		{"consume s --group g --idle-timeout -1s", "--idle-timeout -1s"},
		{"consume s --group g --idle-timeout soon", "invalid value \"soon\" for flag -idle-timeout"},
		{"consume s --group g -o yaml", "-o \"yaml\""},
		{"consume s --group=", "--group: empty group name"},
		{"consume s --strategy range", "--strategy needs --group"},
		{"consume s --instance-id i1", "--instance-id needs --group"},
		{"consume s --idle-timeout 5s", "--idle-timeout needs --group"},
		{"consume --group g", "missing argument STREAM"},
		{"group frob", "unknown command \"frob\""},
		{"group list x", "unexpected argument \"x\""},
		{"group list -o yaml", "-o \"yaml\""},
		{"group describe", "missing argument GROUP"},
		{"group delete a b", "unexpected argument \"b\""},
		{"group reset-offsets --stream s --to earliest", "missing argument GROUP"},
		{"group reset-offsets g --stream s", "group reset-offsets: --to is required"},
		{"group reset-offsets g --to earliest", "group reset-offsets: --stream is required"},
		{"group reset-offsets g --stream s --to soon", "--to: \"soon\" is not earliest, latest, an offset"},
		{"group reset-offsets g --stream s --to -5", "--to: offset -5 is negative"},
		{"group reset-offsets g --stream s --to -0s", "--to"},
		{"group reset-offsets g --stream s --to earliest --partition 1,x", "--partition \"1,x\""},
		{"group reset-offsets g --stream s --to earliest --bogus", "flag provided but not defined: -bogus"},
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

func TestGroupReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct{ in, want string }{
		{"sluice consume orders --group g --max 10 -o json", "sluice consume --group g --max 10 -o json orders"},
		{"sluice consume orders -g g --idle-timeout 2s --strategy range --instance-id i1",
			"sluice consume -g g --idle-timeout 2s --strategy range --instance-id i1 orders"},
		{"sluice group reset-offsets g --stream s --to -1h -p 0,1", "sluice group reset-offsets --stream s --to -1h -p 0,1 g"},
		{"sluice group describe g -o json", "sluice group describe -o json g"},
		{"sluice group delete g --server h:1", "sluice group delete --server h:1 g"},
	} {
		if got := strings.Join(reorderArgs(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("reorderArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestGroupErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		line string
	}{
		{groupAdminError("g", &client.Error{Code: client.CodeUnknownGroup, Msg: "consumergroup: unknown group: group \"g\""}),
			exitNotFound, `sluice: unknown group "g"`},
		{groupAdminError("g", fmt.Errorf("x: %w", &client.Error{Code: client.CodeGroupNotEmpty, Msg: "2 members"})),
			exitBusy, `sluice: group "g" has live members: stop them (or wait for their session timeout) first`},
		{groupAdminError("g", &client.Error{Code: client.CodeUnknownStream, Msg: "stream \"s\""}),
			exitNotFound, `sluice: unknown stream: stream "s"`},
		{joinError(groupConsumeOptions{group: "g", strategy: "foo"},
			fmt.Errorf("group \"g\": join: %w", &client.Error{Code: client.CodeUnknownStrategy, Msg: "long"})),
			exitRejected, `sluice: --strategy "foo": the cluster knows no such assignment strategy (want range, roundrobin, cooperative-sticky)`},
		{joinError(groupConsumeOptions{group: "g"}, &client.Error{Code: client.CodeInconsistentStrategy}),
			exitRejected, `sluice: group "g": its members use another assignment strategy than --strategy cooperative-sticky (the default)`},
		{&client.Error{Code: client.CodeFencedInstance}, exitError, "sluice: fenced instance (another member took the instance id)"},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if got := errorLine(tc.err); got != tc.line {
			t.Errorf("errorLine:\n got %q\nwant %q", got, tc.line)
		}
	}
}

func TestPartsText(t *testing.T) {
	sp := func(s string, p int32) client.StreamPartition { return client.StreamPartition{Stream: s, Partition: p} }
	for _, tc := range []struct {
		parts []client.StreamPartition
		want  string
	}{
		{nil, "-"},
		{[]client.StreamPartition{sp("a", 3)}, "a:3"},
		{[]client.StreamPartition{sp("b", 1), sp("a", 2), sp("a", 0), sp("a", 1), sp("a", 5), sp("a", 6), sp("a", 9)},
			"a:0-2,5-6,9 b:1"},
	} {
		if got := partsText(tc.parts); got != tc.want {
			t.Errorf("partsText(%v) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

func TestGroupDescriptionOutput(t *testing.T) {
	hb := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	sp := func(p int32) client.StreamPartition { return client.StreamPartition{Stream: "orders", Partition: p} }
	d := client.GroupDescription{
		GroupInfo: client.GroupInfo{Group: "g", State: "reconciling", Members: 2, Generation: 7,
			Strategy: "range", Streams: []string{"orders"}},
		Members: []client.GroupMember{
			{MemberID: "m1", Streams: []string{"orders"}, Assigned: []client.StreamPartition{sp(0), sp(1)},
				Owned: []client.StreamPartition{sp(0), sp(1), sp(2)}, SessionTimeout: 10 * time.Second, LastHeartbeat: hb},
			{MemberID: "m2", InstanceID: "i2", Streams: []string{"orders"}, Assigned: []client.StreamPartition{sp(2)}},
		},
		Offsets: []client.GroupOffset{
			{StreamPartition: sp(0), Committed: 5, LogStartOffset: 0, HighWatermark: 9, Lag: 4},
			{StreamPartition: sp(1), Committed: -1, LogStartOffset: 0, HighWatermark: 3, Lag: -1},
			{StreamPartition: sp(2), Committed: -1, LogStartOffset: -1, HighWatermark: -1, Lag: -1,
				Err: &client.Error{Code: client.CodeNoLeader, Msg: "election"}},
		},
	}
	var b bytes.Buffer
	if err := writeGroupDescription(&b, d); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"group g\nreconciling, 2 members, generation 7, strategy range, streams orders\n\n",
		"MEMBER  INSTANCE  ASSIGNED    OWNED       LAST HEARTBEAT\nm1      -         orders:0-1  orders:0-2  ",
		"m2      i2        orders:2    -           -\n",
		"STREAM  PARTITION  COMMITTED  HIGH WATERMARK  LAG  LAST COMMIT\n" +
			"orders  0          5          9               4    -\n" +
			"orders  1          -          3               -    -\n" +
			"orders  2          ?          ?               ?    ?\n" +
			"stream orders partition 2: sluice: no leader (election in progress): election\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("describe output lacks %q:\n%s", want, text)
		}
	}

	var j map[string]any
	if err := json.Unmarshal(mustJSON(t, toGroupDescriptionJSON(d)), &j); err != nil {
		t.Fatal(err)
	}
	if j["members"] != float64(2) || len(j["member_info"].([]any)) != 2 || len(j["offsets"].([]any)) != 3 {
		t.Errorf("describe json: %v", j)
	}
	m1 := j["member_info"].([]any)[0].(map[string]any)
	if fmt.Sprint(m1["owned"]) != "map[orders:[0 1 2]]" || m1["last_heartbeat"] != "2025-01-02T03:04:05Z" {
		t.Errorf("member json: %v", m1)
	}
	o2 := j["offsets"].([]any)[2].(map[string]any)
	if o2["committed"] != float64(-1) || !strings.Contains(o2["error"].(string), "no leader") {
		t.Errorf("offset json: %v", o2)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
