package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct {
		in, want string
	}{
		{"sluice stream create orders --partitions 6", "sluice stream create --partitions 6 orders"},
		{"sluice stream create orders --partitions 6 --replicas 3 --retention 7d",
			"sluice stream create --partitions 6 --replicas 3 --retention 7d orders"},
		{"sluice stream create --partitions=6 orders -o json", "sluice stream create --partitions=6 -o json orders"},
		{"sluice produce orders --key k1", "sluice produce --key k1 orders"},
		{"sluice produce orders --header a=1 -H b=2 --verbose", "sluice produce --header a=1 -H b=2 --verbose orders"},
		{"sluice consume orders --from earliest --max 10 -o json",
			"sluice consume --from earliest --max 10 -o json orders"},
		{"sluice consume orders --follow --from latest", "sluice consume --follow --from latest orders"},
		{"sluice consume orders --from -1h", "sluice consume --from -1h orders"},
		// A value that looks like a flag stays with its flag.
		{"sluice produce s --value --weird", "sluice produce --value --weird s"},
		// After "--" everything is positional; a positional with a leading
		// dash keeps its "--".
		{"sluice produce --key k -- -dash", "sluice produce --key k -- -dash"},
		{"sluice stream describe -- -s- -o", "sluice stream describe -- -s- -o"},
		// "-" alone is a positional.
		{"sluice produce s -", "sluice produce s -"},
		// Unknown flags are left for urfave/cli to report.
		{"sluice stream list --bogus", "sluice stream list --bogus"},
		// Unknown commands and group commands are untouched.
		{"sluice frobnicate x --y", "sluice frobnicate x --y"},
		{"sluice stream frob x --y", "sluice stream frob x --y"},
		{"sluice", "sluice"},
		// Completion requests are untouched.
		{"sluice stream create x --generate-bash-completion", "sluice stream create x --generate-bash-completion"},
		{"sluice server --id n1 --data-dir d", "sluice server --id n1 --data-dir d"},
	} {
		got := strings.Join(reorderArgs(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("reorderArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestFlagsAfterPositional parses through the real app: the flags after
// NAME reach the command.
func TestFlagsAfterPositional(t *testing.T) {
	var seen []string
	app := newApp(io.Discard, io.Discard)
	cmd := findCommand(findCommand(app.Commands, "stream").Subcommands, "create")
	cmd.Action = func(c *cli.Context) error {
		seen = []string{c.Args().First(), c.String("retention"), c.String("output")}
		seen = append(seen, strings.Fields(strings.Repeat("x ", c.Int("partitions")))...)
		return nil
	}
	args := reorderArgs(app, strings.Fields("sluice stream create orders --partitions 2 --retention 7d -o json"))
	if err := app.RunContext(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	if want := []string{"orders", "7d", "json", "x", "x"}; !slices.Equal(seen, want) {
		t.Fatalf("got %q, want %q", seen, want)
	}
}

// TestUsageErrors runs command lines that are wrong before any cluster is
// needed: one line on stderr, exit code 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string
	}{
		{"stream create orders", "--partitions is required"},
		{"stream create orders --partitions x", "invalid value \"x\" for flag -partitions"},
		{"stream create orders --partitions 0", "--partitions 0: want at least 1"},
		{"stream create orders --partitions 2 --retention 7x", "--retention"},
		{"stream create", "missing argument NAME"},
		{"stream create a b --partitions 1", "unexpected argument \"b\""},
		{"stream alter orders", "nothing to change"},
		{"stream frob", "unknown command \"frob\""},
		{"frobnicate", "unknown command \"frobnicate\""},
		{"stream list --bogus", "flag provided but not defined: -bogus"},
		{"stream list -o yaml", "-o \"yaml\": want text or json"},
		{"produce s --format xml", "--format \"xml\""},
		{"produce s --header novalue", "want name=value"},
		{"consume s --from yesterday", "--from"},
		{"consume s --max -1", "--max -1"},
		{"consume s --partition 1,x", "--partition \"1,x\""},
		{"stream list --timeout 0s", "--timeout 0s"},
		{"cluster status --server nohost", "not host:port"},
		{"completion fish", "unknown shell \"fish\""},
		{"server --data-dir /tmp/x", "--id is required"},
		{"server --id n1", "--data-dir is required"},
		{"server --id n1 --data-dir /tmp/x --bootstrap n2=a:1", "client address is missing"},
		{"server --id n1 --data-dir /tmp/x --log-format xml", "--log-format"},
		{"server --id n1 --data-dir /tmp/x --dial-via a:1", "want ADDR=VIA"},
		{"server --id n1 --data-dir /tmp/x --dial-via a:1=b", "\"b\" is not host:port"},
		{"server --id n1 --data-dir /tmp/x --dial-via a:1=b:2,a:1=c:3", "a:1 given twice"},
		{"dev --nodes 0", "--nodes 0"},
		{"server --id n1 --data-dir /tmp/x --pprof", "--pprof needs --http-addr"},
		{"bench run", "missing argument WORKLOAD"},
		{"bench run testdata/bad-workload.yaml", "producerRate"},
		{"bench run ../../bench/workloads/keyed.yaml --driver kafka", "--driver \"kafka\""},
		{"bench run ../../bench/workloads/keyed.yaml --duration 0s", "--duration 0s"},
		{"bench run ../../bench/workloads/keyed.yaml --records -3", "--records -3"},
		{"bench run ../../bench/workloads/keyed.yaml --rate -5", "--rate -5"},
		{"bench run ../../bench/workloads/keyed.yaml --warmup -1s", "--warmup -1s"},
		{"bench run ../../bench/workloads/keyed.yaml --drain-timeout 0s", "--drain-timeout 0s"},
		{"bench run ../../bench/workloads/keyed.yaml --pid nats", "--pid \"nats\""},
		{"bench run ../../bench/workloads/keyed.yaml --target ,", "--target"},
		{"bench compare", "missing argument WORKLOAD"},
		{"bench compare ../../bench/workloads/keyed.yaml --systems sluice,kafka", "unknown system \"kafka\""},
		{"bench compare ../../bench/workloads/keyed.yaml --systems sluice,sluice", "twice"},
		{"bench compare ../../bench/workloads/keyed.yaml --rounds 0", "--rounds 0"},
		{"bench compare ../../bench/workloads/keyed.yaml --nats-server /dev/null", "--nats-server /dev/null: not an executable"},
		{"bench report", "missing argument RESULT.json"},
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
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range []string{"--help", "stream", "stream create --help", "help stream", "produce -h"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"sluice"}, strings.Fields(args)...), nil, &stdout, &stderr)
		if code != 0 || stdout.Len() == 0 {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q", args, code, stdout.Len(), stderr.String())
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh"} {
		var stdout bytes.Buffer
		if code := run(context.Background(), []string{"sluice", "completion", sh}, nil, &stdout, io.Discard); code != 0 {
			t.Fatalf("completion %s: exit %d", sh, code)
		}
		if !strings.Contains(stdout.String(), "--generate-bash-completion") {
			t.Errorf("completion %s: no completion call in %q", sh, stdout.String())
		}
	}

}
