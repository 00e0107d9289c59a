// Package bench is the benchmark harness behind `sluice bench`: workloads,
// drivers, latency histograms and reports.
//
// It is built by the benchmark issue. Micro-benchmarks of the storage
// engine live beside the code they measure (go test -bench in segment/,
// log/ and batch/).
package bench
