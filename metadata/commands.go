package metadata

import (
	"math"
	"net"
	"slices"
	"strconv"

	"github.com/sluicedb/sluice/consumergroup"
)

// Limits and defaults of the commands.
const (
	// MaxStreamNameLen is Kafka's topic name limit.
	MaxStreamNameLen = 249
	// MaxNodeIDLen bounds a node id (it is a raft server id).
	MaxNodeIDLen = 128
	// MaxAddrLen bounds a node's raft and client addresses.
	MaxAddrLen = 255
	// MaxPartitions bounds a stream's partition count.
	MaxPartitions = 10000
	// MaxReplicationFactor bounds a stream's replication factor.
	MaxReplicationFactor = 7
	// MaxRecordBytesLimit bounds a stream's MaxRecordBytes. A batch must
	// also fit one raft entry (see partition.Config.MaxBatchBytes).
	MaxRecordBytesLimit = 64 << 20
	// MaxProducerIDBlock bounds one AllocateProducerIDs.
	MaxProducerIDBlock = 1 << 20

	// Unlimited is the retention value that keeps records forever.
	Unlimited = -1

	DefaultReplicationFactor = 3
	DefaultRetentionMs       = 7 * 24 * 60 * 60 * 1000 // Kafka's retention.ms
	DefaultRetentionBytes    = Unlimited               // Kafka's retention.bytes
	DefaultMaxRecordBytes    = 1 << 20                 // 1 MiB
)

// RegisterNode adds a node, or updates a registered one: its addresses
// change, and its state moves forward (joining -> active) but never back,
// so a restarted node may register as joining again without demoting
// itself. The response is the *Node as stored.
type RegisterNode struct {
	ID         string
	RaftAddr   string    // host:port
	ClientAddr string    // host:port
	State      NodeState // NodeJoining or NodeActive
	// Timestamp is the leader's Unix ms, stored as RegisteredAt on the
	// first registration.
	Timestamp int64
}

// RemoveNode marks a node removed. Its replicas stay in their replica sets
// (View.PartitionsOnNode lists them) until they are moved; it no longer
// counts as active. Removing a removed node changes nothing. The response
// is the *Node.
type RemoveNode struct {
	ID string
}

// CreateStream creates a stream and assigns its partitions' replica sets
// across the active nodes. The response is the new *Stream.
//
// EncodeCreateStream fills zero fields other than Name and Partitions with
// the defaults; the encoded command always carries explicit values.
type CreateStream struct {
	Name              string // 1..249 of [a-zA-Z0-9._-], not "." or ".."
	Partitions        int    // 1..MaxPartitions
	ReplicationFactor int    // 1..MaxReplicationFactor, at most the active nodes
	RetentionMs       int64  // > 0 or Unlimited
	RetentionBytes    int64  // > 0 or Unlimited
	MaxRecordBytes    int32  // 1..MaxRecordBytesLimit
	Timestamp         int64  // the leader's Unix ms, stored as CreatedAt
}

// DeleteStream removes a stream; the caller tears down its partitions'
// raft groups. The response is the deleted *Stream. Apply refuses it with
// a *StreamInUseError (ErrStreamInUse) while a queue delivers the stream
// or dead-letters into it: delete those queues first.
type DeleteStream struct {
	Name string
}

// AlterStream changes a stream's limits. A zero field is left unchanged
// (zero is not a valid value of any of them). The response is the altered
// *Stream.
type AlterStream struct {
	Name           string
	RetentionMs    int64 // > 0, Unlimited, or 0 for unchanged
	RetentionBytes int64 // > 0, Unlimited, or 0 for unchanged
	MaxRecordBytes int32 // 1..MaxRecordBytesLimit, or 0 for unchanged
}

// AllocateProducerIDs hands out Count producer ids that no other
// allocation ever returns. The response is a ProducerIDBlock.
type AllocateProducerIDs struct {
	Count int64 // 1..MaxProducerIDBlock
}

// ReassignPartition replaces a partition's replica set; the first node
// becomes the preferred leader. Moving the data is the nodes' work (package
// server): new replicas open empty and are added to the partition's raft
// group by its leader, which then removes the members no longer in the
// set; those delete their replica once out of the group. The response is
// the changed *Partition.
//
// Apply refuses a set with a node that is not registered
// (ErrNodeNotFound) or not active (ErrNodeNotActive), and a request built
// from another replica set than the partition's (ErrReplicasChanged). A
// set equal to the current one, in the same order, changes nothing and is
// answered with the partition whatever its Epoch, so that a retry of a
// request that was applied succeeds.
type ReassignPartition struct {
	Partition string   // the partition's raft group id, PartitionID(stream id, index)
	Replicas  []string // 1..MaxReplicationFactor distinct node ids, preferred leader first
	// Epoch is the Partition.Epoch the request was built from
	// (optimistic concurrency: a concurrent change is not overwritten).
	Epoch uint32
}

