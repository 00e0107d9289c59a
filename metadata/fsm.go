package metadata

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluicedb/sluice/replication"
)

// FSM is the metadata state machine that the metadata raft group runs on
// every voter. Apply, Snapshot and Restore are called by the group from
// one goroutine at a time (raft's FSM goroutine, or StartGroup before raft
// runs); View may be called from any goroutine at any time.
type FSM struct {
	// view is the current state. Apply and Restore replace it with a new
	// immutable View; readers load it without locks.
	view atomic.Pointer[View]
	// applied is the raft index of the last entry applied, changed or not.
	// Invariant: applied >= view.Load().version.
	applied atomic.Uint64

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced at every change; Protected by notifyMu
}

var _ replication.StateMachine = (*FSM)(nil)

// NewFSM returns a state machine with an empty state.
func NewFSM() *FSM {
	f := &FSM{notify: make(chan struct{})}
	f.view.Store(emptyView())
	return f
}

// View returns the current state. It never blocks; the View is immutable
// and stays valid (unchanged) after later commands.
func (f *FSM) View() *View { return f.view.Load() }

// AppliedIndex returns the raft index of the last entry applied. The
// replication group uses it on start to restore the newest local snapshot:
// the state lives only in memory and in snapshots, so after a restart the
// state machine loads the snapshot and raft replays the entries after it.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Apply applies one committed command (replication.StateMachine). It is
// deterministic: it reads only the command and the state, iterates in
// sorted order, and takes time from the command.
//
// The response is a *Node (RegisterNode, RemoveNode), a *Stream
// (CreateStream, AlterStream, and DeleteStream: the deleted stream), a
// ProducerIDBlock (AllocateProducerIDs), a *Partition (ReassignPartition),
// a *consumergroup.GroupState (PutGroup: the stored state; DeleteGroup:
// the deleted one; shared, not to be modified), a *Queue (CreateQueue,
// AlterQueue, and DeleteQueue: the deleted queue), or one of the errors
// of errors.go when the command is refused; a refused command changes
// nothing. An entry at or below the applied index (a replay) is skipped
// with a nil response.
// A command that does not decode returns a *replication.FatalError
// wrapping ErrCorrupt: the replica stops rather than skip it.
func (f *FSM) Apply(e replication.Entry) any {
	if e.Index <= f.applied.Load() {
		return nil
	}
	cmd, err := decodeCommand(e.Data)
	if err != nil {
		return replication.Fatal(fmt.Errorf("metadata: raft entry %d: %w", e.Index, err))
	}
	v := f.view.Load()
	var nv *View
	var resp any
	switch c := cmd.(type) {
	case RegisterNode:
		nv, resp = v.applyRegisterNode(c)
	case RemoveNode:
		nv, resp = v.applyRemoveNode(c)
	case CreateStream:
		nv, resp = v.applyCreateStream(c)
	case DeleteStream:
		nv, resp = v.applyDeleteStream(c)
	case AlterStream:
		nv, resp = v.applyAlterStream(c)
	case AllocateProducerIDs:
		nv, resp = v.applyAllocateProducerIDs(c)
	case ReassignPartition:
		nv, resp = v.applyReassignPartition(c)
	case PutGroup:
		nv, resp = v.applyPutGroup(c, e.Index)
	case DeleteGroup:
		nv, resp = v.applyDeleteGroup(c)
	case CreateQueue:
		nv, resp = v.applyCreateQueue(c)
	case AlterQueue:
		nv, resp = v.applyAlterQueue(c)
	case DeleteQueue:
		nv, resp = v.applyDeleteQueue(c)
	}
	if nv != nil && nv != v {
		nv.version = e.Index
		f.publish(nv)
	}
	f.applied.Store(e.Index)
	return resp
}

// The apply methods return the new view (nil or v itself when nothing
// changed) and the response. They never modify v.

