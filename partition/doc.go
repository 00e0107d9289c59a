// Package partition is one replica of one partition: a log (package log),
// a replication group (package replication) and the state machine that
// decodes produce commands, deduplicates idempotent producers by
// (producer id, epoch, sequence), assigns contiguous offsets, appends to the
// log and advances its high watermark after commit.
//
// It is built by the replication issue; until then the package holds only
// this description, so that the layout fixed in the design brief exists.
package partition
