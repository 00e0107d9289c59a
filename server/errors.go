package server

import "errors"

// Errors of the node. Metadata requests also return the errors of package
// metadata (the command refused: metadata.ErrNodeNotFound,
// metadata.ErrPartitionNotFound, ...) and of package replication
// (*replication.NotLeaderError on a node that does not lead the metadata
// group, with the leader's id and raft address when one is known;
// replication.ErrTimeout: nothing written; replication.ErrOutcomeUnknown:
// retry, the requests are idempotent).
var (
	// ErrInvalidConfig reports a Config that does not validate.
	ErrInvalidConfig = errors.New("server: invalid config")

	// ErrCorrupt reports a replica record in the node's Pebble that does
	// not decode (records.go). The node refuses to start rather than guess
	// which files are whose.
	ErrCorrupt = errors.New("server: corrupt replica record")

	// ErrDataDirInUse reports a Start on a data directory that another
	// process (or another Node of this process) holds: its LOCK file is
	// locked. Nothing was opened.
	ErrDataDirInUse = errors.New("server: data directory in use")

	// ErrDiskFull reports a produce refused because the node's data
	// directory is below its free-space minimum (*DiskFullError).
	ErrDiskFull = errors.New("server: disk full")

	// ErrDamaged reports a replica whose files on disk are damaged
	// (*DamagedError): the node stops rather than serve or extend them.
	ErrDamaged = errors.New("server: damaged replica")

	// ErrNotReady reports a node that should not take client traffic yet
	// (CheckReady says why).
	ErrNotReady = errors.New("server: not ready")
)
