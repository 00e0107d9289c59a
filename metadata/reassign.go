package metadata

import (
	"cmp"
	"fmt"
	"slices"
)

// PlanRemoveNode returns the ReassignPartition commands that move every
// replica off node id, one per partition whose replica set names it, in
// the order of PartitionsOnNode; none when no set names it. The server
// proposes them when it removes a node; nothing here changes the state.
//
// Each new set keeps the set's other nodes, in order, and is filled up to
// its stream's replication factor (fewer when not enough nodes are active)
// with the active nodes not in it that hold the fewest replicas; ties go
// to the node with more preferred leaders (as assign.go's followers), or
// fewer when id was the preferred leader (an added node may lead), then to
// a tie order rotated by stream id and partition number. When id was the
// preferred leader, the node of the new set with the fewest preferred
// leaders leads (ties: more replicas, then set order). The load counts the plans already made, so
// the moved replicas spread over the active nodes. Node id never takes a
// replica, whatever its state.
//
// Errors: ErrNodeNotFound (id is not registered), ErrNotEnoughNodes (a
// partition whose only node is id, and no other active node).
func (v *View) PlanRemoveNode(id string) ([]ReassignPartition, error) {
	if v.nodes[id] == nil {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
	}
	load := slices.DeleteFunc(currentLoad(v), func(l nodeLoad) bool { return l.id == id })
	at := make(map[string]int, len(load))
	for i, l := range load {
		at[l.id] = i
	}
	var out []ReassignPartition
	for _, p := range v.PartitionsOnNode(id) {
		s := v.streams[p.Stream]
		set := make([]string, 0, max(s.ReplicationFactor, len(p.Replicas)))
		for _, r := range p.Replicas {
			if r != id {
				set = append(set, r)
			}
		}
		k := len(load)
		var cand []int // indexes into load, in tie order
		for j := range k {
			i := (int((s.ID+uint64(p.Index))%uint64(k)) + j) % k
			if !slices.Contains(set, load[i].id) {
				cand = append(cand, i)
			}
		}
		lead := p.Replicas[0] == id
		slices.SortStableFunc(cand, func(a, b int) int {
			if d := cmp.Compare(load[a].replicas, load[b].replicas); d != 0 {
				return d
			}
			if lead { // an added node may have to lead: fewer leaders first
				return cmp.Compare(load[a].leaders, load[b].leaders)
			}
			return cmp.Compare(load[b].leaders, load[a].leaders)
		})
		for _, i := range cand[:max(0, min(s.ReplicationFactor-len(set), len(cand)))] {
			set = append(set, load[i].id)
			load[i].replicas++
		}
		if len(set) == 0 {
			return nil, fmt.Errorf("%w: partition %s has no node but %s, and no other node is active",
				ErrNotEnoughNodes, p.ID, id)
		}
		if lead {
			best := 0
			for j := 1; j < len(set); j++ {
				if fewerLeaders(load, at, set[j], set[best]) {
					best = j
				}
			}
			leader := set[best]
			set = append([]string{leader}, slices.Delete(set, best, best+1)...)
			if i, ok := at[leader]; ok {
				load[i].leaders++
			}
		}
		out = append(out, ReassignPartition{Partition: p.ID, Replicas: set, Epoch: p.Epoch})
	}
	return out, nil
}

// fewerLeaders reports whether node a should lead rather than node b: it
// is active and b is not, or it has fewer preferred leaders, or as many
// and more replicas.
func fewerLeaders(load []nodeLoad, at map[string]int, a, b string) bool {
	i, aok := at[a]
	j, bok := at[b]
	if !aok || !bok {
		return aok && !bok
	}
	if load[i].leaders != load[j].leaders {
		return load[i].leaders < load[j].leaders
	}
	return load[i].replicas > load[j].replicas
}
