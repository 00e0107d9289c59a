package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// clientCommand is a command that talks to a cluster, with the arguments
// and flags that make a valid command line of it (a bad flag added to
// them is then the only thing wrong).
type clientCommand struct {
	path    string   // the command words
	valid   []string // positional arguments, then required flags
	arity   bool     // a fixed number of arguments: one more is an error
	missing string   // the argument reported missing without any ("": none is required)
}

var clientCommands = []clientCommand{
	{"cluster status", nil, true, ""},
	{"stream create", []string{"s", "--partitions", "1"}, true, "NAME"},
	{"stream list", nil, true, ""},
	{"stream describe", []string{"s"}, true, "NAME"},
	{"stream delete", []string{"s"}, true, "NAME"},
	{"stream alter", []string{"s", "--retention", "1d"}, true, "NAME"},
	{"produce", []string{"s", "--value", "v"}, true, "STREAM"},
	{"consume", []string{"s"}, true, "STREAM"},
	{"group list", nil, true, ""},
	{"group describe", []string{"g"}, true, "GROUP"},
	{"group reset-offsets", []string{"g", "--stream", "s", "--to", "earliest"}, true, "GROUP"},
	{"group delete", []string{"g"}, true, "GROUP"},
	{"queue create", []string{"q"}, true, "QUEUE"},
	{"queue delete", []string{"q"}, true, "QUEUE"},
	{"queue list", nil, true, ""},
	{"queue describe", []string{"q"}, true, "QUEUE"},
	{"queue purge", []string{"q"}, true, "QUEUE"},
	{"queue redrive", []string{"q"}, true, "QUEUE"},
	{"queue send", []string{"q", "v"}, true, "QUEUE"},
	{"queue receive", []string{"q"}, true, "QUEUE"},
	{"queue ack", []string{"q", "0:r"}, false, "QUEUE"},
	{"queue nack", []string{"q", "0:r"}, false, "QUEUE"},
	{"queue extend", []string{"q", "0:r", "--visibility", "1s"}, false, "QUEUE"},
	{"topic create", []string{"t"}, true, "TOPIC"},
	{"topic subscribe", []string{"t", "sub"}, true, "TOPIC"},
	{"topic unsubscribe", []string{"sub"}, true, "SUBSCRIPTION"},
	{"topic subscriptions", []string{"t"}, true, ""},
	{"topic publish", []string{"t", "--value", "v"}, true, "TOPIC"},
	{"topic receive", []string{"sub"}, true, "SUBSCRIPTION"},
}

// badFlagCase is a command line that is wrong before any cluster is
// needed.
type badFlagCase struct {
	args []string
	code int
	want string // in the one line on stderr: the flag or argument at fault
}

