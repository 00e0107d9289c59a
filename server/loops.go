package server

import (
	"context"
	"sync"
	"time"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// registerLoop: while this node leads the metadata group, it registers
// every bootstrap peer that the metadata does not know yet, as active.
// (Nodes that join later register through the client API.)
func (n *Node) registerLoop() {
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
		v := n.meta.View()
		for _, p := range n.cfg.Bootstrap {
			if node := v.Node(p.ID); node != nil && node.State == metadata.NodeActive {
				continue
			}
			cmd, err := metadata.EncodeRegisterNode(metadata.RegisterNode{
				ID: p.ID, RaftAddr: p.RaftAddr, ClientAddr: p.ClientAddr,
				State: metadata.NodeActive, Timestamp: time.Now().UnixMilli(),
			})
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = n.metaG.Propose(ctx, cmd)
				cancel()
			}
			if err != nil {
				n.cfg.Logger.Warn("server: registering a bootstrap peer", "peer", p.ID, "err", err)
			}
		}
	}
}

// reconcileLoop opens the partitions the metadata assigns to this node and
// removes those whose stream was deleted, each time the metadata changes.
// A partition that fails to open is retried at the next change or tick.
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

func (n *Node) reconcile(v *metadata.View) {
	want := map[string]metadata.Partition{}
	for _, p := range v.PartitionsOnNode(n.cfg.ID) {
		want[p.ID] = *p
	}
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return
	}
	var open []metadata.Partition
	gone := map[string]*member{}
	for id, p := range want {
		if n.mu.parts[id] == nil {
			open = append(open, p)
		}
	}
	for id, m := range n.mu.parts {
		if _, ok := want[id]; !ok {
			gone[id] = m
			delete(n.mu.parts, id)
		}
	}
	n.mu.Unlock()
	// Stop in parallel: a raft leader's shutdown can wait on a pipelined
	// append to a peer that is itself shutting down a group, so stopping
	// one group at a time can chain those waits.
	var wg sync.WaitGroup
	for id, m := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.removePartition(id, m); err != nil {
				n.cfg.Logger.Error("server: removing a deleted partition", "partition", id, "err", err)
			}
		}()
	}
	wg.Wait()
	for _, p := range open {
		m, err := n.openPartition(v, p)
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

// maintainLoop hands leadership of partitions this node leads to their
// preferred leader (the first of the replica set, spread evenly by the
// metadata), and enforces retention on the partitions it leads.
func (n *Node) maintainLoop() {
	balance := time.NewTicker(n.cfg.BalanceInterval)
	defer balance.Stop()
	retention := time.NewTicker(n.cfg.RetentionInterval)
	defer retention.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-balance.C:
			n.balance()
		case <-retention.C:
			n.enforceRetention()
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

func (n *Node) balance() {
	v := n.meta.View()
	for _, m := range n.leading() {
		pref := m.part.Replicas[0]
		if pref == n.cfg.ID {
			continue
		}
		node := v.Node(pref)
		if node == nil || node.State != metadata.NodeActive {
			continue
		}
		if err := m.group.TransferLeadership(replication.Peer{ID: pref, Addr: node.RaftAddr}); err != nil {
			n.cfg.Logger.Debug("server: leadership transfer", "partition", m.part.ID, "to", pref, "err", err)
		}
	}
}

func (n *Node) enforceRetention() {
	for _, m := range n.leading() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := m.replica.EnforceRetention(ctx, time.Now()); err != nil {
			n.cfg.Logger.Warn("server: retention", "partition", m.part.ID, "err", err)
		}
		cancel()
	}
}
