package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/metadata"
)

// Consumer groups: the coordinator of every group is the metadata leader
// (it must be Ready: its barrier applied every earlier entry, so the
// stored groups it loads are current). The groups loop activates the
// node's coordinator when the node becomes Ready as metadata leader, in
// a new term (which reloads the groups), deactivates it when the node
// stops leading, and ticks it (session timeouts) while it is active.
// Group states are stored through the metadata group (groupStore);
// committed offsets live in each partition's raft group (package rpc
// routes them).

// groupTick is how often the coordinator looks for expired sessions.
const groupTick = 100 * time.Millisecond

// Groups returns the node's group coordinator. It answers only while the
// node leads the metadata group (consumergroup.ErrNotCoordinator
// otherwise).
func (n *Node) Groups() *consumergroup.Coordinator { return n.groups }

func (n *Node) groupsLoop() {
	t := time.NewTicker(groupTick)
	defer t.Stop()
	var term uint64 // the term the coordinator was activated in
	for {
		select {
		case <-n.stop:
			n.groups.Deactivate()
			return
		case <-t.C:
		}
		ready := n.metaG.Ready()
		switch cur := n.metaG.Term(); {
		case !ready:
			n.groups.Deactivate()
		case !n.groups.Active() || cur != term || n.groupsReload.Swap(false):
			n.groups.Deactivate()
			n.groups.Activate()
			term = cur
			n.cfg.Logger.Info("server: group coordinator active", "term", cur)
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := n.groups.Tick(ctx); err != nil {
				n.cfg.Logger.Warn("server: group coordinator tick", "err", err)
			}
			cancel()
		}
	}
}

// groupStore stores group states through the metadata group.
type groupStore struct{ n *Node }

func (s groupStore) PutGroup(ctx context.Context, g *consumergroup.GroupState, expect uint64) (*consumergroup.GroupState, error) {
	cmd, err := metadata.EncodePutGroup(metadata.PutGroup{State: *g, ExpectVersion: expect, Timestamp: time.Now().UnixMilli()})
	resp, err := s.n.propose(ctx, cmd, err)
	if err != nil {
		return nil, s.mapErr(err)
	}
	if rerr, ok := resp.(error); ok {
		return nil, s.mapErr(rerr)
	}
	st, ok := resp.(*consumergroup.GroupState)
	if !ok {
		return nil, fmt.Errorf("server: metadata answered %T, want a group", resp)
	}
	return st, nil
}

func (s groupStore) DeleteGroup(ctx context.Context, name string, incarnation uint64) error {
	cmd, err := metadata.EncodeDeleteGroup(metadata.DeleteGroup{Name: name, Incarnation: incarnation})
	resp, err := s.n.propose(ctx, cmd, err)
	if err == nil {
		if rerr, ok := resp.(error); ok {
			err = rerr
		}
	}
	if err != nil {
		return s.mapErr(err)
	}
	return nil
}

// mapErr turns a conflict (another coordinator changed the group: this
// node lost and regained the lead in between) into ErrNotCoordinator and
// makes the coordinator reload at its next activation.
func (s groupStore) mapErr(err error) error {
	switch {
	case errors.Is(err, metadata.ErrGroupVersionConflict), errors.Is(err, metadata.ErrGroupExists):
		s.n.cfg.Logger.Warn("server: group changed under the coordinator; reloading", "err", err)
		s.n.groupsReload.Store(true) // the groups loop reloads; the caller holds the group's lock
		return fmt.Errorf("%w: %w", consumergroup.ErrNotCoordinator, err)
	case errors.Is(err, metadata.ErrUnknownGroup):
		return fmt.Errorf("%w: %w", consumergroup.ErrUnknownGroup, err)
	}
	return err
}

func (s groupStore) Groups() []*consumergroup.GroupState { return s.n.meta.View().Groups() }

func (s groupStore) PartitionCounts(streams []string) map[string]int32 {
	v := s.n.meta.View()
	out := make(map[string]int32, len(streams))
	for _, name := range streams {
		if st := v.Stream(name); st != nil {
			out[name] = int32(len(st.Partitions))
		}
	}
	return out
}