// badFlagCases are the bad inputs of each command, beyond the ones every
// client command shares (see commonBadFlags).
func badFlagCases(t *testing.T) []badFlagCase {
	dataDir := filepath.Join(t.TempDir(), "data")
	usage := func(want string, args ...string) badFlagCase {
		return badFlagCase{args: args, code: exitUsage, want: want}
	}
	// sluice server with the required flags and addresses of its own: a
	// check that regressed starts a node (with a cancelled context, see
	// TestBadFlags) that stops at once.
	server := func(want string, args ...string) badFlagCase {
		base := []string{"server", "--id", "n1", "--data-dir", dataDir, "--raft-addr", freeAddr(t), "--client-addr", freeAddr(t)}
		return usage(want, append(base, args...)...)
	}
	const workload = "../../bench/workloads/keyed.yaml"
	return []badFlagCase{
		usage(`unknown command "frobnicate"`, "frobnicate"),
		usage(`unknown command "frob"`, "stream", "frob"),
		usage("flag provided but not defined: -bogus", "stream", "list", "--bogus"),
		usage("flag provided but not defined: -bogus", "--bogus"),
		usage("No help topic for 'frob'", "help", "frob"),
		usage("No help topic for 'frob'", "stream", "help", "frob"),

		// stream
		usage("--partitions is required", "stream", "create", "s"),
		usage(`invalid value "x" for flag -partitions`, "stream", "create", "s", "--partitions", "x"),
		usage("--partitions 0: want at least 1", "stream", "create", "s", "--partitions", "0"),
		usage("--partitions -1: want at least 1", "stream", "create", "s", "--partitions", "-1"),
		usage("--partitions 10001: want at most 10000", "stream", "create", "s", "--partitions", "10001"),
		// 1<<32 + 1 would be 1 partition once the client narrows it to int32.
		usage("--partitions 4294967297: want at most", "stream", "create", "s", "--partitions", "4294967297"),
		usage("--replicas -1: want 1 to 7", "stream", "create", "s", "--partitions", "1", "--replicas", "-1"),
		usage("--replicas 8: want 1 to 7", "stream", "create", "s", "--partitions", "1", "--replicas", "8"),
		usage(`--retention: "7x" is not a duration`, "stream", "create", "s", "--partitions", "1", "--retention", "7x"),
		usage(`--retention: "-5h" is not a duration`, "stream", "create", "s", "--partitions", "1", "--retention", "-5h"),
		// More days than a Duration holds: it wrapped to a negative retention.
		usage(`--retention: "106752d" is not a duration`, "stream", "create", "s", "--partitions", "1", "--retention", "106752d"),
		usage(`--retention: "106751d24h" is not a duration`, "stream", "alter", "s", "--retention", "106751d24h"),
		usage("--retention: empty duration", "stream", "create", "s", "--partitions", "1", "--retention", ""),
		usage(`--retention-bytes: "-1" is not a size`, "stream", "create", "s", "--partitions", "1", "--retention-bytes", "-1"),
		usage(`--retention-bytes: "1.5GiB" is not a size`, "stream", "create", "s", "--partitions", "1", "--retention-bytes", "1.5GiB"),
		usage(`--retention-bytes: "9999999999TiB" is not a size`,
			"stream", "create", "s", "--partitions", "1", "--retention-bytes", "9999999999TiB"),
		usage(`--max-record-bytes: "0" is not a size from 1B to 64MiB`,
			"stream", "create", "s", "--partitions", "1", "--max-record-bytes", "0"),
		usage(`--max-record-bytes: "none" is not a size`, "stream", "create", "s", "--partitions", "1", "--max-record-bytes", "none"),
		usage(`--max-record-bytes: "65MiB" is not a size`, "stream", "create", "s", "--partitions", "1", "--max-record-bytes", "65MiB"),
		usage("nothing to change", "stream", "alter", "s"),
		usage(`--retention-bytes: "lots" is not a size`, "stream", "alter", "s", "--retention-bytes", "lots"),

		// produce and topic publish
		usage(`--format "xml": want text or json`, "produce", "s", "--format", "xml"),
		usage("--format json reads standard input: it does not go with --value", "produce", "s", "--format", "json", "--value", "v"),
		usage("--key-separator goes with text input and no --key", "produce", "s", "--key", "k", "--key-separator", ":"),
		usage("--key-separator goes with text input and no --key", "produce", "s", "--format", "json", "--key-separator", ":"),
		usage(`--header "novalue": want name=value`, "produce", "s", "--header", "novalue"),
		usage(`--header "=v": want name=value`, "produce", "s", "-H", "=v"),
		usage("--partition -2: want a partition number", "produce", "s", "--partition", "-2"),
		usage("--partition 10000: want a partition number (0 to 9999)", "produce", "s", "--partition", "10000"),
		// 1<<32 would be partition 0 once narrowed to int32.
		usage("--partition 4294967296: want a partition number", "produce", "s", "--partition", "4294967296"),
		usage(`--compression "brotli": want none, gzip, snappy, lz4 or zstd`, "produce", "s", "--compression", "brotli"),
		usage(`--compression "GZIP"`, "topic", "publish", "t", "--compression", "GZIP"),
		usage("missing argument TOPIC", "topic", "publish"),

		// consume
		usage(`--from: "yesterday" is not earliest, latest`, "consume", "s", "--from", "yesterday"),
		usage(`--from: "" is not earliest, latest`, "consume", "s", "--from", ""),
		usage("--from: offset -5 is negative", "consume", "s", "--from", "-5"),
		usage(`--from: "-0s" is not`, "consume", "s", "--from", "-0s"),
		usage(`--from: "2024-13-01T00:00:00Z" is not`, "consume", "s", "--from", "2024-13-01T00:00:00Z"),
		usage("--max -1: want 0 (no limit) or more", "consume", "s", "--max", "-1"),
		usage(`--partition "1,x": want partition numbers`, "consume", "s", "--partition", "1,x"),
		usage(`--partition "-1": want partition numbers`, "consume", "s", "-p", "-1"),
		usage(`--partition "4294967296": want partition numbers`, "consume", "s", "--partition", "4294967296"),
		usage("--strategy needs --group", "consume", "s", "--strategy", "range"),
		usage("--instance-id needs --group", "consume", "s", "--instance-id", "i1"),
		usage("--idle-timeout needs --group", "consume", "s", "--idle-timeout", "5s"),
		usage("--group: empty group name", "consume", "s", "--group", ""),
		usage(`--group "a\tb": group name "a\tb" holds a control character`, "consume", "s", "--group", "a\tb"),
		usage(`--group "`+strings.Repeat("g", 300)+`": group name must be 1..`, "consume", "s", "--group", strings.Repeat("g", 300)),
		usage("--from 5: with --group", "consume", "s", "--group", "g", "--from", "5"),
		usage(`--from: "bogus" is not`, "consume", "s", "--group", "g", "--from", "bogus"),
		usage("--partition cannot be used with --group", "consume", "s", "--group", "g", "--partition", "0"),
		usage("--max -1: want 0 (no limit) or more", "consume", "s", "--group", "g", "--max", "-1"),
		usage("--idle-timeout -1s: want 0 (follow) or more", "consume", "s", "--group", "g", "--idle-timeout", "-1s"),
		usage(`-o "yaml"`, "consume", "s", "--group", "g", "-o", "yaml"),
		usage("--timeout 0s", "consume", "s", "--group", "g", "--timeout", "0s"),

		// group
		usage("--stream is required", "group", "reset-offsets", "g", "--to", "earliest"),
		usage("--to is required", "group", "reset-offsets", "g", "--stream", "s"),
		usage(`--to: "soon" is not earliest, latest`, "group", "reset-offsets", "g", "--stream", "s", "--to", "soon"),
		usage("--to: offset -3 is negative", "group", "reset-offsets", "g", "--stream", "s", "--to", "-3"),
		usage(`--partition "x"`, "group", "reset-offsets", "g", "--stream", "s", "--to", "earliest", "--partition", "x"),

		// queue
		usage("--visibility 0s: want 1ms to 12h", "queue", "create", "q", "--visibility", "0s"),
		usage("--visibility -1s: want 1ms to 12h", "queue", "create", "q", "--visibility", "-1s"),
		usage("--visibility 13h0m0s: want 1ms to 12h", "queue", "create", "q", "--visibility", "13h"),
		usage(`invalid value "soon" for flag -visibility`, "queue", "create", "q", "--visibility", "soon"),
		usage("--max-receives -1: want 0 (unlimited) to 1000", "queue", "create", "q", "--max-receives", "-1"),
		usage("--max-receives 1001", "queue", "create", "q", "--max-receives", "1001", "--dead-letter", "d"),
		usage("--max-receives needs --dead-letter", "queue", "create", "q", "--max-receives", "3"),
		usage("--dead-letter needs --max-receives", "queue", "create", "q", "--dead-letter", "d"),
		usage("--delay -1s: want 0 to 15m0s", "queue", "create", "q", "--delay", "-1s"),
		usage("--delay 16m0s: want 0 to 15m0s", "queue", "create", "q", "--delay", "16m"),
		usage(`--filter "{": not JSON`, "queue", "create", "q", "--filter", "{"),
		// JSON, but not a filter policy.
		usage(`--filter "[1]": consumergroup: invalid filter`, "queue", "create", "q", "--filter", "[1]"),
		usage(`--filter "{\"key\":\"x\"}": consumergroup: invalid filter`, "queue", "create", "q", "--filter", `{"key":"x"}`),
		usage("--partitions 0: want at least 1", "queue", "create", "q", "--partitions", "0"),
		usage("--partitions 10001: want at most 10000", "queue", "create", "q", "--partitions", "10001"),
		usage(`--retention: "soon" is not a duration`, "queue", "create", "q", "--retention", "soon"),
		usage("--retention sets the retention of the stream the queue creates", "queue", "create", "q", "--stream", "s", "--retention", "1d"),
		usage(`unexpected argument "c"`, "queue", "send", "q", "v", "c"),
		usage("--delay -5ms: want 0 to 15m0s", "queue", "send", "q", "v", "--delay", "-5ms"),
		usage("--delay 20m0s: want 0 to 15m0s", "queue", "send", "q", "v", "--delay", "20m"),
		usage(`--header "nov": want name=value`, "queue", "send", "q", "v", "--header", "nov"),
		usage("--max 0: want 1 to 1000", "queue", "receive", "q", "--max", "0"),
		usage("--max 1001: want 1 to 1000", "queue", "receive", "q", "--max", "1001"),
		usage("--wait -1s: want 0 to 20s", "queue", "receive", "q", "--wait", "-1s"),
		usage("--wait 21s: want 0 to 20s", "queue", "receive", "q", "--wait", "21s"),
		usage("missing argument QUEUE", "queue", "ack"),
		usage("no receipts given", "queue", "ack", "q"),
		usage(`receipt "abc": want PARTITION:RECEIPT`, "queue", "ack", "q", "abc"),
		usage(`receipt "1:": want PARTITION:RECEIPT`, "queue", "ack", "q", "0:ok", "1:"),
		usage(`receipt ":r": want PARTITION:RECEIPT`, "queue", "nack", "q", ":r"),
		usage(`receipt "4294967296:r": want PARTITION:RECEIPT`, "queue", "ack", "q", "4294967296:r"),
		usage("flag provided but not defined: -1:r", "queue", "ack", "q", "-1:r"),
		usage("--delay -1s: want 0 to 15m0s", "queue", "nack", "q", "0:r", "--delay", "-1s"),
		usage("--delay 16m0s: want 0 to 15m0s", "queue", "nack", "q", "0:r", "--delay", "16m"),
		usage("--visibility is required", "queue", "extend", "q", "0:r"),
		usage("--visibility -1s: want 0 to 12h", "queue", "extend", "q", "0:r", "--visibility", "-1s"),
		usage("--visibility 13h0m0s: want 0 to 12h", "queue", "extend", "q", "0:r", "--visibility", "13h"),

		// topic
		usage("--partitions 0: want at least 1", "topic", "create", "t", "--partitions", "0"),
		usage("--partitions 20000: want at most 10000", "topic", "create", "t", "--partitions", "20000"),
		usage("--replicas -1: want 1 to 7", "topic", "create", "t", "--replicas", "-1"),
		usage(`--retention: "7x" is not a duration`, "topic", "create", "t", "--retention", "7x"),
		usage(`--filter "{": not JSON`, "topic", "subscribe", "t", "sub", "--filter", "{"),
		usage(`--filter "{\"key\":[{\"prefix\":1}]}": consumergroup: invalid filter`,
			"topic", "subscribe", "t", "sub", "--filter", `{"key":[{"prefix":1}]}`),
		usage("--visibility 0s: want 1ms to 12h", "topic", "subscribe", "t", "sub", "--visibility", "0s"),
		usage("--max-receives needs --dead-letter", "topic", "subscribe", "t", "sub", "--max-receives", "2"),
		usage("--cursor does not go with --visibility", "topic", "subscribe", "t", "sub", "--cursor", "--visibility", "5s"),
		usage("--cursor does not go with --fifo", "topic", "subscribe", "t", "sub", "--cursor", "--fifo"),
		usage("--cursor does not go with --delay", "topic", "subscribe", "t", "sub", "--cursor", "--delay", "1s"),
		usage("--cursor does not go with --max-receives", "topic", "subscribe", "t", "sub", "--cursor",
			"--max-receives", "2", "--dead-letter", "d"),
		usage("--max 0: want 1 to 1000", "topic", "receive", "sub", "--max", "0"),

		// server addresses: --server and the --bootstrap and --dial-via
		// peers want a port number 1-65535.
		usage(`--server ":": ":" is not host:port`, "cluster", "status", "--server", ":"),
		usage(`--server "h:": "h:" is not host:port`, "cluster", "status", "--server", "h:"),
		usage(`--server "h:http": "h:http" is not host:port`, "cluster", "status", "--server", "h:http"),
		usage(`--server "h:0": "h:0" is not host:port`, "cluster", "status", "--server", "h:0"),
		usage(`--server "h:1,[::1": "[::1" is not host:port`, "stream", "list", "--server", "h:1,[::1"),
		usage("--server: no address given", "stream", "list", "--server", " , "),
		usage(`invalid value "5" for flag -timeout`, "stream", "list", "--timeout", "5"),

		// dev
		usage(`unexpected argument "extra"`, "dev", "extra"),
		usage("--nodes 0: want 1 to 99", "dev", "--nodes", "0"),
		usage("--nodes 100: want 1 to 99", "dev", "--nodes", "100"),
		usage("--base-port -1: want 0 (free ports) or 1 to 65533", "dev", "--base-port", "-1"),
		usage("--base-port 65535: want 0 (free ports) or 1 to 65533", "dev", "--base-port", "65535"),
		usage("--timeout 0s: want a positive duration", "dev", "--timeout", "0s"),
		usage("--stop-timeout -1s: want a positive duration", "dev", "--stop-timeout", "-1s"),
		usage(`--log-format "xml": want text or json`, "dev", "--log-format", "xml"),
		usage(`--log-level "loud": want debug, info, warn or error`, "dev", "--log-level", "loud"),
		usage(`--log-level "": want debug, info, warn or error`, "dev", "--log-level", ""),

		// bench
		usage(`unknown command "frob"`, "bench", "frob"),
		usage("missing argument WORKLOAD", "bench", "run"),
		usage(`unexpected argument "b"`, "bench", "run", "a", "b"),
		usage("producerRate", "bench", "run", "testdata/bad-workload.yaml"),
		{args: []string{"bench", "run", "testdata/missing.yaml"}, code: exitError, want: "testdata/missing.yaml"},
		usage(`--driver "kafka": want sluice or nats-jetstream`, "bench", "run", workload, "--driver", "kafka"),
		usage(`--target "host": want host:port`, "bench", "run", workload, "--target", "host"),
		usage(`--target ",": no address`, "bench", "run", workload, "--target", ","),
		usage(`--pid "nats": want NAME=PID`, "bench", "run", workload, "--pid", "nats"),
		usage(`--pid "a=12abc": want NAME=PID`, "bench", "run", workload, "--pid", "a=12abc"),
		usage(`--pid "a=-1": want NAME=PID`, "bench", "run", workload, "--pid", "a=-1"),
		usage(`--pid "=1": want NAME=PID`, "bench", "run", workload, "--pid", "=1"),
		usage("--duration 0s: want a positive duration", "bench", "run", workload, "--duration", "0s"),
		usage("--duration -1s: want a duration >= 0", "bench", "run", workload, "--duration", "-1s"),
		usage("--warmup -1s: want a duration >= 0", "bench", "run", workload, "--warmup", "-1s"),
		usage("--records 0: want > 0", "bench", "run", workload, "--records", "0"),
		usage("--rate -5: want a number >= 0", "bench", "run", workload, "--rate", "-5"),
		usage("--rate NaN: want a number >= 0", "bench", "run", workload, "--rate", "NaN"),
		usage("--rate +Inf: want a number >= 0", "bench", "run", workload, "--rate", "Inf"),
		usage("--drain-timeout 0s: want a positive duration", "bench", "run", workload, "--drain-timeout", "0s"),
		usage("missing argument RESULT.json", "bench", "report"),
		{args: []string{"bench", "report", "testdata/missing.json"}, code: exitError, want: "testdata/missing.json"},
		usage("missing argument WORKLOAD", "bench", "compare"),
		usage(`--systems "": unknown system ""`, "bench", "compare", workload, "--systems", ""),
		usage(`--systems "sluice,": unknown system ""`, "bench", "compare", workload, "--systems", "sluice,"),
		usage(`--systems "sluice,kafka": unknown system "kafka"`, "bench", "compare", workload, "--systems", "sluice,kafka"),
		usage(`"sluice" twice`, "bench", "compare", workload, "--systems", "sluice,sluice"),
		usage("--rounds 0: want 1 to 100", "bench", "compare", workload, "--rounds", "0"),
		usage("--rounds 101: want 1 to 100", "bench", "compare", workload, "--rounds", "101"),
		usage("--records -3: want > 0", "bench", "compare", workload, "--systems", "sluice", "--records", "-3"),
		usage("--nats-server /dev/null: not an executable", "bench", "compare", workload, "--nats-server", "/dev/null"),

		// completion
		usage("missing argument SHELL", "completion"),
		usage(`unexpected argument "zsh"`, "completion", "bash", "zsh"),
		usage(`unknown shell "fish"`, "completion", "fish"),

		// server (the checks of readServerFlags and config.go)
		usage("--id is required", "server", "--data-dir", dataDir),
		usage("--data-dir is required", "server", "--id", "n1"),
		server(`unexpected argument "extra"`, "extra"),
		server(`--client-addr "nohost": want host:port with a port 1-65535`, "--client-addr", "nohost"),
		server(`--raft-addr "nohost": want host:port with a port 1-65535`, "--raft-addr", "nohost"),
		server(`--advertise-client-addr "h:99999": want host:port`, "--advertise-client-addr", "h:99999"),
		server(`--http-addr "bogus": want host:port`, "--http-addr", "bogus"),
		server("--heartbeat-timeout -1s: must not be negative", "--heartbeat-timeout", "-1s"),
		server("--commit-timeout -1ms: must not be negative", "--commit-timeout", "-1ms"),
		server("--balance-interval -1s: must not be negative", "--balance-interval", "-1s"),
		server("--retention-interval -1m0s: must not be negative", "--retention-interval", "-1m"),
		server("--segment-bytes 1: want 64KiB to", "--segment-bytes", "1"),
		server("--segment-bytes none: want 64KiB to", "--segment-bytes", "none"),
		server("--segment-bytes 5GiB: want 64KiB to", "--segment-bytes", "5GiB"),
		server(`--min-free-space: "lots" is not a size`, "--min-free-space", "lots"),
		server(`--advertise-client-addr`, "--client-addr", "0.0.0.0:7070"),
		server(`--segment-bytes: "big" is not a size`, "--segment-bytes", "big"),
		server("--shutdown-timeout must be positive", "--shutdown-timeout", "0s"),
		server(`--log-format "xml": want text or json`, "--log-format", "xml"),
		server(`--log-level "loud": want debug, info, warn or error`, "--log-level", "loud"),
		server("--pprof needs --http-addr", "--pprof"),
		server("client address is missing", "--bootstrap", "n1=a:1"),
		server(`--bootstrap "n1=a:http/b:1": "a:http" is not host:port`, "--bootstrap", "n1=a:http/b:1"),
		server(`--bootstrap "n1=a:1/b:70000": "b:70000" is not host:port`, "--bootstrap", "n1=a:1/b:70000"),
		server("--bootstrap: node n1 listed twice", "--bootstrap", "n1=a:1/b:1,n1=a:2/b:2"),
		server("--bootstrap must list this node (n1) too", "--bootstrap", "n2=a:1/b:1"),
		server(`--dial-via "a:1": want ADDR=VIA`, "--dial-via", "a:1"),
		server(`--dial-via "a:1=b:0": "b:0" is not host:port`, "--dial-via", "a:1=b:0"),
		server("--dial-via: a:1 given twice", "--dial-via", "a:1=b:2,a:1=c:3"),
	}
}

