package report

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sluicedb/sluice/bench"
)

// check returns an error unless results holds at least one result and no
// nil one.
func check(results []*bench.Result) error {
	if len(results) == 0 {
		return ErrNoResults
	}
	for i, r := range results {
		if r == nil {
			return fmt.Errorf("result %d: %w", i, ErrNilResult)
		}
	}
	return nil
}

// labels returns the name of each result for column heads and legends:
// its label, else its driver, else its position.
func labels(results []*bench.Result) []string {
	ls := make([]string, len(results))
	for i, r := range results {
		ls[i] = clean(r.Label, 48)
		if ls[i] == "" {
			ls[i] = clean(r.Driver, 48)
		}
		if ls[i] == "" {
			ls[i] = fmt.Sprintf("result %d", i+1)
		}
	}
	return ls
}

// clean makes s safe to lay out on one line: control characters (such
// as newlines, which the chart text would render as line breaks) become
// spaces, and it is cut to at most n runes. It does not escape HTML;
// html/template and vgsvg do that.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if rs := []rune(s); len(rs) > n {
		s = string(rs[:n-1]) + "…"
	}
	return s
}

// orNA returns s, or na if s is empty.
func orNA(s string) string {
	if s == "" {
		return na
	}
	return s
}

// measured reports whether a latency summary holds any measurement; a
// run with acks none has no publish latency.
func measured(l bench.Latency) bool {
	return l.Count > 0 || l.Max > 0
}

// startedText formats when a run started, in UTC.
func startedText(r *bench.Result) string {
	if r.Started.IsZero() {
		return ""
	}
	return r.Started.UTC().Format("2006-01-02 15:04 UTC")
}

// runDates describes when the runs started: one date-time, or the first
// and last, or "" if no result says.
func runDates(results []*bench.Result) string {
	var first, last time.Time
	for _, r := range results {
		t := r.Started
		if t.IsZero() {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if last.IsZero() || t.After(last) {
			last = t
		}
	}
	const layout = "2006-01-02 15:04 UTC"
	switch {
	case first.IsZero():
		return ""
	case first.UTC().Format(layout) == last.UTC().Format(layout):
		return first.UTC().Format(layout)
	}
	return first.UTC().Format(layout) + " to " + last.UTC().Format(layout)
}

// perTopic formats a per-topic count, with the number of topics when it
// is not one: "16", "4 × 16".
func perTopic(topics, n int) string {
	if topics > 1 {
		return fmt.Sprintf("%d × %s", topics, count(int64(n)))
	}
	return count(int64(n))
}

// rateTarget formats Workload.ProducerRate.
func rateTarget(v float64) string {
	if v <= 0 {
		return "max"
	}
	return rate(v) + "/s"
}

// durationTarget formats how long the workload asked to measure for.
func durationTarget(w bench.Workload) string {
	if w.RecordCount > 0 {
		return count(w.RecordCount) + " records"
	}
	return minutes(w.TestDurationMinutes)
}

// cpuPercent is the CPU use of the server processes, summed (100 = one
// core busy).
func cpuPercent(r *bench.Result) (float64, bool) {
	var sum float64
	for _, p := range r.Processes {
		sum += p.CPUPercent
	}
	return sum, len(r.Processes) > 0
}

// maxRSS is the sum of the server processes' peak resident set sizes.
func maxRSS(r *bench.Result) (float64, bool) {
	var sum int64
	for _, p := range r.Processes {
		sum += p.MaxRSS
	}
	return float64(sum), len(r.Processes) > 0
}
