package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// Cluster membership and replica placement. These run on the metadata
// leader; elsewhere they return a *replication.NotLeaderError with the
// leader's id and raft address when one is known. They are idempotent: a
// call that failed, or whose outcome is unknown, may be repeated, and
// what a crash interrupted is finished by the metadata leader's
// membership loop and by every node's reconcile loop.

// requireLeader checks that this node leads the metadata group and that
// its metadata is current (a new leader first applies what earlier
// leaders committed), so that decisions read from the View hold.
func (n *Node) requireLeader(ctx context.Context) error {
	if !n.metaG.IsLeader() {
		l := n.metaG.Leader()
		return &replication.NotLeaderError{LeaderID: l.ID, LeaderAddr: l.Addr}
	}
	if n.metaG.Ready() {
		return nil
	}
	return n.metaG.Barrier(ctx)
}

// register proposes a RegisterNode of p in state st and returns the node
// as stored (its state never moves back).
func (n *Node) register(ctx context.Context, p Peer, st metadata.NodeState) (*metadata.Node, error) {
	cmd, err := metadata.EncodeRegisterNode(metadata.RegisterNode{
		ID: p.ID, RaftAddr: p.RaftAddr, ClientAddr: p.ClientAddr, State: st, Timestamp: time.Now().UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	resp, err := n.metaG.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resp.(*metadata.Node), nil
}

// AddNode adds a node to the cluster. The node must be running with an
// empty Config.Bootstrap (it waits to be contacted) and be reachable at
// p.RaftAddr. AddNode registers it as joining, adds it to the metadata
// group as a voter (raft sends it the metadata's snapshot and log), and
// marks it active: streams created later, and reassignments, may then
// place replicas on it. Existing replicas do not move by themselves; see
// ReassignPartition.
//
// Adding a node that is already there changes nothing (or updates its
// addresses). It returns the node as registered.
//
// Errors: *replication.NotLeaderError; metadata.ErrInvalidArgument (a bad
// id or address, or an address that another node has);
// metadata.ErrNodeRemoved (node ids are never reused); and the errors of
// a proposal or membership change (replication.ErrTimeout: nothing done;
// replication.ErrOutcomeUnknown: call again).
func (n *Node) AddNode(ctx context.Context, p Peer) (*metadata.Node, error) {
	if err := n.requireLeader(ctx); err != nil {
		return nil, err
	}
	node, err := n.register(ctx, p, metadata.NodeJoining)
	if err != nil {
		return nil, err
	}
	config, err := n.metaG.Configuration()
	if err != nil {
		return nil, err
	}
	peer := replication.Peer{ID: p.ID, Addr: p.RaftAddr}
	if !slices.Contains(config, replication.Member{Peer: peer, Voter: true}) {
		if err := n.metaG.AddVoter(ctx, peer); err != nil {
			return nil, fmt.Errorf("server: add %s to the metadata group: %w", p.ID, err)
		}
	}
	if node.State == metadata.NodeActive {
		return node, nil
	}
	return n.register(ctx, p, metadata.NodeActive)
}

// ReassignPartition sets the replica set of partition id (its raft group
// id, as metadata.PartitionID) to replicas, 1 to
// metadata.MaxReplicationFactor distinct active nodes, the first the
// preferred leader. It returns once the metadata records the new set; the
// nodes then move the data (reassign.go): new replicas catch up from the
// partition's leader through raft (a snapshot, then the log), the leader
// hands over if it leaves, the replicas no longer in the set are demoted
// to non-voters, delete their files, and are removed from the group.
// Produce and fetch go on throughout (a leader that leaves hands over, as
// the preferred-leader balancing does). Watch the move with Partition and
// the group's Members.
//
// Errors: *replication.NotLeaderError; metadata.ErrPartitionNotFound;
// metadata.ErrInvalidArgument (no node, too many, a bad or repeated id);
// metadata.ErrNodeNotFound; metadata.ErrNodeNotActive (a joining or
// removed node); metadata.ErrReplicasChanged (another reassignment of the
// partition was applied while this one was built: read it and decide
// again); and the errors of a proposal. A refused request changes
// nothing; a request for the current set, in the same order, changes
// nothing and succeeds.
func (n *Node) ReassignPartition(ctx context.Context, id string, replicas []string) (*metadata.Partition, error) {
	c := metadata.ReassignPartition{Partition: id, Replicas: slices.Clone(replicas)}
	if _, err := metadata.EncodeReassignPartition(c); err != nil {
		return nil, err
	}
	if err := n.requireLeader(ctx); err != nil {
		return nil, err
	}
	p := n.meta.View().Partition(id)
	if p == nil {
		return nil, fmt.Errorf("%w: %s", metadata.ErrPartitionNotFound, id)
	}
	c.Epoch = p.Epoch
	cmd, err := metadata.EncodeReassignPartition(c)
	if err != nil {
		return nil, err
	}
	resp, err := n.metaG.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resp.(*metadata.Partition), nil
}

// RemoveNode takes node id out of the cluster: it marks it removed (no
// new replicas go to it), reassigns every replica it holds to the other
// active nodes (metadata.View.PlanRemoveNode: the replication factor is
// kept when enough nodes are active, and the load balanced), and demotes
// it to non-voter in the metadata group; the metadata leader removes it
// from the group a little later (the membership loop). The partitions'
// leaders then move the data as for ReassignPartition; the node itself, if
// it runs, deletes its replicas as the groups demote it. The node's id is
// never used again.
//
// Removing the metadata leader itself hands the metadata leadership to
// another node once its replicas are reassigned; the new leader finishes.
// Removing a removed node finishes what is left.
//
// Errors: *replication.NotLeaderError; metadata.ErrNodeNotFound;
// metadata.ErrNotEnoughNodes (a partition's only replica is on the node
// and no other node is active: nothing changed); and the errors of a
// proposal or membership change.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	if err := n.requireLeader(ctx); err != nil {
		return err
	}
	v := n.meta.View()
	node := v.Node(id)
	if node == nil {
		return fmt.Errorf("%w: %s", metadata.ErrNodeNotFound, id)
	}
	if _, err := v.PlanRemoveNode(id); err != nil {
		return err // before changing anything
	}
	if node.State != metadata.NodeRemoved {
		cmd, err := metadata.EncodeRemoveNode(metadata.RemoveNode{ID: id})
		if err != nil {
			return err
		}
		if _, err := n.metaG.Propose(ctx, cmd); err != nil {
			return err
		}
	}
	// Plan from the current View; plan again if a concurrent reassignment
	// of one of the partitions got in first.
	for attempt := 0; ; attempt++ {
		plan, err := n.meta.View().PlanRemoveNode(id)
		if err != nil {
			return err
		}
		if len(plan) == 0 {
			break
		}
		for _, c := range plan {
			cmd, err := metadata.EncodeReassignPartition(c)
			if err == nil {
				_, err = n.metaG.Propose(ctx, cmd)
			}
			if errors.Is(err, metadata.ErrReplicasChanged) && attempt < 3 {
				break
			}
			if err != nil {
				return fmt.Errorf("server: move partition %s off %s: %w", c.Partition, id, err)
			}
		}
	}
	// Demote it in the metadata group: it keeps receiving the metadata,
	// and learns that its replicas moved (it deletes them then); the
	// membership loop removes it from the group later (finishNodes).
	if id == n.cfg.ID {
		return n.metaG.TransferLeadership(replication.Peer{})
	}
	config, err := n.metaG.Configuration()
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(config, func(m replication.Member) bool { return m.ID == id }); i >= 0 && config[i].Voter {
		if err := n.metaG.DemoteVoter(ctx, id); err != nil {
			return fmt.Errorf("server: demote %s in the metadata group: %w", id, err)
		}
	}
	return nil
}
