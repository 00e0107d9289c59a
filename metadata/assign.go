package metadata

import (
	"cmp"
	"slices"
)

// Replica assignment. CreateStream places each new partition's replica set
// on the active nodes, deterministically: from the command and the state
// only (no randomness, no clock), so every replica computes the same sets.
//
// Goal: across all streams, the number of replicas per active node and the
// number of preferred leaders (first replicas) per active node each stay
// within 1 of each other. The algorithm is greedy, one partition at a
// time, from the current load (replicas and preferred leaders per active
// node over every existing partition; replicas on other nodes are not
// counted):
//
//  1. Let m be the lowest replica count and c the number of nodes at m.
//     The replica set must take the nodes with the fewest replicas: all c
//     of them when c <= rf (plus rf-c others), else rf of them.
//  2. Leader: among the nodes allowed to be in the set (those at m when
//     c >= rf, all nodes otherwise), the one with the fewest preferred
//     leaders; ties go to the node with more replicas, then to tie order.
//  3. Followers: the other nodes by fewest replicas; ties go to the node
//     with more preferred leaders, then to tie order; the first rf-1.
//
// Tie order is the active nodes sorted by id and rotated: by (stream id +
// partition number) for the leader, so that equal nodes take turns; and
// for followers, to start a shift after the leader that moves on every k
// partitions (Kafka's replica shift), so that one node's partitions do not
// all have the same follower (and fail over to the same node).
//
// Why it balances: call X the nodes one replica above the minimum and L
// the nodes one preferred leader above the minimum. The rule keeps the
// counts within 1 and keeps X and L nested (one contains the other), and
// from any nested state every replication factor has a next step that
// keeps both. This was checked exhaustively while designing it (a search
// over every reachable state for 1..9 nodes, every replication factor and
// every tie order: none breaks the bound); assign_test.go checks it by
// simulation. The tie-breaks are what keep the sets nested: the leader
// goes where replicas are already high, followers where leaders are.
//
// Deleting streams, removing nodes and activating new ones can leave the
// load uneven; later streams then fill the least-loaded nodes first.
// Existing replicas move only by ReassignPartition; PlanRemoveNode
// (reassign.go) plans the moves off a removed node with the same load.

// nodeLoad counts what an active node hosts.
type nodeLoad struct {
	id       string
	replicas int
	leaders  int
}

// currentLoad returns the load of each active node, sorted by id.
func currentLoad(v *View) []nodeLoad {
	ids := v.activeNodeIDs()
	load := make([]nodeLoad, len(ids))
	at := make(map[string]int, len(ids))
	for i, id := range ids {
		load[i].id = id
		at[id] = i
	}
	for _, name := range v.names {
		for _, p := range v.streams[name].Partitions {
			for j, id := range p.Replicas {
				if i, ok := at[id]; ok {
					load[i].replicas++
					if j == 0 {
						load[i].leaders++
					}
				}
			}
		}
	}
	return load
}

// assign returns the replica sets of count new partitions of the stream
// with id streamID, rf replicas each, over load (the active nodes, sorted
// by id; at least rf of them). It updates load as it goes.
func assign(load []nodeLoad, streamID uint64, count, rf int) [][]string {
	k := len(load)
	sets := make([][]string, count)
	order := make([]int, k) // node indexes in tie order
	for p := range count {
		rot := int((streamID + uint64(p)) % uint64(k))
		for i := range order {
			order[i] = (rot + i) % k
		}
		m, c := load[0].replicas, 0
		for _, n := range load {
			m = min(m, n.replicas)
		}
		for _, n := range load {
			if n.replicas == m {
				c++
			}
		}

		leader := -1
		for _, i := range order {
			if c >= rf && load[i].replicas != m {
				continue
			}
			if leader < 0 || load[i].leaders < load[leader].leaders ||
				load[i].leaders == load[leader].leaders && load[i].replicas > load[leader].replicas {
				leader = i
			}
		}

		// Followers' tie order starts a shift after the leader, the shift
		// moving on each round of k partitions (as Kafka's replica shift),
		// so that a node's partitions do not all fail over to one node.
		shift := 1
		if k > 2 {
			shift += int((streamID + uint64(p/k)) % uint64(k-1))
		}
		followers := make([]int, 0, k-1)
		for j := range k {
			if i := (leader + shift + j) % k; i != leader {
				followers = append(followers, i)
			}
		}
		// A stable sort keeps tie order among equal nodes.
		slices.SortStableFunc(followers, func(a, b int) int {
			if d := cmp.Compare(load[a].replicas, load[b].replicas); d != 0 {
				return d
			}
			return cmp.Compare(load[b].leaders, load[a].leaders)
		})

		set := make([]string, 0, rf)
		set = append(set, load[leader].id)
		load[leader].leaders++
		load[leader].replicas++
		for _, i := range followers[:rf-1] {
			set = append(set, load[i].id)
			load[i].replicas++
		}
		sets[p] = set
	}
	return sets
}
