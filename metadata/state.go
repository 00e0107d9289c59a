package metadata

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/consumergroup"
)

// NodeState is where a node is in its life in the cluster. It only moves
// forward: joining -> active -> removed.
type NodeState uint8

// Node states. On-disk values (commands and snapshots); never change.
const (
	// NodeJoining is a registered node that does not take replicas yet
	// (it is catching up, or not yet a voter of the metadata group).
	NodeJoining NodeState = 1
	// NodeActive is a node that CreateStream assigns replicas to.
	NodeActive NodeState = 2
	// NodeRemoved is a node that left the cluster. Its id is never reused.
	NodeRemoved NodeState = 3
)

func (s NodeState) String() string {
	switch s {
	case NodeJoining:
		return "joining"
	case NodeActive:
		return "active"
	case NodeRemoved:
		return "removed"
	}
	return "NodeState(" + strconv.Itoa(int(s)) + ")"
}

func (s NodeState) valid() bool { return s >= NodeJoining && s <= NodeRemoved }

// Node is a registered node. Values reached from a View are shared and
// must not be modified.
type Node struct {
	ID           string
	RaftAddr     string // host:port of the node's raft mux
	ClientAddr   string // host:port of the node's client API
	State        NodeState
	RegisteredAt int64 // leader Unix ms of the first registration
}

// Stream is a stream (a Kafka topic). Values reached from a View, the
// Partitions slice included, are shared and must not be modified.
type Stream struct {
	// ID is assigned at creation from a counter and never reused, so that a
	// stream deleted and created again under the same name gets new
	// partition (raft group) ids.
	ID                uint64
	Name              string
	ReplicationFactor int
	RetentionMs       int64 // by age of the newest record; Unlimited = -1
	RetentionBytes    int64 // by partition size; Unlimited = -1
	MaxRecordBytes    int32
	CreatedAt         int64 // leader Unix ms of the CreateStream
	// Partitions, indexed by partition number. Invariant: their hash-key
	// ranges are contiguous, in order, and cover the whole 128-bit space.
	Partitions []Partition
}

// Partition is one partition of a stream (a Kinesis shard) and the raft
// group that replicates it.
type Partition struct {
	// ID is the partition's raft group id, PartitionID(stream ID, Index).
	ID     string
	Stream string // the stream's name
	Index  int    // the partition number within its stream, from 0
	// HashKeyStart and HashKeyEnd bound the partition's range of the MD5
	// hash-key space, both inclusive, as 128-bit big-endian integers.
	HashKeyStart, HashKeyEnd [16]byte
	// Replicas are the node ids of the replica set, distinct; the first is
	// the preferred leader. CreateStream assigns ReplicationFactor of them;
	// ReassignPartition may set any number from 1 to MaxReplicationFactor.
	Replicas []string
	// Epoch counts the ReassignPartition commands that changed Replicas.
	// At 0 the set is the one CreateStream assigned: each of its nodes
	// bootstraps the partition's raft group with it. A set that a
	// reassignment made is never bootstrapped: its new nodes open empty and
	// wait for the group's leader to add them.
	Epoch uint32
}

// PartitionID is the raft group id of partition index of the stream with
// the given ID: "s<stream id>-p<index>", both decimal, e.g. "s7-p0". It
// cannot collide across streams (the stream id is unique and never reused,
// even by a stream created again under a deleted one's name), is at most
// 26 bytes, and is safe as a file name.
func PartitionID(streamID uint64, index int) string {
	b := make([]byte, 0, 26)
	b = append(b, 's')
	b = strconv.AppendUint(b, streamID, 10)
	b = append(b, '-', 'p')
	b = strconv.AppendInt(b, int64(index), 10)
	return string(b)
}

// parsePartitionID is the inverse of PartitionID. It accepts only the
// canonical form.
func parsePartitionID(id string) (streamID uint64, index int, ok bool) {
	rest, found := strings.CutPrefix(id, "s")
	if !found {
		return 0, 0, false
	}
	sid, idx, found := strings.Cut(rest, "-p")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(sid, 10, 64)
	i, err2 := strconv.Atoi(idx)
	if err1 != nil || err2 != nil || i < 0 || PartitionID(s, i) != id {
		return 0, 0, false
	}
	return s, i, true
}

// View is an immutable, consistent copy of the metadata state at one raft
// index. The FSM publishes a new View after every command that changes
// something, sharing the unchanged parts with the previous one; a View
// once published never changes, so any number of goroutines may read it
// without locks. Everything a View returns is shared: callers must not
// modify it (a consumer group's state is changed on a Clone).
type View struct {
	version        uint64 // raft index of the last change
	nextProducerID int64
	nextStreamID   uint64

	nodes   map[string]*Node
	nodeIDs []string // sorted; the keys of nodes
	streams map[string]*Stream
	names   []string // sorted; the keys of streams
	byID    map[uint64]*Stream

	// nextGroupIncarnation is the Incarnation the next PutGroup that
	// creates a group gives it. Invariant: it only grows, and is above the
	// Incarnation of every group.
	nextGroupIncarnation uint64
	groups               map[string]*consumergroup.GroupState
	groupNames           []string // sorted; the keys of groups

	// nextQueueIncarnation is the Incarnation the next CreateQueue gives
	// its queue. Invariant: it only grows, and is above the Incarnation of
	// every queue.
	nextQueueIncarnation uint64
	queues               map[string]*Queue
	queueNames           []string // sorted; the keys of queues
}

