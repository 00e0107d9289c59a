package client

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Defaults of GroupConfig.
const (
	DefaultSessionTimeout     = 10 * time.Second
	DefaultRebalanceTimeout   = 30 * time.Second
	DefaultAutoCommitInterval = 5 * time.Second
)

// StreamPartition names one partition of a stream.
type StreamPartition struct {
	Stream    string
	Partition int32
}

// String returns "stream/partition".
func (p StreamPartition) String() string { return fmt.Sprintf("%s/%d", p.Stream, p.Partition) }

// LeaveMode says whether GroupConsumer.Close leaves the group.
type LeaveMode int8

const (
	// LeaveDefault leaves for a dynamic member (no InstanceID), whose
	// partitions then move at once, and stays for a static member, so that
	// a restart within the session timeout gets its partitions back with
	// no rebalance (Kafka's static membership).
	LeaveDefault LeaveMode = iota
	// LeaveAlways leaves the group on Close.
	LeaveAlways
	// LeaveNever does not: the coordinator removes the member after the
	// session timeout.
	LeaveNever
)

// GroupConfig configures a GroupConsumer. Zero fields take the defaults.
type GroupConfig struct {
	// Group names the consumer group; Streams are the streams its member
	// consumes (at least one).
	Group   string
	Streams []string
	// Strategy is the assignment strategy the coordinator uses: range,
	// roundrobin or cooperative-sticky ("": cooperative-sticky). Every
	// member of a group must ask for the same one.
	Strategy string
	// InstanceID makes a static member: one that joins again with the same
	// id within the session timeout takes its place (and partitions) back.
	// Two live members must not share an id: the older one is fenced.
	InstanceID string
	// SessionTimeout: a member that sends no heartbeat for this long is
	// removed (default 10s). RebalanceTimeout: a member that keeps a
	// revoked partition for this long, because Poll is not called, is
	// removed (default 30s).
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// StartAt is where a partition the group has no committed offset for
	// starts (default Earliest). A partition with a committed offset always
	// starts there.
	StartAt StartAt
	// AutoCommit commits, every AutoCommitInterval (default 5s) from Poll,
	// before a partition is released, and in Close, the position after the
	// records Poll returned (see GroupConsumer.Poll).
	AutoCommit         bool
	AutoCommitInterval time.Duration
	// OnAssigned, OnRevoked and OnLost, when set, are called from Poll (and
	// OnRevoked or OnLost from Close) on the caller's goroutine, with the
	// partitions in order. OnAssigned: the partitions were started.
	// OnRevoked: the partitions are still owned and about to be released
	// (with AutoCommit their positions were committed; without it, commit
	// here). OnLost: the membership was lost (removed or fenced) and the
	// partitions may already belong to another member, so nothing was
	// committed; when nil, OnRevoked is called instead. A callback may
	// call Commit, CommitOffsets and Assignment, not Poll or Close.
	OnAssigned, OnRevoked, OnLost func(ctx context.Context, parts []StreamPartition)
	// LeaveOnClose says whether Close leaves the group.
	LeaveOnClose LeaveMode
	// Consumer holds the fetch settings. Its OffsetReset applies when a
	// committed offset is outside the log (retention passed it).
	Consumer ConsumerConfig
}

// withDefaults checks g and fills the defaults in a copy.
func (g GroupConfig) withDefaults() (GroupConfig, error) {
	bad := func(format string, args ...any) (GroupConfig, error) {
		return g, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf(format, args...)}
	}
	if g.Group == "" {
		return bad("no group name")
	}
	if len(g.Streams) == 0 {
		return bad("group %q: no streams", g.Group)
	}
	for i, s := range g.Streams {
		if s == "" {
			return bad("group %q: empty stream name", g.Group)
		}
		if slices.Contains(g.Streams[:i], s) {
			return bad("group %q: stream %q listed twice", g.Group, s)
		}
	}
	const maxDuration = time.Duration(math.MaxInt32) * time.Millisecond
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"session timeout", g.SessionTimeout}, {"rebalance timeout", g.RebalanceTimeout},
		{"auto-commit interval", g.AutoCommitInterval}} {
		if d.v < 0 || d.v > maxDuration {
			return bad("group %q: %s %v out of range", g.Group, d.name, d.v)
		}
	}
	if g.SessionTimeout > 0 && g.SessionTimeout < 3*time.Millisecond {
		return bad("group %q: session timeout %v below 3ms", g.Group, g.SessionTimeout)
	}
	if g.StartAt.kind == startOffset && g.StartAt.offset < 0 {
		return bad("group %q: negative start offset %d", g.Group, g.StartAt.offset)
	}
	if g.LeaveOnClose < LeaveDefault || g.LeaveOnClose > LeaveNever {
		return bad("group %q: unknown leave mode %d", g.Group, g.LeaveOnClose)
	}
	if r := g.Consumer.OffsetReset; r < ResetEarliest || r > ResetNone {
		return bad("group %q: unknown offset reset %d", g.Group, r)
	}
	g.Streams = slices.Clone(g.Streams)
	if g.SessionTimeout == 0 {
		g.SessionTimeout = DefaultSessionTimeout
	}
	if g.RebalanceTimeout == 0 {
		g.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if g.AutoCommitInterval == 0 {
		g.AutoCommitInterval = DefaultAutoCommitInterval
	}
	return g, nil
}