// PutGroup creates or updates a consumer group's state, which the group
// coordinator (on the metadata leader) writes at every change of the
// group's generation, members or target assignment, so that another node
// can take the coordinator over with them. The response is the stored
// *consumergroup.GroupState (shared: Clone it to change it).
//
// ExpectVersion 0 creates the group: Apply refuses it with ErrGroupExists
// if the name is in use, and otherwise gives it the next Incarnation of a
// counter that only grows (State.Incarnation is ignored) and CreatedAt =
// Timestamp. Another ExpectVersion updates the group: Apply refuses it with
// ErrUnknownGroup if there is none, with a *GroupVersionConflictError if
// the stored Version is not ExpectVersion or the stored Incarnation is not
// State.Incarnation, and with a *ValidationError if State.Generation is
// below the stored one; it keeps CreatedAt. Either way the stored state
// gets Version = the raft index of the command and UpdatedAt = Timestamp;
// State's own Version, CreatedAt and UpdatedAt are ignored.
//
// A PutGroup is not idempotent: a retry of one that was applied is
// refused with ErrGroupVersionConflict (or ErrGroupExists), and the
// caller reads the group to see whether its change is there.
type PutGroup struct {
	State         consumergroup.GroupState // must Validate
	ExpectVersion uint64                   // 0: create; else the Version of the stored state it replaces
	Timestamp     int64                    // the leader's Unix ms, stored as UpdatedAt (and CreatedAt on create)
}

// DeleteGroup removes a consumer group. Incarnation 0 removes whatever
// group has the name; another removes it only if it is that incarnation
// (so that deleting an older life of the group never deletes a newer
// one), and is refused with ErrUnknownGroup otherwise, as is the delete
// of a name with no group. The response is the deleted
// *consumergroup.GroupState.
type DeleteGroup struct {
	Name        string
	Incarnation uint64
}

// ProducerIDBlock is the producer ids [First, First+Count).
type ProducerIDBlock struct {
	First, Count int64
}

// End returns the first id after the block.
func (b ProducerIDBlock) End() int64 { return b.First + b.Count }

// withDefaults fills the zero fields of c that have defaults.
func (c CreateStream) withDefaults() CreateStream {
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.RetentionMs == 0 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = DefaultRetentionBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return c
}

// The validate methods check what needs no state. Apply runs them too: a
// command proposed by other code than the Encode functions is refused the
// same way on every replica.

func (c RegisterNode) validate() error {
	if err := validName("node id", c.ID, MaxNodeIDLen); err != nil {
		return err
	}
	if err := validAddr("raft address", c.RaftAddr); err != nil {
		return err
	}
	if err := validAddr("client address", c.ClientAddr); err != nil {
		return err
	}
	if c.State != NodeJoining && c.State != NodeActive {
		return invalid("state", "%v: a node registers as joining or active", c.State)
	}
	if c.Timestamp < 0 {
		return invalid("timestamp", "%d is negative", c.Timestamp)
	}
	return nil
}

func (c RemoveNode) validate() error { return validName("node id", c.ID, MaxNodeIDLen) }

func (c CreateStream) validate() error {
	if err := validName("name", c.Name, MaxStreamNameLen); err != nil {
		return err
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return invalid("partitions", "%d is not in 1..%d", c.Partitions, MaxPartitions)
	}
	if c.ReplicationFactor < 1 || c.ReplicationFactor > MaxReplicationFactor {
		return invalid("replication factor", "%d is not in 1..%d", c.ReplicationFactor, MaxReplicationFactor)
	}
	if err := validLimits(c.RetentionMs, c.RetentionBytes, c.MaxRecordBytes, false); err != nil {
		return err
	}
	if c.Timestamp < 0 {
		return invalid("timestamp", "%d is negative", c.Timestamp)
	}
	return nil
}

func (c DeleteStream) validate() error { return validName("name", c.Name, MaxStreamNameLen) }

func (c AlterStream) validate() error {
	if err := validName("name", c.Name, MaxStreamNameLen); err != nil {
		return err
	}
	if c.RetentionMs == 0 && c.RetentionBytes == 0 && c.MaxRecordBytes == 0 {
		return invalid("alter", "nothing to change")
	}
	return validLimits(c.RetentionMs, c.RetentionBytes, c.MaxRecordBytes, true)
}

