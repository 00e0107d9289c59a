package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// Moving a partition's replicas. ReassignPartition (metadata) records the
// new replica set; the nodes then move the data, each from its own
// metadata replica and raft groups (the metadata leader does not reach
// into partition groups it may not belong to):
//
//  1. A node newly in the set opens its replica empty, without
//     bootstrapping the group (reconcile), and waits to be contacted.
//  2. The group's leader adds every node of the set that is not a voting
//     member as a voter (converge). Raft then sends it a snapshot or the
//     log. hashicorp/raft counts a new voter at once, without a non-voter
//     stage: while it catches up the group tolerates one failure fewer
//     (as when a replica restarts); raft exposes no follower progress to
//     wait on, and the group stays safe either way.
//  3. A leader that is not in the set hands leadership to a member of it
//     (one that was a member before, when there is one: it is likely
//     caught up). It never removes itself: with ShutdownOnRemove raft
//     would stop the group under us, and the others would wait an
//     election timeout for a new leader.
//  4. A leader in the set demotes each member that is not to non-voter,
//     after the additions, and removes it from the group once it has been
//     a non-voter for retire.
//  5. A node out of the set keeps its replica open until its group
//     configuration shows it as a non-voter, or leaves it out; then it
//     stops the replica and deletes its files (reconcile, drop).
//
// Why demote first: raft's leader stops replicating to a removed member at
// once, after one best-effort append that it skips if it is sending to
// that member at that moment (often: it sends every CommitTimeout), so a
// removed member may never learn that it was removed. A non-voter keeps
// receiving the log, learns its demotion within a round trip, and from
// then on its data is not needed: non-voters neither vote nor count for
// commit. retire gives it the time to learn before it is cut off.
//
// Every step derives what to do from the metadata and the group's current
// configuration, so each is idempotent, survives a crash or a change of
// leader, and is retried by the next reconcile. A worker stops as soon as
// the partition's epoch moves (a newer reassignment) or it loses the lead.
//
// Not handled: a node down for all of retire after its demotion keeps, on
// restart, its replica open as a member of a group that no longer has it
// (it asks for votes, is refused, and nothing is lost). Cleaning that up
// needs the partition leader to report the removal through the metadata
// leader, which comes with the client API. And a demotion that a leader
// crash rolls back (it never committed) after the demoted node deleted
// its replica leaves that node counted as a voter that crashed, until the
// next leader demotes it again.

// convergeTimeout bounds how long a membership change may wait to be
// queued by raft.
const convergeTimeout = 10 * time.Second

// retire is how long a leader keeps a demoted member before it removes it
// from the group: ten heartbeat timeouts (5 s by default). The member
// learns its demotion within a round trip when it is up.
func (n *Node) retire() time.Duration {
	hb := n.cfg.Timing.HeartbeatTimeout
	if hb == 0 {
		hb = replication.DefaultTiming().HeartbeatTimeout
	}
	return 10 * hb
}

// startConverge starts a converge worker for m unless one runs.
func (n *Node) startConverge(m *member, p *metadata.Partition) {
	if !m.busy.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1) // the caller's goroutine is counted in n.wg: see Close
	go func() {
		defer n.wg.Done()
		defer m.busy.Store(false)
		n.converge(m, *p)
	}()
}

// converge changes the members of m's group, which this node leads, to
// partition p's replica set (steps 2 to 4 above).
func (n *Node) converge(m *member, p metadata.Partition) {
	config, err := m.group.Configuration()
	v := n.meta.View()
	if err != nil || converged(config, p.Replicas, v) {
		clear(m.demoted)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	current := func() bool {
		q := n.meta.View().Partition(p.ID)
		return q != nil && q.Epoch == p.Epoch && m.group.Ready()
	}
	log := n.cfg.Logger.With("partition", p.ID, "epoch", p.Epoch, "replicas", p.Replicas)
	members := map[string]replication.Member{}
	for _, mb := range config {
		members[mb.ID] = mb
	}
	var before []string // members of the set that were voters already
	for _, id := range p.Replicas {
		node := v.Node(id)
		if node == nil || node.State != metadata.NodeActive {
			continue // cannot be added; a later reassignment moves it
		}
		if mb, ok := members[id]; ok && mb.Voter && mb.Addr == node.RaftAddr {
			before = append(before, id)
			continue
		}
		if !current() {
			return
		}
		if err := m.group.AddVoter(ctx, replication.Peer{ID: id, Addr: node.RaftAddr}); err != nil {
			log.Warn("server: adding a partition replica", "node", id, "err", err)
			return
		}
		log.Info("server: added a partition replica", "node", id)
		members[id] = replication.Member{Peer: replication.Peer{ID: id, Addr: node.RaftAddr}, Voter: true}
	}
	if !slices.Contains(p.Replicas, n.cfg.ID) {
		for _, id := range append(before, p.Replicas...) {
			if mb, ok := members[id]; ok && mb.Voter && current() {
				if err := m.group.TransferLeadership(mb.Peer); err != nil {
					log.Warn("server: handing over a partition this node leaves", "to", id, "err", err)
					return
				}
				log.Info("server: handed over a partition this node leaves", "to", id)
				return
			}
		}
		return
	}
	if m.demoted == nil {
		m.demoted = map[string]time.Time{}
	}
	for _, id := range slices.Sorted(maps.Keys(members)) {
		if slices.Contains(p.Replicas, id) {
			continue
		}
		if !current() {
			return
		}
		if members[id].Voter {
			if err := m.group.DemoteVoter(ctx, id); err != nil {
				log.Warn("server: demoting a partition replica", "node", id, "err", err)
				return
			}
			log.Info("server: demoted a partition replica", "node", id)
			m.demoted[id] = time.Now()
			continue
		}
		since, ok := m.demoted[id]
		if !ok {
			m.demoted[id] = time.Now() // demoted by an earlier leader
			continue
		}
		if time.Since(since) < n.retire() {
			continue // the next reconcile tries again
		}
		if err := m.group.RemoveMember(ctx, id); err != nil {
			log.Warn("server: removing a partition replica", "node", id, "err", err)
			return
		}
		log.Info("server: removed a partition replica", "node", id)
		delete(m.demoted, id)
	}
}

// outOfGroup reports whether m's group configuration, as this replica
// knows it, makes this node a non-voter or leaves it out: its data is no
// longer needed.
func (n *Node) outOfGroup(m *member) bool {
	config, err := m.group.Configuration()
	if err != nil {
		return false
	}
	i := slices.IndexFunc(config, func(mb replication.Member) bool { return mb.ID == n.cfg.ID })
	return i < 0 || !config[i].Voter
}

// converged reports whether the configuration is exactly the replica set,
// every member a voter at its node's raft address in v.
func converged(config []replication.Member, ids []string, v *metadata.View) bool {
	if len(config) != len(ids) {
		return false
	}
	for _, mb := range config {
		node := v.Node(mb.ID)
		if !mb.Voter || !slices.Contains(ids, mb.ID) || node != nil && node.RaftAddr != mb.Addr {
			return false
		}
	}
	return true
}

// sameMembers reports whether the group members are exactly the nodes ids.
func sameMembers(members []replication.Peer, ids []string) bool {
	if len(members) != len(ids) {
		return false
	}
	for _, m := range members {
		if !slices.Contains(ids, m.ID) {
			return false
		}
	}
	return true
}
