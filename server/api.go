package server

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicedb/sluice/metadata"
)

// Accessors for the client API (package server/rpc). They read the node's
// state and change nothing, except AllocateProducerIDs.

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// DialAddr is the address this node dials to reach a peer's address addr
// (see Config.DialVia).
func (n *Node) DialAddr(addr string) string {
	if to, ok := n.cfg.DialVia[addr]; ok {
		return to
	}
	return addr
}

// ClientAddr returns the client API address the node was configured with
// (Config.ClientAddr).
func (n *Node) ClientAddr() string { return n.cfg.ClientAddr }

// MetadataLeaderID returns the id of the node that leads the metadata
// group as this node's raft replica knows it, or "" during an election.
func (n *Node) MetadataLeaderID() string { return n.metaG.Leader().ID }

// MetadataChanged returns a channel that is closed at the next change of
// the node's metadata View (a broadcast). Call it before reading Metadata
// so as not to miss a change.
func (n *Node) MetadataChanged() <-chan struct{} { return n.meta.Changed() }

// OpenPartitions returns the ids (raft group ids) of the partition
// replicas open on this node, sorted. A replica may close at any time
// after: Partition then returns nil for it.
func (n *Node) OpenPartitions() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.mu.parts))
}

// AllocateProducerIDs takes a block of count producer ids (1 to
// metadata.MaxProducerIDBlock) from the metadata group; no other call
// ever returns them again. It must run on the metadata leader.
//
// Errors: *replication.NotLeaderError (with the leader's id and raft
// address when known); metadata.ErrInvalidArgument;
// metadata.ErrProducerIDsExhausted; the errors of a proposal
// (replication.ErrTimeout: nothing allocated; ErrOutcomeUnknown: a block
// may have been allocated and is lost, which is harmless).
func (n *Node) AllocateProducerIDs(ctx context.Context, count int64) (metadata.ProducerIDBlock, error) {
	cmd, err := metadata.EncodeAllocateProducerIDs(metadata.AllocateProducerIDs{Count: count})
	resp, err := n.propose(ctx, cmd, err)
	if err != nil {
		return metadata.ProducerIDBlock{}, err
	}
	b, ok := resp.(metadata.ProducerIDBlock)
	if !ok {
		return metadata.ProducerIDBlock{}, fmt.Errorf("server: metadata answered %T, want a producer id block", resp)
	}
	return b, nil
}

// CheckReady reports whether the node is fit to take client traffic: it
// is registered in the metadata (and not removed), a metadata leader is
// known, and every partition the metadata assigns to it is open. It
// returns nil when ready, or an error matching ErrNotReady whose message
// says, in one line, what is missing.
func (n *Node) CheckReady() error {
	n.mu.Lock()
	closed := n.mu.closed
	n.mu.Unlock()
	if closed {
		return fmt.Errorf("%w: node is closed", ErrNotReady)
	}
	if err := n.Err(); err != nil {
		return fmt.Errorf("%w: node failed: %v", ErrNotReady, err)
	}
	v := n.meta.View()
	me := v.Node(n.cfg.ID)
	switch {
	case me == nil:
		return fmt.Errorf("%w: node %s is not registered in the cluster metadata yet", ErrNotReady, n.cfg.ID)
	case me.State == metadata.NodeRemoved:
		return fmt.Errorf("%w: node %s was removed from the cluster", ErrNotReady, n.cfg.ID)
	case n.metaG.Leader().ID == "":
		return fmt.Errorf("%w: no metadata leader known", ErrNotReady)
	}
	assigned := v.PartitionsOnNode(n.cfg.ID)
	n.mu.Lock()
	var missing []string
	for _, p := range assigned {
		if n.mu.parts[p.ID] == nil {
			missing = append(missing, p.ID)
		}
	}
	n.mu.Unlock()
	if k := len(missing); k > 0 {
		more := ""
		if k > 3 {
			more = fmt.Sprintf(" and %d more", k-3)
			missing = missing[:3]
		}
		return fmt.Errorf("%w: %d of %d assigned partitions not open yet (%v%s)", ErrNotReady,
			k, len(assigned), missing, more)
	}
	return nil
}

// unlock releases the data directory's lock (Close, or a Start that
// failed).
func (n *Node) unlock() {
	if n.lock != nil {
		_ = n.lock.Close()
		n.lock = nil
	}
}
