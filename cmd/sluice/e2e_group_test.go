package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// groupRecord is a record of consume -o json, as testGroups reads it.
type groupRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
}

func parseGroupRecords(t *testing.T, out string) []groupRecord {
	t.Helper()
	var recs []groupRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r groupRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// checkGroupRuns checks that the runs of consume --group together read
// values 0..n-1 each exactly once, and that each run read, of every
// partition, the offsets right after those of the run before.
func checkGroupRuns(t *testing.T, n int, runs ...[]groupRecord) {
	t.Helper()
	seen := make([]bool, n)
	next := map[int32]int64{} // partition -> the next offset expected
	for i, run := range runs {
		for _, r := range run {
			v, err := strconv.Atoi(r.Value)
			if err != nil || v < 0 || v >= n {
				t.Fatalf("run %d: record %+v: unexpected value", i+1, r)
			}
			if seen[v] {
				t.Fatalf("run %d: value %d read twice", i+1, v)
			}
			seen[v] = true
			if r.Offset != next[r.Partition] {
				t.Fatalf("run %d: partition %d offset %d, want %d (a gap or a repeat)", i+1, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition] = r.Offset + 1
		}
	}
	for v, ok := range seen {
		if !ok {
			t.Fatalf("value %d never read", v)
		}
	}
}

// describeGroup runs group describe -o json.
func describeGroup(t *testing.T, bin string, env []string, group string) groupJSON {
	t.Helper()
	var d groupJSON
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "group", "describe", group, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// checkCaughtUp checks that group has committed the high watermark of
// every partition of its stream.
func checkCaughtUp(t *testing.T, bin string, env []string, group string, partitions int) {
	t.Helper()
	d := describeGroup(t, bin, env, group)
	if d.Members != 0 || d.State != "empty" || len(d.Offsets) != partitions {
		t.Fatalf("group describe: %+v", d)
	}
	for _, o := range d.Offsets {
		if o.Committed != o.HighWatermark || o.Lag != 0 || o.Error != "" {
			t.Errorf("group describe: partition %d: committed %d, high watermark %d, lag %d (%s)",
				o.Partition, o.Committed, o.HighWatermark, o.Lag, o.Error)
		}
	}
}

// testGroups drives consumer groups with the CLI: two runs of consume
// --group that share the records of a stream, describe and list, the
// refusals while a member runs, a reset to the start, and delete.
func testGroups(t *testing.T, bin string, env []string) {
	const n, partitions = 1000, 6
	mustRun(t, bin, env, "", "stream", "create", "grp", "--partitions", strconv.Itoa(partitions))
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "key-%d:%d\n", i%17, i)
	}
	mustRun(t, bin, env, in.String(), "produce", "grp", "--key-separator", ":")

	// Two runs share the records: the second starts where the first
	// committed, which is exactly what it printed.
	first := parseGroupRecords(t, mustRun(t, bin, env, "", "consume", "grp", "--group", "g", "--max", "300", "-o", "json"))
	if len(first) != 300 {
		t.Fatalf("first run read %d records, want 300", len(first))
	}
	start := time.Now()
	second := parseGroupRecords(t, mustRun(t, bin, env, "", "consume", "grp", "--group", "g", "--idle-timeout", "2s", "-o", "json"))
	t.Logf("second run (--idle-timeout 2s) took %s", time.Since(start).Round(time.Millisecond))
	if len(second) != n-300 {
		t.Fatalf("second run read %d records, want %d", len(second), n-300)
	}
	checkGroupRuns(t, n, first, second)
	checkCaughtUp(t, bin, env, "g", partitions)
	text := mustRun(t, bin, env, "", "group", "describe", "g")
	if !strings.Contains(text, "group g\nempty, 0 members, generation ") ||
		!strings.Contains(text, "STREAM  PARTITION  COMMITTED  HIGH WATERMARK  LAG  LAST COMMIT") {
		t.Errorf("group describe:\n%s", text)
	}

	// A new group from latest reads nothing (and commits nothing).
	if got := mustRun(t, bin, env, "", "consume", "grp", "--group", "late", "--from", "latest", "--idle-timeout", "1s"); got != "" {
		t.Errorf("consume --group late --from latest printed %q", got)
	}
	for _, o := range describeGroup(t, bin, env, "late").Offsets {
		if o.Committed != -1 {
			t.Errorf("group late committed %+v", o)
		}
	}

	var list struct {
		Groups []groupJSON `json:"groups"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, bin, env, "", "group", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.Groups, func(g groupJSON) bool { return g.Group == "g" })
	if i < 0 || list.Groups[i].State != "empty" || !slices.Equal(list.Groups[i].Streams, []string{"grp"}) ||
		list.Groups[i].Strategy != "cooperative-sticky" {
		t.Errorf("group list: %+v", list.Groups)
	}
	if text := mustRun(t, bin, env, "", "group", "list"); !strings.HasPrefix(text, "GROUP  STATE  MEMBERS  GENERATION  STRATEGY") ||
		!strings.Contains(text, "\ng ") || !strings.Contains(text, "\nlate ") {
		t.Errorf("group list:\n%s", text)
	}

	wantError(t, sluiceCmd(t, bin, env, "", "consume", "grp", "--group", "g2", "--strategy", "foo"),
		exitRejected, `sluice: --strategy "foo": the cluster knows no such assignment strategy`)
	wantError(t, sluiceCmd(t, bin, env, "", "consume", "nope", "--group", "g"), exitNotFound, "unknown stream")

	testGroupLive(t, bin, env, partitions)

	// Reset to the start: the group reads everything again.
	got := mustRun(t, bin, env, "", "group", "reset-offsets", "g", "--stream", "grp", "--to", "earliest")
	if !strings.HasPrefix(got, "reset the offsets of group g on stream grp to earliest\n") || strings.Count(got, "\n") != partitions+2 {
		t.Errorf("reset-offsets:\n%s", got)
	}
	for _, o := range describeGroup(t, bin, env, "g").Offsets {
		if o.Committed != 0 || o.Lag != o.HighWatermark {
			t.Errorf("after reset: %+v", o)
		}
	}
	again := parseGroupRecords(t, mustRun(t, bin, env, "", "consume", "grp", "--group", "g", "--max", strconv.Itoa(n+1), "-o", "json"))
	checkGroupRuns(t, n+1, again)
	checkCaughtUp(t, bin, env, "g", partitions)

	if got := mustRun(t, bin, env, "", "group", "delete", "g"); got != "deleted group g\n" {
		t.Errorf("group delete: %q", got)
	}
	wantError(t, sluiceCmd(t, bin, env, "", "group", "describe", "g"), exitNotFound, `sluice: unknown group "g"`)
	wantError(t, sluiceCmd(t, bin, env, "", "group", "delete", "g"), exitNotFound, `sluice: unknown group "g"`)
	wantError(t, sluiceCmd(t, bin, env, "", "group", "reset-offsets", "g", "--stream", "grp", "--to", "latest"),
		exitNotFound, `sluice: unknown group "g"`)
	mustRun(t, bin, env, "", "group", "delete", "late")

	// Completion knows the group commands.
	got = mustRun(t, bin, nil, "", "group", "--generate-bash-completion")
	for _, w := range []string{"list", "describe", "reset-offsets", "delete"} {
		if !strings.Contains(got, w) {
			t.Errorf("completion %q lacks %q", got, w)
		}
	}
	if got := mustRun(t, bin, nil, "", "--generate-bash-completion"); !strings.Contains(got, "group\n") {
		t.Errorf("completion %q lacks group", got)
	}
}

// testGroupLive runs a member of group g in the background: while it is
// there, reset-offsets and delete are refused; it prints a record produced
// meanwhile (value 1000), and on SIGINT commits it and exits 0.
func testGroupLive(t *testing.T, bin string, env []string, partitions int) {
	member := exec.Command(bin, "consume", "grp", "--group", "g", "-o", "json")
	member.Env = append(os.Environ(), env...)
	stdout, err := member.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	member.Stderr = &stderr
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	lines := newLineLog(stdout)
	done := make(chan error, 1)
	go func() { done <- member.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = member.Process.Kill()
			<-done
		}
	}()
	joined := waitFor(20*time.Second, func() bool {
		d := describeGroup(t, bin, env, "g")
		return d.Members == 1 && len(d.MemberInfo) == 1 && len(d.MemberInfo[0].Owned["grp"]) == partitions
	})
	if !joined {
		t.Fatalf("the member did not join (or own every partition): %+v", describeGroup(t, bin, env, "g"))
	}
	const busy = `sluice: group "g" has live members: stop them (or wait for their session timeout) first`
	wantError(t, sluiceCmd(t, bin, env, "", "group", "reset-offsets", "g", "--stream", "grp", "--to", "earliest"), exitBusy, busy)
	wantError(t, sluiceCmd(t, bin, env, "", "group", "delete", "g"), exitBusy, busy)

	mustRun(t, bin, env, "", "produce", "grp", "--key", "late", "--value", "1000")
	printed := lines.waitMatch(func(l string) bool { return strings.Contains(l, `"value":"1000"`) }, 20*time.Second) != ""
	if err := member.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := <-done; err != nil {
		t.Errorf("consume --group on SIGINT: %v (stderr %q)", err, stderr.String())
	}
	if !printed {
		t.Fatalf("the member did not print the new record:\n%s", lines)
	}
	if n := strings.Count(lines.String(), "\n") + 1; n != 1 {
		t.Errorf("the member printed %d records, want 1:\n%s", n, lines)
	}
	checkCaughtUp(t, bin, env, "g", partitions)
}
