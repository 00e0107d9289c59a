// Package report turns the JSON results of `sluice bench run` into
// something a person can compare: an aligned text table for the
// terminal, one PNG image with the charts for issue comments, and one
// self-contained HTML page holding both.
//
// Every result is one series in the charts and one column in the table.
// When there are two or more results, each result after the first also
// gets a ratio column relative to the first, so the first result is the
// baseline.
//
// The charts are:
//
//   - acknowledged and received records/s per one-second window;
//   - publish and end-to-end latency by percentile, on the usual
//     HdrHistogram axis where x = 1/(1-p/100), so 90%, 99%, 99.9% … are
//     equally spaced;
//   - publish and end-to-end p99 latency per one-second window.
//
// Invariants: nothing from a result reaches the HTML page unescaped
// (html/template for the page, and vgsvg escapes chart text), the page
// references no external resource, and no log-scale axis ever sees a
// value <= 0 (latencies are clamped to MinLatencyMs or left out). Bad or
// missing data gives an empty chart with a "no data" note, never a
// panic.
//
// Concurrency: the package has no state; every function may be called
// from several goroutines at once. HTML, PNG and Table only read the
// results they are given.
package report
