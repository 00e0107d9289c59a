package report

import (
	"strings"
	"testing"

	"github.com/sluicedb/sluice/bench"
)

func TestTable(t *testing.T) {
	t.Parallel()
	base, fast := fixture("nats-jetstream", 1), fixture("sluice", 2.3)
	fast.Errors = []string{"produce: leader changed\nretrying"}
	var b strings.Builder
	if err := Table(&b, []*bench.Result{base, fast}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	lines := strings.Split(out, "\n")
	head := lines[0]
	for _, want := range []string{"nats-jetstream", "sluice", "sluice / nats-jetstream"} {
		if !strings.Contains(head, want) {
			t.Errorf("head %q does not contain %q", head, want)
		}
	}
	for _, want := range []string{
		rate(base.PublishRate), rate(fast.PublishRate), "x2.30", "2.30x lower",
		sig3(base.Publish.P9999), sig3(fast.EndToEnd.P999), "330 MiB", "50,000/s", "1 min",
		"error (sluice): produce: leader changed retrying",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q", want)
		}
	}
	// Each metric row's cells line up: every row of the table proper is
	// as wide as the head or narrower (right-aligned cells end together).
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "publish records/s") && len(l) != len(head) {
			t.Errorf("row %q is not aligned with the head %q", l, head)
		}
	}
}

func TestTableShapes(t *testing.T) {
	t.Parallel()
	for name, rs := range edgeCases() {
		var b strings.Builder
		if err := Table(&b, rs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		head := strings.SplitN(b.String(), "\n", 2)[0]
		ratios := strings.Count(head, " / ")
		if want := len(rs) - 1; ratios != want {
			t.Errorf("%s: %d ratio columns, want %d: %q", name, ratios, want, head)
		}
	}
}

func TestTableAcksNone(t *testing.T) {
	t.Parallel()
	rs := edgeCases()["acks none"]
	c := newComparison(rs)
	for _, rw := range c.rows {
		if rw.name == "p99" && rw.values[1] != na {
			// The first p99 row is publish latency, which acks none lacks.
			t.Errorf("acks none publish p99 = %q, want %q", rw.values[1], na)
		}
		if rw.name == "p99" {
			break
		}
	}
}