// commonBadFlags are the bad flags every client command shares: -o,
// --timeout and --server, and a missing or extra argument.
func commonBadFlags() []badFlagCase {
	var out []badFlagCase
	for _, cc := range clientCommands {
		path := strings.Fields(cc.path)
		line := func(extra ...string) []string {
			return slices.Concat(path, cc.valid, extra)
		}
		out = append(out,
			badFlagCase{line("-o", "yaml"), exitUsage, `-o "yaml": want text or json`},
			badFlagCase{line("--timeout", "0s"), exitUsage, "--timeout 0s: want a positive duration"},
			badFlagCase{line("--timeout", "-1s"), exitUsage, "--timeout -1s: want a positive duration"},
			badFlagCase{line("--timeout", "soon"), exitUsage, `invalid value "soon" for flag -timeout`},
			badFlagCase{line("--server", "h:99999"), exitUsage, `--server "h:99999": "h:99999" is not host:port`},
			badFlagCase{line("--server", ""), exitUsage, "--server: no address given"},
			badFlagCase{line("--bogus"), exitUsage, "flag provided but not defined: -bogus"},
		)
		if cc.arity {
			out = append(out, badFlagCase{line("extra"), exitUsage, `unexpected argument "extra"`})
		}
		if cc.missing != "" {
			// The flags kept, the arguments dropped.
			flags := cc.valid[len(cc.valid):]
			if i := slices.IndexFunc(cc.valid, func(a string) bool { return strings.HasPrefix(a, "-") }); i >= 0 {
				flags = cc.valid[i:]
			}
			out = append(out, badFlagCase{slices.Concat(path, flags), exitUsage, "missing argument " + cc.missing})
		}
	}
	return out
}

