// Package suite is Sluice's process-level chaos suite (issue 8): real
// `sluice server` processes on loopback (package proccluster), network
// faults between them (package netproxy), and the fault figures as
// benchmarks. Its tests and benchmarks are the package; it has no API.
package suite
