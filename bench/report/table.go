package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/sluicedb/sluice/bench"
)

// A comparison is the side-by-side table: one row per metric, one column
// per result, and after each result but the first a column comparing it
// with the first. Table and HTML both print it.
type comparison struct {
	labels []string // column heads, one per result
	rows   []row
}

// row is one metric, or a section heading when section is set.
type row struct {
	section string
	name    string
	values  []string // one per result
	ratios  []ratioCell
}

// ratioCell compares result i+1 with the first result.
type ratioCell struct {
	text    string
	verdict int // 1: better than the first result, -1: worse, 0: neither
}

// metric describes one numeric row.
type metric struct {
	name string
	// value returns the metric, and false when the result did not
	// measure it.
	value  func(r *bench.Result) (float64, bool)
	format func(float64) string
	// cmp is +1 if higher is better, -1 if lower is better, 0 for rows
	// without a ratio.
	cmp int
}

// newComparison builds the table for results, which must be non-nil.
func newComparison(results []*bench.Result) comparison {
	c := comparison{labels: labels(results)}
	text := func(name string, f func(r *bench.Result) string) {
		rw := row{name: name, ratios: make([]ratioCell, len(results)-1)}
		for _, r := range results {
			rw.values = append(rw.values, orNA(clean(f(r), 60)))
		}
		c.rows = append(c.rows, rw)
	}
	section := func(name string) { c.rows = append(c.rows, row{section: name}) }
	numeric := func(ms ...metric) {
		for _, m := range ms {
			c.rows = append(c.rows, numericRow(results, m))
		}
	}

	section("run")
	text("workload", func(r *bench.Result) string { return r.Workload.Name })
	text("driver", func(r *bench.Result) string { return r.Driver })
	text("started", func(r *bench.Result) string { return startedText(r) })
	text("message size", func(r *bench.Result) string { return count(int64(r.Workload.MessageSize)) + " B" })
	text("partitions", func(r *bench.Result) string { return perTopic(r.Workload.Topics, r.Workload.PartitionsPerTopic) })
	text("producers", func(r *bench.Result) string { return perTopic(r.Workload.Topics, r.Workload.ProducersPerTopic) })
	text("acks", func(r *bench.Result) string { return r.Workload.Acks })
	text("rate target", func(r *bench.Result) string { return rateTarget(r.Workload.ProducerRate) })
	text("duration", func(r *bench.Result) string { return durationTarget(r.Workload) })
	text("measured", func(r *bench.Result) string { return sig3(r.Seconds) + " s" })

	section("throughput")
	numeric(
		metric{"publish records/s", func(r *bench.Result) (float64, bool) { return r.PublishRate, true }, rate, 1},
		metric{"publish MB/s", func(r *bench.Result) (float64, bool) { return r.PublishMBps, true }, sig3, 1},
		metric{"consume records/s", func(r *bench.Result) (float64, bool) { return r.ConsumeRate, true }, rate, 1},
		metric{"consume MB/s", func(r *bench.Result) (float64, bool) { return r.ConsumeMBps, true }, sig3, 1},
	)

	section("publish latency (ms)")
	pub := func(f func(l bench.Latency) float64) func(r *bench.Result) (float64, bool) {
		return func(r *bench.Result) (float64, bool) { return f(r.Publish), measured(r.Publish) }
	}
	numeric(
		metric{"p50", pub(func(l bench.Latency) float64 { return l.P50 }), sig3, -1},
		metric{"p99", pub(func(l bench.Latency) float64 { return l.P99 }), sig3, -1},
		metric{"p99.9", pub(func(l bench.Latency) float64 { return l.P999 }), sig3, -1},
		metric{"p99.99", pub(func(l bench.Latency) float64 { return l.P9999 }), sig3, -1},
		metric{"max", pub(func(l bench.Latency) float64 { return l.Max }), sig3, -1},
	)

	section("end-to-end latency (ms)")
	e2e := func(f func(l bench.Latency) float64) func(r *bench.Result) (float64, bool) {
		return func(r *bench.Result) (float64, bool) { return f(r.EndToEnd), measured(r.EndToEnd) }
	}
	numeric(
		metric{"p50", e2e(func(l bench.Latency) float64 { return l.P50 }), sig3, -1},
		metric{"p99", e2e(func(l bench.Latency) float64 { return l.P99 }), sig3, -1},
		metric{"p99.9", e2e(func(l bench.Latency) float64 { return l.P999 }), sig3, -1},
		metric{"max", e2e(func(l bench.Latency) float64 { return l.Max }), sig3, -1},
	)

	section("delivery")
	whole := func(v float64) string { return count(int64(v)) }
	numeric(
		metric{"failed", func(r *bench.Result) (float64, bool) { return float64(r.Failed), true }, whole, 0},
		metric{"unreceived", func(r *bench.Result) (float64, bool) { return float64(r.Unreceived), true }, whole, 0},
		// Only workloads with subscription filters can misdeliver.
		metric{"misdelivered", func(r *bench.Result) (float64, bool) {
			return float64(r.Misdelivered), len(r.Workload.SubscriptionFilters) > 0
		}, whole, 0},
		metric{"backlog drain s", func(r *bench.Result) (float64, bool) { return r.BacklogDrainS, r.BacklogDrainS > 0 }, sig3, -1},
	)

	section("server resources")
	numeric(
		metric{"CPU % (sum)", cpuPercent, sig3, -1},
		metric{"max RSS (sum)", maxRSS, func(v float64) string { return bytesIEC(int64(v)) }, -1},
	)
	text("errors", func(r *bench.Result) string { return count(int64(len(r.Errors))) })
	return c
}