// TestBadFlags runs each command with each bad input in process: it must
// fail before dialling, with its exit code and one line on stderr naming
// the flag or argument, and print nothing on stdout. Client commands get
// --server at a closed port and a short --timeout first (a case's own
// flags come later and win), so that a check that regressed fails with
// exit 3 at once rather than reaching a cluster.
func TestBadFlags(t *testing.T) {
	closed := freeAddr(t)
	cases := append(badFlagCases(t), commonBadFlags()...)
	app := newApp(io.Discard, io.Discard)
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			leaf, n := leafCommand(app, tc.args)
			args := slices.Clone(tc.args)
			if leaf != nil && hasFlag(leaf, "server") {
				args = slices.Concat(tc.args[:n], []string{"--server", closed, "--timeout", "2s"}, tc.args[n:])
			}
			// sluice server and dev start nodes when their flags pass: with
			// the context cancelled, a check that regressed stops them at
			// once.
			ctx := context.Background()
			if leaf != nil && (leaf.Name == "server" || leaf.Name == "dev") {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			var stdout, stderr bytes.Buffer
			code := run(ctx, append([]string{"sluice"}, args...), strings.NewReader(""), &stdout, &stderr)
			msg := stderr.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, msg)
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "sluice") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want one line containing %q", msg, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}

// TestBadFlagsCoverClientCommands: every command with a --server flag is
// in clientCommands, so that a new one gets the common cases.
func TestBadFlagsCoverClientCommands(t *testing.T) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			walk(path, c.Subcommands)
			if len(c.Subcommands) > 0 || !hasFlag(c, "server") {
				continue
			}
			if !slices.ContainsFunc(clientCommands, func(cc clientCommand) bool { return cc.path == path }) {
				t.Errorf("sluice %s takes --server but is not in clientCommands", path)
			}
		}
	}
	walk("", newApp(io.Discard, io.Discard).Commands)
}

// leafCommand returns the command args invoke and how many of the words
// name it (nil for an unknown command).
func leafCommand(app *cli.App, args []string) (*cli.Command, int) {
	var leaf *cli.Command
	cmds := app.Commands
	for i, a := range args {
		c := findCommand(cmds, a)
		if c == nil {
			return leaf, i
		}
		leaf, cmds = c, c.Subcommands
	}
	return leaf, len(args)
}

func hasFlag(c *cli.Command, name string) bool {
	return slices.ContainsFunc(c.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
}
