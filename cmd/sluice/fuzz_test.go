package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/server"
)

// FuzzParseRetention: what parses is a duration of 0 (unlimited) or more
// that formatRetention renders as text parsing back to it.
func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"", "0", "none", "UNLIMITED", "7d", "1d12h", "36h", "90m", "1.5h", " 2d ", "d", "0d",
		"-5h", "1d-5h", "2147483647d", "106751d", "106752d", "9223372036854775807ns", "5x", "1d1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseRetention(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("parseRetention(%q) = %v", s, d)
		}
		text := formatRetention(d)
		if again, err := parseRetention(text); err != nil || again != d {
			t.Fatalf("parseRetention(%q) = %v, rendered %q, parsed back to %v, %v", s, d, text, again, err)
		}
	})
}

// FuzzParseBytes: what parses is a size of 0 (unlimited) to 2^62 bytes
// that formatBytes renders as text parsing back to it.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"", "0", "none", "unlimited", "1", "500MiB", "10GB", "1k", "1 KiB", "4611686018427387904",
		"4611686018427387905", "4194304TiB", "-1", "1.5GiB", "9999999999TiB", "B", "KiB", "+5", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseBytes(s)
		if err != nil {
			return
		}
		if n < 0 || n > 1<<62 {
			t.Fatalf("parseBytes(%q) = %d", s, n)
		}
		text := formatBytes(n)
		if again, err := parseBytes(text); err != nil || again != n {
			t.Fatalf("parseBytes(%q) = %d, rendered %q, parsed back to %d, %v", s, n, text, again, err)
		}
	})
}

// FuzzParseFrom: --from and --to parse to one of the four kinds of start,
// and an offset or a time parses back from how the start prints.
func FuzzParseFrom(f *testing.F) {
	for _, s := range []string{"earliest", "LATEST", " start ", "0", "42", "-5", "9223372036854775807", "+7",
		"2025-01-02T03:04:05Z", "2025-01-02T03:04:05.123456789+05:30", "-1h", "-7d", "-0s", "-", "yesterday", ""} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseFrom(s, now)
		if err != nil {
			return
		}
		var again string
		switch spec.kind {
		case "earliest", "latest":
			if spec.at.String() != spec.kind {
				t.Fatalf("parseFrom(%q): %s start prints as %q", s, spec.kind, spec.at)
			}
			return
		case "offset":
			if spec.offset < 0 || spec.at != client.Offset(spec.offset) {
				t.Fatalf("parseFrom(%q) = offset %d, %v", s, spec.offset, spec.at)
			}
			again = strconv.FormatInt(spec.offset, 10)
		case "time":
			again = strings.TrimPrefix(spec.at.String(), "time ")
		default:
			t.Fatalf("parseFrom(%q): kind %q", s, spec.kind)
		}
		back, err := parseFrom(again, now)
		if err != nil || back.at.String() != spec.at.String() {
			t.Fatalf("parseFrom(%q) = %v; %q parses to %v, %v", s, spec.at, again, back.at, err)
		}
	})
}

// FuzzParsePartitions: --partition parses to distinct partition numbers,
// or to a usage error.
func FuzzParsePartitions(f *testing.F) {
	for _, s := range []string{"", "0", "1,2,3", "3, 1 ,3", "1,,2", "-1", "2147483647", "2147483648", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := parsePartitions([]string{s})
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parsePartitions(%q): %v is not a usage error", s, err)
			}
			return
		}
		for i, p := range parts {
			if p < 0 || slices.Contains(parts[:i], p) {
				t.Fatalf("parsePartitions(%q) = %v", s, parts)
			}
		}
	})
}

// FuzzParseAddresses: --server, --dial-via and --bootstrap give only
// host:port addresses with a port 1-65535, or a usage error.
func FuzzParseAddresses(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1:7070", "a:1,b:2", "[::1]:7070", ":7070", "h:", "h:0", "h:65536", "h:http",
		"a:1=b:2", "a:1=b:2,c:3=d:4", "a:1=b:2,a:1=c:3", "n1", "n1=a:1/b:2", "n1=a:1/b:2,n2=c:3/d:4", "n2=a:1/b:2", "=a:1/b:2",
		"n1=a:1", "n1=a:1/b:2,n1=c:3/d:4"} {
		f.Add(s)
	}
	self := server.Peer{ID: "n1", RaftAddr: "127.0.0.1:7170", ClientAddr: "127.0.0.1:7070"}
	f.Fuzz(func(t *testing.T, s string) {
		isUsage := func(what string, err error) bool {
			var ue *usageError
			if err != nil && !errors.As(err, &ue) {
				t.Fatalf("%s(%q): %v is not a usage error", what, s, err)
			}
			return err == nil
		}
		if servers, err := parseServers(s); isUsage("parseServers", err) {
			for _, a := range servers {
				if !validHostPort(a) {
					t.Fatalf("parseServers(%q) = %q", s, servers)
				}
			}
		}
		if via, err := parseDialVia([]string{s}); isUsage("parseDialVia", err) {
			for from, to := range via {
				if !validHostPort(from) || !validHostPort(to) {
					t.Fatalf("parseDialVia(%q) = %v", s, via)
				}
			}
		}
		if peers, err := parseBootstrap([]string{s}, self); isUsage("parseBootstrap", err) {
			ids := map[string]bool{}
			for _, p := range peers {
				if p.ID == "" || ids[p.ID] || !validHostPort(p.RaftAddr) || !validHostPort(p.ClientAddr) {
					t.Fatalf("parseBootstrap(%q) = %+v", s, peers)
				}
				ids[p.ID] = true
			}
			if len(peers) > 0 && !ids[self.ID] {
				t.Fatalf("parseBootstrap(%q) = %+v: without this node", s, peers)
			}
		}
	})
}

