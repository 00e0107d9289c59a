package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/sluicedb/sluice/replication"
)

// A metadata snapshot is the whole state, as raft stores it and streams it
// to replicas that are far behind or new. The layout is drawn in doc.go
// ("Formats"). On-disk and on-wire format; never change.
const (
	snapshotMagic = "SLMD"
	// snapshotVersion is the layout encodeSnapshot writes. Version 3 (no
	// queues), version 2 (neither queues nor consumer groups) and version
	// 1 (nor partition epochs; every replica set of replication factor
	// many nodes) are still read.
	snapshotVersion   = 4
	snapshotVersionV3 = 3
	snapshotVersionV2 = 2
	snapshotVersionV1 = 1

	// MaxSnapshotBytes bounds a snapshot Restore reads.
	MaxSnapshotBytes = 256 << 20

	snapshotHeaderSize = len(snapshotMagic) + 1 + 4*8
	minNodeSize        = 2 + 2 + 2 + 1 + 8
	minStreamSize      = 8 + 2 + 1 + 8 + 8 + 4 + 8 + 4
	minPartitionSizeV1 = 16 + 16 + 1
	minPartitionSize   = 16 + 16 + 4 + 1
	crcSize            = 4
	// minGroupSize is the smallest consumergroup encoding of a group:
	// version, name length, incarnation, version, generation, strategy
	// length, created at, updated at, member count.
	minGroupSize = 1 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 4
	// minQueueSize: name, stream, dead-letter stream, visibility timeout,
	// max receives, delay, flags, filter, incarnation, created at.
	minQueueSize = 2 + 2 + 2 + 8 + 4 + 8 + 1 + 2 + 8 + 8
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot encodes v, applied up to applied. It fails only if a
// consumer group's state cannot be encoded (GroupState.AppendBinary),
// which no decoded or applied state is.
func encodeSnapshot(v *View, applied uint64) ([]byte, error) {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = be.AppendUint64(b, applied)
	b = be.AppendUint64(b, v.version)
	b = be.AppendUint64(b, uint64(v.nextProducerID))
	b = be.AppendUint64(b, v.nextStreamID)
	b = be.AppendUint32(b, uint32(len(v.nodeIDs)))
	for _, id := range v.nodeIDs {
		n := v.nodes[id]
		b = appendStr(b, n.ID)
		b = appendStr(b, n.RaftAddr)
		b = appendStr(b, n.ClientAddr)
		b = append(b, byte(n.State))
		b = be.AppendUint64(b, uint64(n.RegisteredAt))
	}
	b = be.AppendUint32(b, uint32(len(v.names)))
	for _, name := range v.names {
		s := v.streams[name]
		b = be.AppendUint64(b, s.ID)
		b = appendStr(b, s.Name)
		b = append(b, byte(s.ReplicationFactor))
		b = be.AppendUint64(b, uint64(s.RetentionMs))
		b = be.AppendUint64(b, uint64(s.RetentionBytes))
		b = be.AppendUint32(b, uint32(s.MaxRecordBytes))
		b = be.AppendUint64(b, uint64(s.CreatedAt))
		b = be.AppendUint32(b, uint32(len(s.Partitions)))
		for _, p := range s.Partitions {
			b = append(b, p.HashKeyStart[:]...)
			b = append(b, p.HashKeyEnd[:]...)
			b = be.AppendUint32(b, p.Epoch)
			b = append(b, byte(len(p.Replicas)))
			for _, r := range p.Replicas {
				b = appendStr(b, r)
			}
		}
	}
	b = be.AppendUint64(b, v.nextGroupIncarnation)
	b = be.AppendUint32(b, uint32(len(v.groupNames)))
	for _, name := range v.groupNames {
		var err error
		if b, err = v.groups[name].AppendBinary(b); err != nil {
			return nil, fmt.Errorf("metadata: snapshot of consumer group %q: %w", name, err)
		}
	}
	b = be.AppendUint64(b, v.nextQueueIncarnation)
	b = be.AppendUint32(b, uint32(len(v.queueNames)))
	for _, name := range v.queueNames {
		q := v.queues[name]
		b = appendStr(b, q.Name)
		b = appendStr(b, q.Stream)
		b = appendStr(b, q.DeadLetterStream)
		b = be.AppendUint64(b, uint64(q.VisibilityTimeoutMs))
		b = be.AppendUint32(b, uint32(q.MaxReceives))
		b = be.AppendUint64(b, uint64(q.DelayMs))
		b = append(b, queueFlagsOf(q.FIFO, q.Subscription, q.Cursor))
		b = appendStr(b, q.Filter)
		b = be.AppendUint64(b, q.Incarnation)
		b = be.AppendUint64(b, uint64(q.CreatedAt))
	}
	return be.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// decodeSnapshot decodes and checks a snapshot. Errors wrap ErrCorrupt.
func decodeSnapshot(b []byte) (v *View, applied uint64, err error) {
	if len(b) < snapshotHeaderSize+crcSize {
		return nil, 0, corrupt("snapshot of %d bytes", len(b))
	}
	body := b[:len(b)-crcSize]
	if got, want := crc32.Checksum(body, crcTable), be.Uint32(b[len(body):]); got != want {
		return nil, 0, corrupt("snapshot checksum %#08x, want %#08x", got, want)
	}
	version := body[len(snapshotMagic)]
	if string(body[:len(snapshotMagic)]) != snapshotMagic || (version < snapshotVersionV1 || version > snapshotVersion) {
		return nil, 0, corrupt("snapshot magic %q version %d", body[:len(snapshotMagic)], version)
	}
	r := reader{b: body[len(snapshotMagic)+1:], off: len(snapshotMagic) + 1}
	v = emptyView()
	applied = r.u64("applied index")
	v.version = r.u64("state version")
	v.nextProducerID = r.i64("next producer id")
	v.nextStreamID = r.u64("next stream id")
	if r.err == nil && (v.version > applied || v.nextProducerID < 0 || v.nextStreamID < 1) {
		return nil, 0, corrupt("snapshot header: applied %d, version %d, next producer id %d, next stream id %d",
			applied, v.version, v.nextProducerID, v.nextStreamID)
	}
	if err := decodeNodes(&r, v); err != nil {
		return nil, 0, err
	}
	if err := decodeStreams(&r, v, version); err != nil {
		return nil, 0, err
	}
	if version >= snapshotVersionV3 {
		if err := decodeGroups(&r, v); err != nil {
			return nil, 0, err
		}
	}
	if version >= snapshotVersion {
		if err := decodeQueues(&r, v); err != nil {
			return nil, 0, err
		}
	}
	if err := r.finish("snapshot"); err != nil {
		return nil, 0, err
	}
	return v, applied, nil
}

func decodeNodes(r *reader, v *View) error {
	n := r.count("node count", minNodeSize)
	v.nodeIDs = make([]string, 0, n)
	for range n {
		nd := &Node{ID: r.str("node id"), RaftAddr: r.str("raft address"), ClientAddr: r.str("client address"),
			State: NodeState(r.u8("node state")), RegisteredAt: r.i64("registered at")}
		if r.err != nil {
			return r.err
		}
		if err := errors.Join(validName("node id", nd.ID, MaxNodeIDLen), validAddr("raft address", nd.RaftAddr),
			validAddr("client address", nd.ClientAddr)); err != nil {
			return corrupt("snapshot node %q: %v", nd.ID, err)
		}
		if !nd.State.valid() {
			return corrupt("snapshot node %q: state %d", nd.ID, nd.State)
		}
		if k := len(v.nodeIDs); k > 0 && v.nodeIDs[k-1] >= nd.ID {
			return corrupt("snapshot node %q after %q", nd.ID, v.nodeIDs[k-1])
		}
		v.nodeIDs = append(v.nodeIDs, nd.ID)
		v.nodes[nd.ID] = nd
	}
	return r.err
}

func decodeStreams(r *reader, v *View, version byte) error {
	minPart := minPartitionSize
	if version == snapshotVersionV1 {
		minPart = minPartitionSizeV1
	}
	n := r.count("stream count", minStreamSize)
	v.names = make([]string, 0, n)
	for range n {
		s := &Stream{ID: r.u64("stream id"), Name: r.str("stream name"), ReplicationFactor: int(r.u8("replication factor")),
			RetentionMs: r.i64("retention ms"), RetentionBytes: r.i64("retention bytes"),
			MaxRecordBytes: r.i32("max record bytes"), CreatedAt: r.i64("created at")}
		count := r.count("partition count", minPart)
		if r.err != nil {
			return r.err
		}
		if err := (CreateStream{Name: s.Name, Partitions: count, ReplicationFactor: s.ReplicationFactor,
			RetentionMs: s.RetentionMs, RetentionBytes: s.RetentionBytes, MaxRecordBytes: s.MaxRecordBytes,
			Timestamp: s.CreatedAt}).validate(); err != nil {
			return corrupt("snapshot stream %q: %v", s.Name, err)
		}
		if s.ID == 0 || s.ID >= v.nextStreamID || v.byID[s.ID] != nil {
			return corrupt("snapshot stream %q: id %d (next %d) not unique or out of range", s.Name, s.ID, v.nextStreamID)
		}
		if k := len(v.names); k > 0 && v.names[k-1] >= s.Name {
			return corrupt("snapshot stream %q after %q", s.Name, v.names[k-1])
		}
		s.Partitions = make([]Partition, count)
		for i := range s.Partitions {
			if err := decodePartition(r, v, s, i, version); err != nil {
				return err
			}
		}
		v.names = append(v.names, s.Name)
		v.streams[s.Name] = s
		v.byID[s.ID] = s
	}
	return r.err
}

func decodePartition(r *reader, v *View, s *Stream, i int, version byte) error {
	p := Partition{ID: PartitionID(s.ID, i), Stream: s.Name, Index: i,
		HashKeyStart: r.key("hash key start"), HashKeyEnd: r.key("hash key end")}
	if version != snapshotVersionV1 {
		p.Epoch = r.u32("epoch")
	}
	nr := int(r.u8("replica count"))
	if r.err != nil {
		return r.err
	}
	// Contiguous from 0 to MaxHashKey: each starts one after the previous
	// end, and each is non-empty.
	want := [16]byte{}
	if i > 0 {
		want = s.Partitions[i-1].HashKeyEnd
		if !increment(&want) {
			return corrupt("snapshot partition %s: a range after the end of the space", p.ID)
		}
	}
	last := i == len(s.Partitions)-1
	if p.HashKeyStart != want || bytes.Compare(p.HashKeyStart[:], p.HashKeyEnd[:]) > 0 || last && p.HashKeyEnd != MaxHashKey {
		return corrupt("snapshot partition %s: hash key range is not contiguous", p.ID)
	}
	// The set CreateStream assigned (epoch 0) has replication factor many
	// nodes; a reassigned one 1..MaxReplicationFactor.
	if p.Epoch == 0 && nr != s.ReplicationFactor || nr < 1 || nr > MaxReplicationFactor {
		return corrupt("snapshot partition %s: %d replicas at epoch %d, replication factor %d",
			p.ID, nr, p.Epoch, s.ReplicationFactor)
	}
	p.Replicas = make([]string, 0, nr)
	for range nr {
		// Node ids are interned: the lookup does not allocate.
		n := v.nodes[string(r.take(int(r.u16("replica")), "replica"))]
		if r.err != nil {
			return r.err
		}
		if n == nil {
			return corrupt("snapshot partition %s: replica is not a registered node", p.ID)
		}
		for _, id := range p.Replicas {
			if id == n.ID {
				return corrupt("snapshot partition %s: node %s twice in the replica set", p.ID, id)
			}
		}
		p.Replicas = append(p.Replicas, n.ID)
	}
	s.Partitions[i] = p
	return nil
}

func decodeGroups(r *reader, v *View) error {
	v.nextGroupIncarnation = r.u64("next group incarnation")
	n := r.count("group count", minGroupSize)
	if r.err != nil {
		return r.err
	}
	if v.nextGroupIncarnation < 1 {
		return corrupt("snapshot: next group incarnation 0")
	}
	v.groupNames = make([]string, 0, n)
	incarnations := make(map[uint64]bool, n)
	for range n {
		g := r.groupState("snapshot consumer group")
		if r.err != nil {
			return r.err
		}
		if k := len(v.groupNames); k > 0 && v.groupNames[k-1] >= g.Name {
			return corrupt("snapshot consumer group %q after %q", g.Name, v.groupNames[k-1])
		}
		// Each create takes the next incarnation, and an update keeps it.
		if g.Incarnation == 0 || g.Incarnation >= v.nextGroupIncarnation || incarnations[g.Incarnation] {
			return corrupt("snapshot consumer group %q: incarnation %d (next %d) not unique or out of range",
				g.Name, g.Incarnation, v.nextGroupIncarnation)
		}
		if g.Version == 0 || g.Version > v.version || g.CreatedAt < 0 || g.UpdatedAt < 0 {
			return corrupt("snapshot consumer group %q: version %d (state version %d), created at %d, updated at %d",
				g.Name, g.Version, v.version, g.CreatedAt, g.UpdatedAt)
		}
		incarnations[g.Incarnation] = true
		v.groupNames = append(v.groupNames, g.Name)
		v.groups[g.Name] = g
	}
	return nil
}

func decodeQueues(r *reader, v *View) error {
	v.nextQueueIncarnation = r.u64("next queue incarnation")
	n := r.count("queue count", minQueueSize)
	if r.err != nil {
		return r.err
	}
	if v.nextQueueIncarnation < 1 {
		return corrupt("snapshot: next queue incarnation 0")
	}
	v.queueNames = make([]string, 0, n)
	incarnations := make(map[uint64]bool, n)
	for range n {
		q := &Queue{Name: r.str("queue name"), Stream: r.str("queue stream"), DeadLetterStream: r.str("dead-letter stream"),
			VisibilityTimeoutMs: r.i64("visibility timeout ms"), MaxReceives: r.i32("max receives"), DelayMs: r.i64("delay ms")}
		q.FIFO, q.Subscription, q.Cursor = r.queueFlags("queue flags")
		q.Filter = r.str("filter")
		q.Incarnation = r.u64("queue incarnation")
		q.CreatedAt = r.i64("created at")
		if r.err != nil {
			return r.err
		}
		// The filter is checked for framing only: its grammar is
		// consumergroup's, and may tighten later.
		if err := (CreateQueue{Name: q.Name, Stream: q.Stream, VisibilityTimeoutMs: q.VisibilityTimeoutMs,
			MaxReceives: q.MaxReceives, DeadLetterStream: q.DeadLetterStream, DelayMs: q.DelayMs,
			Timestamp: q.CreatedAt}).validate(); err != nil {
			return corrupt("snapshot queue %q: %v", q.Name, err)
		}
		if k := len(v.queueNames); k > 0 && v.queueNames[k-1] >= q.Name {
			return corrupt("snapshot queue %q after %q", q.Name, v.queueNames[k-1])
		}
		if v.streams[q.Stream] == nil || q.DeadLetterStream != "" && v.streams[q.DeadLetterStream] == nil {
			return corrupt("snapshot queue %q: stream %q or dead-letter stream %q does not exist",
				q.Name, q.Stream, q.DeadLetterStream)
		}
		// Each create takes the next incarnation.
		if q.Incarnation == 0 || q.Incarnation >= v.nextQueueIncarnation || incarnations[q.Incarnation] {
			return corrupt("snapshot queue %q: incarnation %d (next %d) not unique or out of range",
				q.Name, q.Incarnation, v.nextQueueIncarnation)
		}
		incarnations[q.Incarnation] = true
		v.queueNames = append(v.queueNames, q.Name)
		v.queues[q.Name] = q
	}
	return nil
}

// increment adds 1 to the 128-bit big-endian k and reports false if it
// wrapped.
func increment(k *[16]byte) bool {
	for i := len(k) - 1; i >= 0; i-- {
		k[i]++
		if k[i] != 0 {
			return true
		}
	}
	return false
}

// metadataSnapshot is a captured state: an immutable View, so capturing
// it costs nothing and Persist may run alongside Apply.
type metadataSnapshot struct {
	view    *View
	applied uint64
}

// Snapshot captures the state (replication.StateMachine).
func (f *FSM) Snapshot() (replication.Snapshot, error) {
	return metadataSnapshot{view: f.view.Load(), applied: f.applied.Load()}, nil
}

// Persist writes the snapshot.
func (s metadataSnapshot) Persist(w io.Writer) error {
	b, err := encodeSnapshot(s.view, s.applied)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Release does nothing: the View is garbage collected.
func (metadataSnapshot) Release() {}

// Restore replaces the state with a snapshot's (replication.StateMachine).
// It reads at most MaxSnapshotBytes. A snapshot that does not decode or
// check out is refused with an error wrapping ErrCorrupt, and the state is
// left as it was; a read error is returned as is.
func (f *FSM) Restore(rd io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(rd, MaxSnapshotBytes+1))
	if err != nil {
		return fmt.Errorf("metadata: read snapshot: %w", err)
	}
	if len(b) > MaxSnapshotBytes {
		return corrupt("snapshot larger than %d bytes", MaxSnapshotBytes)
	}
	v, applied, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	f.publish(v)
	f.applied.Store(applied)
	return nil
}