// numericRow evaluates m for each result and compares each with the
// first.
func numericRow(results []*bench.Result, m metric) row {
	rw := row{name: m.name}
	vals := make([]float64, len(results))
	oks := make([]bool, len(results))
	for i, r := range results {
		vals[i], oks[i] = m.value(r)
		if oks[i] {
			rw.values = append(rw.values, m.format(vals[i]))
		} else {
			rw.values = append(rw.values, na)
		}
	}
	for i := 1; i < len(results); i++ {
		if m.cmp == 0 || !oks[0] || !oks[i] {
			rw.ratios = append(rw.ratios, ratioCell{text: ""})
			continue
		}
		t, v := ratio(vals[0], vals[i], m.cmp > 0)
		rw.ratios = append(rw.ratios, ratioCell{text: t, verdict: v})
	}
	return rw
}

// ratioHeads returns the heads of the ratio columns: "b / a" for each
// result b after the first, a.
func (c comparison) ratioHeads() []string {
	var hs []string
	for _, l := range c.labels[1:] {
		hs = append(hs, l+" / "+c.labels[0])
	}
	return hs
}

// Table writes the side-by-side comparison of results as aligned plain
// text, followed by the errors the runs reported. It returns
// ErrNoResults or ErrNilResult for bad input, or the writer's error.
func Table(w io.Writer, results []*bench.Result) error {
	if err := check(results); err != nil {
		return err
	}
	c := newComparison(results)
	heads := c.ratioHeads()
	// grid[r][col]: col 0 is the metric name, then each result followed
	// by its ratio column (none for the first result).
	var grid [][]string
	head := []string{"metric"}
	for i, l := range c.labels {
		head = append(head, l)
		if i > 0 {
			head = append(head, heads[i-1])
		}
	}
	grid = append(grid, head)
	for _, rw := range c.rows {
		if rw.section != "" {
			grid = append(grid, []string{"[" + rw.section + "]"})
			continue
		}
		line := []string{rw.name}
		for i, v := range rw.values {
			line = append(line, v)
			if i > 0 {
				line = append(line, rw.ratios[i-1].text)
			}
		}
		grid = append(grid, line)
	}
	var b strings.Builder
	writeGrid(&b, grid)
	for i, r := range results {
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "error (%s): %s\n", c.labels[i], clean(e, 300))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: write table: %w", err)
	}
	return nil
}

// writeGrid writes rows of cells in columns: the first left-aligned, the
// others right-aligned, two spaces apart. A row of a single cell (a
// section heading) is not aligned.
func writeGrid(b *strings.Builder, grid [][]string) {
	var widths []int
	for _, line := range grid {
		if len(line) == 1 {
			continue
		}
		for i, cell := range line {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for n, line := range grid {
		if len(line) == 1 && n > 0 {
			b.WriteString(line[0] + "\n")
			continue
		}
		var sb strings.Builder
		for i, cell := range line {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				sb.WriteString(cell + pad)
			} else {
				sb.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(sb.String(), " ") + "\n")
	}
}
