package server

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// membershipLoop: while this node leads the metadata group, it registers
// every bootstrap peer that the metadata does not know yet, as active, and
// finishes what AddNode and RemoveNode leave to be done (finishNodes).
func (n *Node) membershipLoop() {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if !n.metaG.Ready() {
			continue
		}
		n.registerBootstrapPeers(n.meta.View())
		n.finishNodes(n.meta.View())
	}
}

func (n *Node) registerBootstrapPeers(v *metadata.View) {
	for _, p := range n.cfg.Bootstrap {
		if node := v.Node(p.ID); node != nil && node.State != metadata.NodeJoining {
			continue // registered, or removed since
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.register(ctx, p, metadata.NodeActive)
		cancel()
		if err != nil {
			n.cfg.Logger.Warn("server: registering a bootstrap peer", "peer", p.ID, "err", err)
		}
	}
}

// finishNodes completes the metadata group's membership from the node
// registry, so that an AddNode or RemoveNode interrupted by a crash or a
// change of leader gets done: a joining node becomes a voter, then active;
// a removed node, once no replica set names it, is demoted to non-voter
// and, retire later, removed from the group. As in partition groups
// (reassign.go), the demotion keeps it receiving the metadata until it has
// learned that its replicas moved, which it needs to delete them. The
// leader hands leadership over rather than demote itself.
func (n *Node) finishNodes(v *metadata.View) {
	config, err := n.metaG.Configuration()
	if err != nil {
		return
	}
	members := map[string]replication.Member{}
	for _, m := range config {
		members[m.ID] = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, node := range v.Nodes() {
		mb, member := members[node.ID]
		var err error
		switch {
		case node.State == metadata.NodeJoining:
			if !member || !mb.Voter {
				err = n.metaG.AddVoter(ctx, replication.Peer{ID: node.ID, Addr: node.RaftAddr})
			}
			if err == nil {
				_, err = n.register(ctx, Peer{ID: node.ID, RaftAddr: node.RaftAddr, ClientAddr: node.ClientAddr}, metadata.NodeActive)
			}
		case node.State != metadata.NodeRemoved || !member || len(v.PartitionsOnNode(node.ID)) > 0:
			delete(n.metaDemoted, node.ID)
			continue
		case node.ID == n.cfg.ID:
			err = n.metaG.TransferLeadership(replication.Peer{})
		case mb.Voter:
			err = n.metaG.DemoteVoter(ctx, node.ID)
		default:
			since, ok := n.metaDemoted[node.ID]
			if !ok {
				n.metaDemoted[node.ID] = time.Now()
			}
			if !ok || time.Since(since) < n.retire() {
				continue
			}
			if err = n.metaG.RemoveMember(ctx, node.ID); err == nil {
				delete(n.metaDemoted, node.ID)
			}
		}
		if err != nil {
			n.cfg.Logger.Warn("server: metadata group membership", "node", node.ID, "state", node.State, "err", err)
			return
		}
	}
}

// reconcileLoop brings this node's replicas in line with the metadata each
// time it changes, and every second (work that failed, or waits on raft,
// is retried).
func (n *Node) reconcileLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		changed := n.meta.Changed()
		n.reconcile(n.meta.View())
		select {
		case <-n.stop:
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// reconcile brings this node's replicas in line with the metadata view v:
//
//   - it opens the partitions whose replica set names this node;
//   - on each replica that leads its group, it starts a converge worker
//     (reassign.go), which changes the group's members to the set;
//   - it removes the replicas of deleted streams, and the replicas no
//     longer in their partition's set once the group's configuration makes
//     this node a non-voter or leaves it out (the leader demoted it);
//   - for replicas on disk that are not open (after a restart): it reopens
//     those that left the set, so that they may still learn that the group
//     demoted them, deletes those of streams deleted meanwhile, and
//     finishes removals that a crash interrupted.
func (n *Node) reconcile(v *metadata.View) {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return
	}
	parts := maps.Clone(n.mu.parts)
	n.mu.Unlock()

	me := n.cfg.ID
	var open []*metadata.Partition
	want := map[string]bool{}
	for _, p := range v.PartitionsOnNode(me) {
		want[p.ID] = true
		if parts[p.ID] == nil {
			open = append(open, p)
		}
	}
	drops := map[string]drop{}
	for _, id := range slices.Sorted(maps.Keys(n.records)) {
		rec := n.records[id]
		if parts[id] != nil || want[id] {
			continue
		}
		p := v.Partition(id)
		deleted := p == nil && v.Version() >= rec.version
		switch {
		case rec.state == replicaGone:
			if deleted {
				n.finishRecord(id, true) // nothing left to keep it for
			}
		case rec.state == replicaRemoving:
			drops[id] = drop{deleted: deleted}
		case deleted:
			drops[id] = drop{deleted: true}
		case p != nil:
			open = append(open, p) // left the set while this node was down
		}
	}
	for id, m := range parts {
		p := v.Partition(id)
		if p != nil {
			// An altered stream's retention reaches the open replicas.
			if s := v.Stream(p.Stream); s != nil {
				if err := m.replica.SetRetention(retention(s)); err != nil {
					n.cfg.Logger.Error("server: setting retention", "partition", id, "err", err)
				}
			}
		}
		switch {
		case p == nil:
			// Opened from a View that had it, and Views only move forward.
			drops[id] = drop{m: m, deleted: true}
		case m.group.Ready():
			n.startConverge(m, p)
		case !slices.Contains(p.Replicas, me) && n.outOfGroup(m):
			drops[id] = drop{m: m}
		}
	}
	n.drop(drops)
	for _, p := range open {
		m, err := n.openPartition(v, p)
		if errors.Is(err, ErrDamaged) {
			n.fail(err)
			return
		}
		if err != nil {
			n.cfg.Logger.Error("server: opening a partition", "partition", p.ID, "err", err)
			continue
		}
		n.mu.Lock()
		if n.mu.closed {
			n.mu.Unlock()
			_ = m.group.Stop()
			_ = m.replica.Close()
			return
		}
		n.mu.parts[p.ID] = m
		n.mu.Unlock()
	}
}

// drop is a replica to remove.
type drop struct {
	m       *member // nil: not open
	deleted bool    // its stream was deleted: forget the record too
}

// drop removes replicas: it takes the open ones out of the node, marks
// each record removing, stops the open ones and deletes the files of the
// marked ones, then marks the records gone (or deletes them, for a deleted
// stream: its partition ids are never used again). A crash in between
// leaves the mark, and the next reconcile or open finishes the removal. It
// runs on the reconcile goroutine.
func (n *Node) drop(drops map[string]drop) {
	if len(drops) == 0 {
		return
	}
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return // Close stops the open ones; the records say what is left
	}
	for id, d := range drops {
		if d.m != nil {
			delete(n.mu.parts, id)
		}
	}
	n.mu.Unlock()
	marked := map[string]bool{}
	for id := range drops {
		rec := n.records[id] // a missing one is incarnation 0
		rec.state = replicaRemoving
		if err := storeRecord(n.db, id, rec, false); err != nil {
			n.cfg.Logger.Error("server: removing a replica", "partition", id, "err", err)
			continue // stopped below but kept: reopened, and dropped again
		}
		n.records[id] = rec
		marked[id] = true
	}
	// In parallel: a raft leader's shutdown can wait on an append to a
	// peer that is itself shutting down a group, so stopping one group at
	// a time can chain those waits.
	errs := make(map[string]error, len(drops))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, d := range drops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if d.m != nil {
				err = errors.Join(d.m.group.Stop(), d.m.replica.Close())
			}
			if marked[id] {
				err = errors.Join(err, n.deleteReplicaFiles(id))
			}
			mu.Lock()
			errs[id] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for id, d := range drops {
		if err := errs[id]; err != nil || !marked[id] {
			if err != nil {
				n.cfg.Logger.Error("server: removing a replica", "partition", id, "err", err)
			}
			continue // still marked removing (or live): retried
		}
		n.finishRecord(id, d.deleted)
		n.cfg.Logger.Info("server: removed a replica", "partition", id, "deleted_stream", d.deleted)
	}
}

// finishRecord marks the record of a removed replica gone, or deletes it
// when the partition's stream was deleted.
func (n *Node) finishRecord(id string, deleted bool) {
	rec := n.records[id]
	rec.state = replicaGone
	if err := storeRecord(n.db, id, rec, deleted); err != nil {
		n.cfg.Logger.Error("server: removing a replica", "partition", id, "err", err)
		return
	}
	if deleted {
		delete(n.records, id)
	} else {
		n.records[id] = rec
	}
}

// maintainLoop hands leadership of partitions this node leads to their
// preferred leader (the first of the replica set, spread evenly by the
// metadata), and enforces retention on the partitions it leads.
func (n *Node) maintainLoop() {
	balance := time.NewTicker(n.cfg.BalanceInterval)
	defer balance.Stop()
	retention := time.NewTicker(n.cfg.RetentionInterval)
	defer retention.Stop()
	var disk <-chan time.Time // nil: free space not watched
	if n.cfg.MinFreeBytes > 0 {
		t := time.NewTicker(diskCheckInterval)
		defer t.Stop()
		disk = t.C
	}
	for {
		select {
		case <-n.stop:
			return
		case <-balance.C:
			n.balance()
		case <-retention.C:
			n.enforceRetention()
		case <-disk:
			n.checkDisk()
		}
	}
}

func (n *Node) leading() []*member {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*member
	for _, m := range n.mu.parts {
		if m.group.Ready() {
			out = append(out, m)
		}
	}
	return out
}

// transferRetry is when a partition's leader may try again to hand
// leadership to its preferred leader, after a failed transfer.
type transferRetry struct {
	at      time.Time
	backoff time.Duration
}

// balance hands each partition this node leads to its preferred leader,
// once the group's members are the replica set: during a reassignment the
// converge worker moves leadership as needed, and the preferred leader
// may still be catching up.
//
// A failed transfer (the preferred leader is down, or too far behind)
// holds the next one back, from 4 to 64 balance intervals, doubling: raft
// refuses proposals while a transfer is in flight (up to an election
// timeout), so retrying at every interval would keep a partition whose
// preferred leader is down from taking writes most of the time.
func (n *Node) balance() {
	v := n.meta.View()
	now := time.Now()
	led := map[string]bool{}
	for _, m := range n.leading() {
		led[m.id] = true
		p := v.Partition(m.id)
		if p == nil || p.Replicas[0] == n.cfg.ID {
			continue
		}
		pref := v.Node(p.Replicas[0])
		if pref == nil || pref.State != metadata.NodeActive {
			continue
		}
		if members, err := m.group.Members(); err != nil || !sameMembers(members, p.Replicas) {
			continue
		}
		retry := n.balanceRetry[m.id]
		if now.Before(retry.at) {
			continue
		}
		if err := m.group.TransferLeadership(replication.Peer{ID: pref.ID, Addr: pref.RaftAddr}); err != nil {
			retry.backoff = min(max(2*retry.backoff, 4*n.cfg.BalanceInterval), 64*n.cfg.BalanceInterval)
			retry.at = time.Now().Add(retry.backoff)
			n.balanceRetry[m.id] = retry
			n.cfg.Logger.Debug("server: leadership transfer", "partition", m.id, "to", pref.ID, "err", err, "retry_in", retry.backoff)
			continue
		}
		delete(n.balanceRetry, m.id)
	}
	for id := range n.balanceRetry {
		if !led[id] {
			delete(n.balanceRetry, id)
		}
	}
}

func (n *Node) enforceRetention() {
	for _, m := range n.leading() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := m.replica.EnforceRetention(ctx, time.Now()); err != nil {
			n.cfg.Logger.Warn("server: retention", "partition", m.id, "err", err)
		}
		cancel()
	}
}