func (v *View) applyRegisterNode(c RegisterNode) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.nodes[c.ID]
	if old != nil && old.State == NodeRemoved {
		return nil, fmt.Errorf("%w: %s", ErrNodeRemoved, c.ID)
	}
	for _, id := range v.nodeIDs {
		n := v.nodes[id]
		if id == c.ID || n.State == NodeRemoved {
			continue
		}
		if n.RaftAddr == c.RaftAddr {
			return nil, invalid("raft address", "%s is node %s's", c.RaftAddr, id)
		}
		if n.ClientAddr == c.ClientAddr {
			return nil, invalid("client address", "%s is node %s's", c.ClientAddr, id)
		}
	}
	n := &Node{ID: c.ID, RaftAddr: c.RaftAddr, ClientAddr: c.ClientAddr, State: c.State, RegisteredAt: c.Timestamp}
	if old != nil {
		n.State = max(old.State, c.State)
		n.RegisteredAt = old.RegisteredAt
		if *n == *old {
			return nil, old
		}
	}
	return v.withNode(n), n
}

func (v *View) applyRemoveNode(c RemoveNode) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.nodes[c.ID]
	if old == nil {
		return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, c.ID)
	}
	if old.State == NodeRemoved {
		return nil, old
	}
	n := *old
	n.State = NodeRemoved
	return v.withNode(&n), &n
}

func (v *View) applyCreateStream(c CreateStream) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if v.streams[c.Name] != nil {
		return nil, fmt.Errorf("%w: %s", ErrStreamExists, c.Name)
	}
	load := currentLoad(v)
	if c.ReplicationFactor > len(load) {
		return nil, fmt.Errorf("%w: replication factor %d, %d active nodes", ErrNotEnoughNodes, c.ReplicationFactor, len(load))
	}
	s := &Stream{
		ID:                v.nextStreamID,
		Name:              c.Name,
		ReplicationFactor: c.ReplicationFactor,
		RetentionMs:       c.RetentionMs,
		RetentionBytes:    c.RetentionBytes,
		MaxRecordBytes:    c.MaxRecordBytes,
		CreatedAt:         c.Timestamp,
		Partitions:        make([]Partition, c.Partitions),
	}
	sets := assign(load, s.ID, c.Partitions, c.ReplicationFactor)
	starts, ends := hashKeyRanges(c.Partitions)
	for i := range s.Partitions {
		s.Partitions[i] = Partition{
			ID: PartitionID(s.ID, i), Stream: s.Name, Index: i,
			HashKeyStart: starts[i], HashKeyEnd: ends[i], Replicas: sets[i],
		}
	}
	nv := v.withStream(s)
	nv.nextStreamID++
	return nv, s
}

func (v *View) applyDeleteStream(c DeleteStream) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := v.streams[c.Name]
	if s == nil {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, c.Name)
	}
	// A queue's stream and dead-letter stream exist as long as it does.
	if names := v.queuesUsing(c.Name); len(names) > 0 {
		return nil, &StreamInUseError{Stream: c.Name, Queues: names}
	}
	return v.withoutStream(c.Name), s
}

func (v *View) applyAlterStream(c AlterStream) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.streams[c.Name]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, c.Name)
	}
	s := *old // shares the immutable Partitions
	if c.RetentionMs != 0 {
		s.RetentionMs = c.RetentionMs
	}
	if c.RetentionBytes != 0 {
		s.RetentionBytes = c.RetentionBytes
	}
	if c.MaxRecordBytes != 0 {
		s.MaxRecordBytes = c.MaxRecordBytes
	}
	if s.RetentionMs == old.RetentionMs && s.RetentionBytes == old.RetentionBytes && s.MaxRecordBytes == old.MaxRecordBytes {
		return nil, old
	}
	return v.withStream(&s), &s
}

func (v *View) applyAllocateProducerIDs(c AllocateProducerIDs) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if !producerIDsLeft(v.nextProducerID, c.Count) {
		return nil, fmt.Errorf("%w: next %d, %d wanted", ErrProducerIDsExhausted, v.nextProducerID, c.Count)
	}
	nv := *v
	nv.nextProducerID += c.Count
	return &nv, ProducerIDBlock{First: v.nextProducerID, Count: c.Count}
}

