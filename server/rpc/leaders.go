package rpc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/metadata"
)

// Partition leaders. A node knows the leader of each partition it hosts
// from its raft replica. For the others it asks a node that hosts one
// (SluiceInternal.PartitionLeaders, one call per node for all the
// partitions asked of it, the preferred leader first since it most likely
// leads), and caches the answers for leaderTTL. A stale entry costs a
// client one NOT_LEADER with the right hint (the node it reaches knows
// better), never a wrong read or write; hints seen in replies and errors
// refresh the cache too.
const (
	leaderTTL = 2 * time.Second
	// leaderAskTimeout bounds one round of questions to other nodes.
	leaderAskTimeout = 500 * time.Millisecond
	// leaderRounds is how many replica nodes are asked in turn about a
	// partition whose first answer was no answer.
	leaderRounds = 2
	// maxLeadersAsked bounds the partitions of one PartitionLeaders call.
	maxLeadersAsked = metadata.MaxPartitions * 16
)

// leaderCache holds the leaders other nodes reported.
type leaderCache struct {
	mu struct {
		sync.Mutex
		m    map[string]cachedLeader // by partition id. Protected by mu.
		puts int
	}
}

type cachedLeader struct {
	id string
	at time.Time
}

func (c *leaderCache) get(part string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.m[part]
	if !ok || now.Sub(e.at) > leaderTTL {
		return "", false
	}
	return e.id, true
}

// put records that id leads part ("" forgets it).
func (c *leaderCache) put(part, id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		delete(c.mu.m, part)
		return
	}
	c.mu.m[part] = cachedLeader{id: id, at: now}
	c.mu.puts++
	if c.mu.puts%1024 == 0 { // drop the expired now and then: deleted partitions
		for k, e := range c.mu.m {
			if now.Sub(e.at) > leaderTTL {
				delete(c.mu.m, k)
			}
		}
	}
}

// leaderOf returns the id of p's leader as best known, or "".
func (s *service) leaderOf(ctx context.Context, v *metadata.View, p *metadata.Partition) string {
	return s.leadersOf(ctx, v, []*metadata.Partition{p})[p.ID]
}

// leadersOf returns the known leaders of parts, by partition id; a
// partition whose leader is unknown is left out.
func (s *service) leadersOf(ctx context.Context, v *metadata.View, parts []*metadata.Partition) map[string]string {
	out := make(map[string]string, len(parts))
	now := time.Now()
	var ask []*metadata.Partition
	for _, p := range parts {
		if _, g := s.node.Partition(p.ID); g != nil {
			if id := g.Leader().ID; id != "" {
				out[p.ID] = id
				continue
			}
		}
		if id, ok := s.leaders.get(p.ID, now); ok {
			out[p.ID] = id
			continue
		}
		ask = append(ask, p)
	}
	if len(ask) > 0 {
		s.askLeaders(ctx, v, ask, out)
	}
	return out
}

// askLeaders asks replica nodes about parts, in rounds: each round asks,
// for every partition still unresolved, the next of its replica nodes
// (one call per node, all in parallel).
func (s *service) askLeaders(ctx context.Context, v *metadata.View, parts []*metadata.Partition, out map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, leaderAskTimeout)
	defer cancel()
	me := s.node.ID()
	for round := 0; round < leaderRounds && len(parts) > 0 && ctx.Err() == nil; round++ {
		byNode := map[string][]string{}
		for _, p := range parts {
			var cands []string
			for _, id := range p.Replicas {
				if n := v.Node(id); id != me && n != nil && n.ClientAddr != "" && n.State != metadata.NodeRemoved {
					cands = append(cands, id)
				}
			}
			if round < len(cands) {
				byNode[cands[round]] = append(byNode[cands[round]], p.ID)
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for node, ids := range byNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := s.askNode(ctx, v.Node(node).ClientAddr, ids)
				mu.Lock()
				for id, l := range got {
					out[id] = l
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		parts = slices.DeleteFunc(parts, func(p *metadata.Partition) bool { return out[p.ID] != "" })
	}
}

// askNode asks the node at addr who leads the partitions ids and caches
// what it knows.
func (s *service) askNode(ctx context.Context, addr string, ids []string) map[string]string {
	cc, err := s.peers.conn(ctx, addr)
	if err != nil {
		return nil
	}
	resp, err := sluicev1.NewSluiceInternalClient(cc).PartitionLeaders(ctx, &sluicev1.PartitionLeadersRequest{Partitions: ids})
	if err != nil {
		s.log.Debug("rpc: asking for partition leaders", "addr", addr, "err", err)
		return nil
	}
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	now := time.Now()
	out := map[string]string{}
	for _, l := range resp.GetLeaders() {
		if l.GetHosted() && l.GetLeaderId() != "" && asked[l.GetPartition()] {
			out[l.GetPartition()] = l.GetLeaderId()
			s.leaders.put(l.GetPartition(), l.GetLeaderId(), now)
		}
	}
	return out
}

// PartitionLeaders reports the leaders this node's replicas know.
func (a *internalAPI) PartitionLeaders(_ context.Context, req *sluicev1.PartitionLeadersRequest) (*sluicev1.PartitionLeadersResponse, error) {
	s := a.svc
	if n := len(req.GetPartitions()); n > maxLeadersAsked {
		return nil, s.status("PartitionLeaders", fmt.Errorf("%w: partitions: %d ids (at most %d)", ErrInvalidArgument, n, maxLeadersAsked))
	}
	resp := &sluicev1.PartitionLeadersResponse{Leaders: make([]*sluicev1.PartitionLeader, 0, len(req.GetPartitions()))}
	for _, id := range req.GetPartitions() {
		l := &sluicev1.PartitionLeader{Partition: id}
		if _, g := s.node.Partition(id); g != nil {
			l.Hosted, l.LeaderId = true, g.Leader().ID
		}
		resp.Leaders = append(resp.Leaders, l)
	}
	return resp, nil
}
