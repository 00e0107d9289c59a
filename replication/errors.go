package replication

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidGroupID reports a raft group id that is empty or longer than
	// 255 bytes: the id is stored length-prefixed in one byte in every key
	// of the group (see the key layout in store.go).
	ErrInvalidGroupID = errors.New("replication: invalid raft group id")

	// ErrCorruptEntry reports bytes in the store that are not a valid raft
	// log entry or stable value where one must be: an entry that does not
	// decode (unknown version or type, a length past the end, trailing
	// bytes), an entry stored under another index than its own, a
	// GetUint64 value that is not 8 bytes, or a malformed key in a group's
	// log range. The error names the group and index (or key) where it
	// can. Nothing is skipped or repaired: the replica must fail-stop.
	ErrCorruptEntry = errors.New("replication: corrupt raft log entry")

	// ErrInvalidEntry reports a raft log entry that StoreLogs refuses to
	// write: index 0 (raft counts from 1, and 0 means an empty log in
	// FirstIndex and LastIndex) or a type the entry codec does not know.
	// Nothing of the call is written.
	ErrInvalidEntry = errors.New("replication: invalid raft log entry")

	// ErrStoreFailed reports a Store that stopped taking writes after a
	// write of any group failed. The raft log of all groups shares Pebble's
	// one WAL, and after a failed WAL write or fsync nothing since the last
	// good sync is known to be durable; Pebble itself keeps failing (and
	// eventually panics on) later writes. Every later write of every group
	// returns this error, wrapping the first failure. Reads go on, but the
	// node must fail-stop: close raft and the DB and restart.
	ErrStoreFailed = errors.New("replication: store failed after a write error")

	// ErrGroupExists reports Mux.Transport for a group id already
	// registered on the mux.
	ErrGroupExists = errors.New("replication: raft group already registered")

	// ErrUnknownGroup reports Mux.Remove of a group id that is not
	// registered (or whose transport was closed already).
	ErrUnknownGroup = errors.New("replication: unknown raft group")

	// ErrMuxClosed reports use of a closed Mux; Serve returns it after
	// Close, as net/http's Serve returns ErrServerClosed.
	ErrMuxClosed = errors.New("replication: raft mux closed")

	// ErrMuxServing reports a second Serve on a Mux that is serving.
	ErrMuxServing = errors.New("replication: raft mux already serving")

	// ErrBadHeader reports a raft connection whose opening header is not
	// valid: wrong magic or version, an empty group id, or a read that
	// failed or timed out before the header was complete (that read error
	// is wrapped too). The mux closes such a connection.
	ErrBadHeader = errors.New("replication: bad raft connection header")

	// ErrUnreachable reports a FaultNet RPC to a node that is partitioned
	// away, isolated or removed.
	ErrUnreachable = errors.New("replication: faultnet: node unreachable")

	// ErrDropped reports a FaultNet RPC dropped by SetDrop: the request was
	// not delivered, or it was and its response was lost.
	ErrDropped = errors.New("replication: faultnet: rpc dropped")

	// ErrNotLeader reports a proposal to a replica that is not the leader:
	// nothing was written; retry on the leader. errors.As with
	// *NotLeaderError gives the leader hint.
	ErrNotLeader = errors.New("replication: not the leader")

	// ErrOutcomeUnknown reports a proposal that may or may not have been
	// committed: leadership was lost, the group stopped, or the caller's
	// context ended while it was in flight. Retry with the same producer id
	// and sequence; deduplication makes the retry safe.
	ErrOutcomeUnknown = errors.New("replication: outcome unknown")

	// ErrTimeout reports a proposal that could not even be queued in time:
	// nothing was written.
	ErrTimeout = errors.New("replication: timed out before proposing")

	// ErrStopped reports use of a stopped group.
	ErrStopped = errors.New("replication: group stopped")

	// ErrFailed reports a replica whose state machine hit an error it cannot
	// get past (an entry that does not decode, a disk error). The replica
	// stops (fail-stop) rather than skip an entry or serve a diverged log.
	ErrFailed = errors.New("replication: replica failed")
)

// NotLeaderError carries the leader hint of an ErrNotLeader. LeaderID is
// empty when no leader is known.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "replication: not the leader; no leader known"
	}
	return fmt.Sprintf("replication: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