func (v *View) applyReassignPartition(c ReassignPartition) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	p := v.Partition(c.Partition)
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrPartitionNotFound, c.Partition)
	}
	if slices.Equal(p.Replicas, c.Replicas) {
		return nil, p
	}
	if c.Epoch != p.Epoch {
		return nil, fmt.Errorf("%w: partition %s is at epoch %d, the request was built at %d",
			ErrReplicasChanged, p.ID, p.Epoch, c.Epoch)
	}
	for _, id := range c.Replicas {
		n := v.nodes[id]
		if n == nil {
			return nil, fmt.Errorf("%w: %s", ErrNodeNotFound, id)
		}
		if n.State != NodeActive {
			return nil, fmt.Errorf("%w: %s is %v", ErrNodeNotActive, id, n.State)
		}
	}
	if p.Epoch == math.MaxUint32 {
		return nil, invalid("epoch", "partition %s was reassigned %d times", p.ID, p.Epoch)
	}
	s := *v.streams[p.Stream]
	s.Partitions = slices.Clone(s.Partitions) // the old View keeps the old slice
	np := &s.Partitions[p.Index]
	// Node ids are interned: the set shares the registry's strings.
	np.Replicas = make([]string, len(c.Replicas))
	for i, id := range c.Replicas {
		np.Replicas[i] = v.nodes[id].ID
	}
	np.Epoch++
	return v.withStream(&s), np
}

// applyPutGroup stores c.State as the group's state at raft index index.
// c was decoded from the entry: nothing else holds its slices, so the View
// keeps them.
func (v *View) applyPutGroup(c PutGroup, index uint64) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	g := c.State
	old := v.groups[g.Name]
	switch {
	case c.ExpectVersion == 0 && old != nil:
		return nil, fmt.Errorf("%w: %q (incarnation %d, version %d)", ErrGroupExists, g.Name, old.Incarnation, old.Version)
	case c.ExpectVersion == 0:
		if v.nextGroupIncarnation == math.MaxUint64 {
			return nil, invalid("incarnation", "group incarnations exhausted")
		}
		g.Incarnation = v.nextGroupIncarnation
		g.CreatedAt = c.Timestamp
	case old == nil:
		return nil, fmt.Errorf("%w: %q", ErrUnknownGroup, g.Name)
	case old.Version != c.ExpectVersion || old.Incarnation != g.Incarnation:
		return nil, &GroupVersionConflictError{Group: g.Name, Want: c.ExpectVersion, Got: old.Version,
			WantIncarnation: g.Incarnation, GotIncarnation: old.Incarnation}
	case g.Generation < old.Generation:
		return nil, invalid("generation", "group %q: %d is below the stored %d", g.Name, g.Generation, old.Generation)
	default:
		g.CreatedAt = old.CreatedAt
	}
	g.Version = index
	g.UpdatedAt = c.Timestamp
	nv := v.withGroup(&g)
	if old == nil {
		nv.nextGroupIncarnation++
	}
	return nv, &g
}

func (v *View) applyDeleteGroup(c DeleteGroup) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.groups[c.Name]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownGroup, c.Name)
	}
	if c.Incarnation != 0 && c.Incarnation != old.Incarnation {
		return nil, fmt.Errorf("%w: %q of incarnation %d (the group is incarnation %d)",
			ErrUnknownGroup, c.Name, c.Incarnation, old.Incarnation)
	}
	return v.withoutGroup(c.Name), old
}

// Changed returns a channel that is closed at the next change of the View
// (a broadcast: every caller waiting on it wakes). Load the View after it
// closes, and call Changed again before loading to not miss a change.
func (f *FSM) Changed() <-chan struct{} {
	f.notifyMu.Lock()
	defer f.notifyMu.Unlock()
	return f.notify
}

// publish makes v the View and wakes the waiters of Changed.
func (f *FSM) publish(v *View) {
	f.view.Store(v)
	f.notifyMu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.notifyMu.Unlock()
}