// FuzzParseReceiptToken: a token parses to a message whose token parses
// back to it, or to a usage error.
func FuzzParseReceiptToken(f *testing.F) {
	for _, s := range []string{"0:abc", "receipt=3:x:y", "12", ":r", "1:", "-1:r", "01:r", "2147483648:r", "receipt=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		m, err := parseReceiptToken("q", tok)
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseReceiptToken(%q): %v is not a usage error", tok, err)
			}
			return
		}
		if m.Queue != "q" || m.Partition < 0 || m.Receipt == "" {
			t.Fatalf("parseReceiptToken(%q) = %+v", tok, m)
		}
		back, err := parseReceiptToken("q", receiptToken(&m))
		if err != nil || back.Queue != m.Queue || back.Partition != m.Partition || back.Receipt != m.Receipt ||
			back.Offset != m.Offset {
			t.Fatalf("parseReceiptToken(%q) = %+v; its token %q parses to %+v, %v", tok, m, receiptToken(&m), back, err)
		}
	})
}

// FuzzDecodeRecordJSON: a line of produce --format json decodes to a
// record that consume -o json prints as a line decoding to the same
// record.
func FuzzDecodeRecordJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"key":"k","value":"v","headers":{"h":"x","a":""},"partition":2,"timestamp":"2025-01-02T03:04:05.678Z"}`,
		`{"key":null,"value_base64":"/w=="}`, `{"key_base64":"AAE=","value":""}`, `{"key":"a","key_base64":"YQ=="}`,
		`{"partition":-1}`, `{"timestamp":"yesterday"}`, `{"timestamp":"0000-01-01T00:30:00+01:00"}`, `{"bogus":1}`,
		`{} {}`, `[]`, `{"value_base64":"!"}`, `{"stream":"s","offset":7,"headers":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec client.Record
		if err := decodeRecordJSON(line, &rec); err != nil {
			return
		}
		out, err := encodeRecordJSON(&rec)
		if err != nil {
			t.Fatalf("%q decoded to %+v, which does not encode: %v", line, rec, err)
		}
		var back client.Record
		if err := decodeRecordJSON(out, &back); err != nil {
			t.Fatalf("%q decoded to %+v, printed as %q, which does not decode: %v", line, rec, out, err)
		}
		if !sameRecord(rec, back) {
			t.Fatalf("%q decoded to %+v, printed as %q, decoded back to %+v", line, rec, out, back)
		}
	})
}

func sameRecord(a, b client.Record) bool {
	sameBytes := func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }
	return sameBytes(a.Key, b.Key) && sameBytes(a.Value, b.Value) && a.Partition == b.Partition &&
		a.Timestamp.Equal(b.Timestamp) &&
		slices.EqualFunc(a.Headers, b.Headers, func(x, y client.Header) bool { return x.Key == y.Key && bytes.Equal(x.Value, y.Value) })
}

// FuzzReadLine: the lines read from data, through a small buffer (lines
// longer than it come in pieces), are data split at "\n", with a "\r"
// before it dropped, and a last line without "\n".
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"", "\n", "a", "a\nb", "a\r\nb\r\n", "\r\n\r", strings.Repeat("x", 40) + "\n" + strings.Repeat("y", 17)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var lines [][]byte
		for {
			line, err := readLine(r)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("readLine: %v", err)
			}
			lines = append(lines, line)
		}
		// Each piece but the last ended with "\n"; the last is a line
		// when not empty.
		want := bytes.Split(data, []byte("\n"))
		for i := range want[:len(want)-1] {
			want[i] = bytes.TrimSuffix(want[i], []byte("\r"))
		}
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1]
		}
		if !slices.EqualFunc(lines, want, bytes.Equal) {
			t.Fatalf("readLine of %q: %q, want %q", data, lines, want)
		}
	})
}
