package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/server"
)

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"7d", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"36h", 36 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0", 0, false},
		{"unlimited", 0, false},
		{"none", 0, false},
		{"", 0, true},
		{"7x", 0, true},
		{"-1h", 0, true},
		{"d", 0, true},
		{"1dd", 0, true},
	} {
		got, err := parseRetention(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for d, want := range map[time.Duration]string{0: "unlimited", 7 * 24 * time.Hour: "7d",
		36 * time.Hour: "1d12h0m0s", 90 * time.Minute: "1h30m0s"} {
		if got := formatRetention(d); got != want {
			t.Errorf("formatRetention(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"1048576", 1 << 20, false},
		{"1MiB", 1 << 20, false},
		{"500MiB", 500 << 20, false},
		{"10GB", 10e9, false},
		{"2g", 2 << 30, false},
		{"64 KiB", 64 << 10, false},
		{"0", 0, false},
		{"unlimited", 0, false},
		{"-1", 0, true},
		{"1.5GiB", 0, true},
		{"lots", 0, true},
		{"99999999999TiB", 0, true},
	} {
		got, err := parseBytes(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseBytes(%q) = %v, %v; want %v, bad %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for n, want := range map[int64]string{0: "unlimited", 1 << 20: "1MiB", 3 << 30: "3GiB", 1000: "1000B"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseBootstrap(t *testing.T) {
	self := server.Peer{ID: "n1", RaftAddr: "h1:7170", ClientAddr: "h1:7070"}
	peers, err := parseBootstrap([]string{"n1=h1:7170/h1:7070,n2=h2:7170/h2:7070", "n3=[::1]:7172/[::1]:7072"}, self)
	if err != nil {
		t.Fatal(err)
	}
	want := []server.Peer{self, {ID: "n2", RaftAddr: "h2:7170", ClientAddr: "h2:7070"},
		{ID: "n3", RaftAddr: "[::1]:7172", ClientAddr: "[::1]:7072"}}
	if fmt.Sprint(peers) != fmt.Sprint(want) {
		t.Fatalf("got %+v, want %+v", peers, want)
	}
	if peers, err := parseBootstrap([]string{"n1"}, self); err != nil || len(peers) != 1 || peers[0] != self {
		t.Fatalf("self shorthand: %+v, %v", peers, err)
	}
	if peers, err := parseBootstrap(nil, self); err != nil || peers != nil {
		t.Fatalf("no bootstrap: %+v, %v", peers, err)
	}
	for _, bad := range [][]string{
		{"n2=h2:7170/h2:7070"},               // self missing
		{"n1", "n1=h1:7170/h1:7070"},         // twice
		{"n1", "n2"},                         // another node by id alone
		{"n1", "n2=h2:7170"},                 // no client address
		{"n1", "=h2:7170/h2:7070"},           // no id
		{"n1", "n2=h2/h2:7070"},              // no port
		{"n1", "n2=h2:7170/h2:0"},            // port 0
		{"n1,n2=h2:7170/h2:7070,n2=h:1/h:2"}, // twice in one flag
	} {
		if _, err := parseBootstrap(bad, self); err == nil || exitCode(err) != exitUsage {
			t.Errorf("parseBootstrap(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for _, r := range []client.Record{
		{Stream: "s", Partition: 2, Offset: 17, Timestamp: ts, Key: []byte("k1"), Value: []byte("hello"),
			Headers: []client.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("")}}},
		{Stream: "s", Partition: 0, Offset: 0, Timestamp: ts, Value: []byte{}},                   // no key, empty value
		{Stream: "s", Partition: 1, Offset: 5, Timestamp: ts, Key: []byte{}, Value: []byte("x")}, // empty key
		{Stream: "s", Partition: 1, Offset: 6, Timestamp: ts, Key: []byte{0xff, 0}, Value: []byte{0xc3, 0x28}},
	} {
		line, err := encodeRecordJSON(&r)
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(line, &generic); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"partition", "offset", "timestamp", "key", "headers"} {
			if _, ok := generic[k]; !ok {
				t.Errorf("%s: no %q", line, k)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, generic["timestamp"].(string)); err != nil {
			t.Errorf("%s: timestamp: %v", line, err)
		}
		got := client.Record{Stream: "s", Partition: client.AnyPartition}
		if err := decodeRecordJSON(withoutFields(t, line, "stream", "offset"), &got); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if (got.Key == nil) != (r.Key == nil) || !bytes.Equal(got.Key, r.Key) || !bytes.Equal(got.Value, r.Value) ||
			got.Partition != r.Partition || !got.Timestamp.Equal(r.Timestamp) || fmt.Sprint(got.Headers) != fmt.Sprint(r.Headers) {
			t.Errorf("%s: round trip gave %+v, want %+v", line, got, r)
		}
	}
}

func withoutFields(t *testing.T, line []byte, fields ...string) []byte {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		delete(m, f)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestDecodeRecordJSONErrors(t *testing.T) {
	for _, line := range []string{
		`not json`,
		`{"vlaue": "typo"}`,
		`{"value": "a"} {"value": "b"}`,
		`{"value": "a", "value_base64": "YQ=="}`,
		`{"value_base64": "!!"}`,
		`{"partition": -2}`,
		`{"timestamp": "yesterday"}`,
		`{"headers": {"a": 1}}`,
	} {
		var r client.Record
		if err := decodeRecordJSON([]byte(line), &r); err == nil {
			t.Errorf("decodeRecordJSON(%s): no error", line)
		}
	}
}

func TestWriteRecordText(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	var b bytes.Buffer
	r := client.Record{Partition: 3, Offset: 17, Timestamp: ts, Key: []byte("k1"), Value: []byte("hello world"),
		Headers: []client.Header{{Key: "trace", Value: []byte("abc")}}}
	if err := writeRecordText(&b, &r); err != nil {
		t.Fatal(err)
	}
	want := `partition=3 offset=17 time=2025-01-02T03:04:05.678Z key=k1 value="hello world" h.trace=abc` + "\n"
	if b.String() != want {
		t.Fatalf("got  %q\nwant %q", b.String(), want)
	}
}

func TestReadLine(t *testing.T) {
	in := "a\r\nb\n\nlast"
	r := bufio.NewReaderSize(strings.NewReader(in+strings.Repeat("x", 40)+"\n"), 16)
	var got []string
	for {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	want := []string{"a", "b", "", "last" + strings.Repeat("x", 40)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseFrom(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"earliest": "earliest", "latest": "latest", "42": "offset 42",
		"2025-01-01T00:00:00Z": "time 2025-01-01T00:00:00Z", "-1h": "time 2025-01-02T02:00:00Z",
	} {
		s, err := parseFrom(in, now)
		if err != nil || s.at.String() != want {
			t.Errorf("parseFrom(%q) = %v, %v; want %s", in, s.at, err, want)
		}
	}
	for _, bad := range []string{"-5", "soon", "2025-13-01T00:00:00Z", "-0s"} {
		if _, err := parseFrom(bad, now); err == nil {
			t.Errorf("parseFrom(%q): no error", bad)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("x"), exitError},
		{usagef("x"), exitUsage},
		{fmt.Errorf("wrapped: %w", client.ErrUnreachable), exitUnreachable},
		{&client.Error{Code: client.CodeUnknownStream}, exitNotFound},
		{&client.Error{Code: client.CodeStreamExists}, exitExists},
		{fmt.Errorf("record 3: %w", &client.Error{Code: client.CodeRecordTooLarge}), exitRejected},
		{fmt.Errorf("start: %w", server.ErrDataDirInUse), exitBusy},
		{errInterrupted, exitInterrupted},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if got := errorLine(errors.New("a\nb")); got != "sluice: a b" {
		t.Errorf("errorLine = %q", got)
	}
}
