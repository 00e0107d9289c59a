package server

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/sluicedb/sluice/replication"
)

// Peer is a member of the cluster as the bootstrap list names it.
type Peer struct {
	ID         string
	RaftAddr   string // host:port of its raft port
	ClientAddr string // host:port of its client API
}

// Config describes one node.
type Config struct {
	// ID names the node; unique in the cluster and stable across restarts.
	ID string
	// DataDir holds everything the node stores.
	DataDir string
	// RaftAddr is the host:port the raft port listens on and that peers
	// dial. Ignored when RaftListener is set.
	RaftAddr string
	// RaftListener, when set, is used instead of listening on RaftAddr
	// (tests pick ports first); its address is the node's raft address.
	RaftListener net.Listener
	// ClientAddr is the node's client API address, recorded in the
	// metadata for routing.
	ClientAddr string
	// Bootstrap lists every node of a new cluster, this one included. A
	// node with state ignores it. Empty: the node waits to be added.
	Bootstrap []Peer
	// Timing tunes raft for every group.
	Timing replication.Timing
	// SegmentBytes and CheckpointEvery tune every partition replica; zero
	// takes the log and partition defaults.
	SegmentBytes    int64
	CheckpointEvery int
	// BalanceInterval is how often a node hands leadership of partitions
	// it leads to their preferred leader. Zero: 5 s.
	BalanceInterval time.Duration
	// RetentionInterval is how often a leader enforces retention. Zero: 1 min.
	RetentionInterval time.Duration
	// DialVia maps a peer's raft or client address to the address this
	// node dials instead: a proxy in between, where the chaos tests inject
	// network faults. Nodes still know each other by the addresses in the
	// bootstrap list and the metadata. Nil: dial peers directly.
	DialVia map[string]string
	// MinFreeBytes is the free space the data directory's file system must
	// keep. Below it the node refuses produce with a *DiskFullError while
	// reads, offset commits and queue acks go on, and it takes produce
	// again once space is freed (checked every 500 ms). The margin keeps
	// the node's own writes (Pebble's WAL, raft entries from other
	// leaders, checkpoints) from ever meeting a full disk, which Pebble
	// treats as fatal. Zero: not watched.
	MinFreeBytes int64
	// DiskFree returns the bytes free to the node in dir's file system.
	// Nil: statfs.
	DiskFree func(dir string) (uint64, error)
	Logger   *slog.Logger
}

// Validate reports the first bad field, matching ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: ID is required", ErrInvalidConfig)
	case c.DataDir == "":
		return fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	case c.RaftAddr == "" && c.RaftListener == nil:
		return fmt.Errorf("%w: RaftAddr is required", ErrInvalidConfig)
	case c.BalanceInterval < 0 || c.RetentionInterval < 0:
		return fmt.Errorf("%w: negative interval", ErrInvalidConfig)
	case c.MinFreeBytes < 0:
		return fmt.Errorf("%w: negative MinFreeBytes %d", ErrInvalidConfig, c.MinFreeBytes)
	}
	seen := map[string]bool{}
	self := len(c.Bootstrap) == 0
	for _, p := range c.Bootstrap {
		if p.ID == "" || p.RaftAddr == "" {
			return fmt.Errorf("%w: bootstrap peer %+v needs an ID and a raft address", ErrInvalidConfig, p)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: bootstrap peer %s listed twice", ErrInvalidConfig, p.ID)
		}
		seen[p.ID] = true
		self = self || p.ID == c.ID
	}
	if !self {
		return fmt.Errorf("%w: the bootstrap list must include this node (%s)", ErrInvalidConfig, c.ID)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.BalanceInterval == 0 {
		c.BalanceInterval = 5 * time.Second
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DiskFree == nil {
		c.DiskFree = statfsFree
	}
	return c
}
