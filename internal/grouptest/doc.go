// Package grouptest holds the end-to-end tests of consumer groups: Go
// client group consumers against an in-process cluster
// (internal/testcluster), through leaves, crashes, static restarts and the
// failover of the coordinator and of partition leaders, with every record
// counted. It has no non-test code.
package grouptest