func emptyView() *View {
	return &View{
		nextStreamID: 1,
		nodes:        map[string]*Node{},
		streams:      map[string]*Stream{},
		byID:         map[uint64]*Stream{},

		nextGroupIncarnation: 1,
		groups:               map[string]*consumergroup.GroupState{},

		nextQueueIncarnation: 1,
		queues:               map[string]*Queue{},
	}
}

// Version returns the raft index of the last command that changed the
// state (0 for the empty state).
func (v *View) Version() uint64 { return v.version }

// NextProducerID returns the first producer id the next
// AllocateProducerIDs hands out.
func (v *View) NextProducerID() int64 { return v.nextProducerID }

// Nodes returns every registered node, removed ones included, sorted by
// id. The slice is the caller's; the nodes are shared.
func (v *View) Nodes() []*Node {
	out := make([]*Node, len(v.nodeIDs))
	for i, id := range v.nodeIDs {
		out[i] = v.nodes[id]
	}
	return out
}

// Node returns the node with the given id, or nil.
func (v *View) Node(id string) *Node { return v.nodes[id] }

// activeNodeIDs returns the ids of the active nodes, sorted.
func (v *View) activeNodeIDs() []string {
	var out []string
	for _, id := range v.nodeIDs {
		if v.nodes[id].State == NodeActive {
			out = append(out, id)
		}
	}
	return out
}

// Streams returns every stream, sorted by name. The slice is the caller's;
// the streams are shared.
func (v *View) Streams() []*Stream {
	out := make([]*Stream, len(v.names))
	for i, name := range v.names {
		out[i] = v.streams[name]
	}
	return out
}

// Stream returns the stream with the given name, or nil.
func (v *View) Stream(name string) *Stream { return v.streams[name] }

// Partition returns the partition whose raft group id is id, or nil.
func (v *View) Partition(id string) *Partition {
	sid, idx, ok := parsePartitionID(id)
	if !ok {
		return nil
	}
	s := v.byID[sid]
	if s == nil || idx >= len(s.Partitions) {
		return nil
	}
	return &s.Partitions[idx]
}

// PartitionsOnNode returns the partitions whose replica set names nodeID,
// sorted by stream name and partition number. The slice is the caller's;
// the partitions are shared. A node's replicas are kept when it is
// removed, so that the caller can see what to move.
func (v *View) PartitionsOnNode(nodeID string) []*Partition {
	var out []*Partition
	for _, name := range v.names {
		s := v.streams[name]
		for i := range s.Partitions {
			if slices.Contains(s.Partitions[i].Replicas, nodeID) {
				out = append(out, &s.Partitions[i])
			}
		}
	}
	return out
}

// Group returns the consumer group with the given name. The state is
// shared and must not be modified: call Clone to change a copy.
func (v *View) Group(name string) (*consumergroup.GroupState, bool) {
	g, ok := v.groups[name]
	return g, ok
}

// Groups returns every consumer group, sorted by name. The slice is the
// caller's; the states are shared and must not be modified (Clone them).
func (v *View) Groups() []*consumergroup.GroupState {
	out := make([]*consumergroup.GroupState, len(v.groupNames))
	for i, name := range v.groupNames {
		out[i] = v.groups[name]
	}
	return out
}

// The with* methods return a copy of v with one change, sharing everything
// else with v (path copying): only the maps and sorted slices they touch
// are copied.

func (v *View) withNode(n *Node) *View {
	nv := *v
	nv.nodes = maps.Clone(v.nodes)
	if _, ok := v.nodes[n.ID]; !ok {
		nv.nodeIDs = insertSorted(v.nodeIDs, n.ID)
	}
	nv.nodes[n.ID] = n
	return &nv
}

func (v *View) withStream(s *Stream) *View {
	nv := *v
	nv.streams = maps.Clone(v.streams)
	nv.byID = maps.Clone(v.byID)
	if old, ok := v.streams[s.Name]; ok {
		delete(nv.byID, old.ID)
	} else {
		nv.names = insertSorted(v.names, s.Name)
	}
	nv.streams[s.Name] = s
	nv.byID[s.ID] = s
	return &nv
}

func (v *View) withoutStream(name string) *View {
	old, ok := v.streams[name]
	if !ok {
		return v
	}
	nv := *v
	nv.streams = maps.Clone(v.streams)
	nv.byID = maps.Clone(v.byID)
	delete(nv.streams, name)
	delete(nv.byID, old.ID)
	i, _ := slices.BinarySearch(v.names, name)
	nv.names = slices.Delete(slices.Clone(v.names), i, i+1)
	return &nv
}

func (v *View) withGroup(g *consumergroup.GroupState) *View {
	nv := *v
	nv.groups = maps.Clone(v.groups)
	if _, ok := v.groups[g.Name]; !ok {
		nv.groupNames = insertSorted(v.groupNames, g.Name)
	}
	nv.groups[g.Name] = g
	return &nv
}

func (v *View) withoutGroup(name string) *View {
	if _, ok := v.groups[name]; !ok {
		return v
	}
	nv := *v
	nv.groups = maps.Clone(v.groups)
	delete(nv.groups, name)
	i, _ := slices.BinarySearch(v.groupNames, name)
	nv.groupNames = slices.Delete(slices.Clone(v.groupNames), i, i+1)
	return &nv
}

// insertSorted returns a new sorted slice with s added to the sorted ids.
func insertSorted(ids []string, s string) []string {
	i, _ := slices.BinarySearch(ids, s)
	out := make([]string, 0, len(ids)+1)
	out = append(out, ids[:i]...)
	out = append(out, s)
	return append(out, ids[i:]...)
}