func (c ReassignPartition) validate() error {
	if _, _, ok := parsePartitionID(c.Partition); !ok {
		return invalid("partition", "%q is not a partition id (s<stream id>-p<number>)", c.Partition)
	}
	if len(c.Replicas) < 1 || len(c.Replicas) > MaxReplicationFactor {
		return invalid("replicas", "%d nodes is not in 1..%d", len(c.Replicas), MaxReplicationFactor)
	}
	for i, id := range c.Replicas {
		if err := validName("replicas", id, MaxNodeIDLen); err != nil {
			return err
		}
		if slices.Contains(c.Replicas[:i], id) {
			return invalid("replicas", "node %s is named twice", id)
		}
	}
	return nil
}

func (c AllocateProducerIDs) validate() error {
	if c.Count < 1 || c.Count > MaxProducerIDBlock {
		return invalid("count", "%d is not in 1..%d", c.Count, MaxProducerIDBlock)
	}
	return nil
}

func (c PutGroup) validate() error {
	if err := c.State.Validate(); err != nil {
		return invalid("group state", "%v", err)
	}
	if c.Timestamp < 0 {
		return invalid("timestamp", "%d is negative", c.Timestamp)
	}
	return nil
}

func (c DeleteGroup) validate() error {
	if err := consumergroup.ValidGroupName(c.Name); err != nil {
		return invalid("name", "%v", err)
	}
	return nil
}

// ValidStreamName checks a stream or queue name as CreateStream and
// CreateQueue do, for callers that take one from outside (a request that
// names a stream or queue that cannot exist is a bad argument, not an
// unknown name). The error is a *ValidationError (ErrInvalidArgument) on
// field.
func ValidStreamName(field, name string) error { return validName(field, name, MaxStreamNameLen) }

// validName checks a stream name or node id: 1..max bytes of
// [a-zA-Z0-9._-], and not "." or ".." (names become file and directory
// names in tools).
func validName(field, s string, max int) error {
	if len(s) == 0 || len(s) > max {
		return invalid(field, "length %d is not in 1..%d", len(s), max)
	}
	if s == "." || s == ".." {
		return invalid(field, "%q is not allowed", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid(field, "byte %#x at %d is not one of [a-zA-Z0-9._-]", c, i)
		}
	}
	return nil
}

// validAddr checks a host:port address with a host and a port in 1..65535.
func validAddr(field, s string) error {
	if len(s) == 0 || len(s) > MaxAddrLen {
		return invalid(field, "length %d is not in 1..%d", len(s), MaxAddrLen)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return invalid(field, "%q is not host:port", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if host == "" || err != nil || p == 0 {
		return invalid(field, "%q needs a host and a port in 1..65535", s)
	}
	return nil
}

// validLimits checks retention and record size limits; zero means
// unchanged when alter is set and is refused otherwise.
func validLimits(retMs, retBytes int64, maxRecord int32, alter bool) error {
	ok := func(v int64) bool { return v > 0 || v == Unlimited || alter && v == 0 }
	if !ok(retMs) {
		return invalid("retention ms", "%d is neither positive nor %d (unlimited)", retMs, Unlimited)
	}
	if !ok(retBytes) {
		return invalid("retention bytes", "%d is neither positive nor %d (unlimited)", retBytes, Unlimited)
	}
	if !(maxRecord > 0 && maxRecord <= MaxRecordBytesLimit || alter && maxRecord == 0) {
		return invalid("max record bytes", "%d is not in 1..%d", maxRecord, MaxRecordBytesLimit)
	}
	return nil
}

// Encode functions build the command bytes the server proposes to the
// metadata group. They validate what needs no state and return a
// *ValidationError (ErrInvalidArgument) for a bad field; the state checks
// happen in Apply.

// EncodeRegisterNode encodes a RegisterNode command.
func EncodeRegisterNode(c RegisterNode) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeRemoveNode encodes a RemoveNode command.
func EncodeRemoveNode(c RemoveNode) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeCreateStream fills c's defaults and encodes a CreateStream
// command.
func EncodeCreateStream(c CreateStream) ([]byte, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeDeleteStream encodes a DeleteStream command.
func EncodeDeleteStream(c DeleteStream) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeAlterStream encodes an AlterStream command.
func EncodeAlterStream(c AlterStream) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeReassignPartition encodes a ReassignPartition command.
func EncodeReassignPartition(c ReassignPartition) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeAllocateProducerIDs encodes an AllocateProducerIDs command.
func EncodeAllocateProducerIDs(c AllocateProducerIDs) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodePutGroup encodes a PutGroup command.
func EncodePutGroup(c PutGroup) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b, err := c.appendTo(nil)
	if err != nil {
		return nil, invalid("group state", "%v", err)
	}
	return b, nil
}

// EncodeDeleteGroup encodes a DeleteGroup command.
func EncodeDeleteGroup(c DeleteGroup) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// producerIDsLeft reports whether count more ids fit after next.
func producerIDsLeft(next, count int64) bool { return count <= math.MaxInt64-next }
