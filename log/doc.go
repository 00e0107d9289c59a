// Package log is the ordered segments of one partition: append with roll by
// size and age, reads bounded by a high watermark that the caller advances,
// offset lookup by timestamp, retention by age and total bytes, truncation,
// and a broadcast that wakes readers waiting for new data.
//
// # Offsets
//
//	log start offset <= high watermark <= log end offset
//
// The log start offset is the first readable offset; it moves forward with
// AdvanceLogStart (retention, DeleteRecords) and is checkpointed in the file
// log-start-offset. The high watermark is one past the last offset readers
// may see; the owner (the partition's state machine) advances it after a
// commit. The log end offset is the offset the next appended record gets.
// Offsets are contiguous across segments.
//
// # Files
//
// One directory per partition log, holding the segments (see package
// segment) and log-start-offset. Every segment but the last is sealed
// (fsynced, immutable); the last is active. Open recovers the active segment
// (cutting a torn tail) and verifies the sealed ones (any damage is
// segment.ErrCorrupt); leftover .tmp files from an interrupted atomic write
// are deleted.
//
// # Concurrency
//
// One writer and many readers. Writers serialize on wmu; the segment list is
// guarded by mu, which readers hold shared for the length of a read so that
// retention or truncation cannot close a file under them. Readers at the
// high watermark block in Wait on a channel that is closed and replaced each
// time the high watermark advances: no polling. Lock order: wmu, mu,
// notifyMu, then a segment's lock.
package log
