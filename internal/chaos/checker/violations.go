package checker

import (
	"fmt"
	"io"

	"github.com/anishathalye/porcupine"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// Property names a promise the checker checks. Every Violation breaks one.
type Property string

// The properties, in the order the report lists them.
const (
	// PropComplete: the history has what the checks need, a final read of
	// every partition.
	PropComplete Property = "complete-history"
	// PropNoLostWrites: every ok produce or send is in the final log at
	// the partition and offset it was acknowledged at.
	PropNoLostWrites Property = "no-lost-writes"
	// PropNoDuplicates: no value of an idempotent producer is twice in its
	// stream's final logs.
	PropNoDuplicates Property = "no-duplicates"
	// PropOrder: offsets are contiguous (final logs from the log start to
	// the high watermark, every read within itself), and an idempotent
	// producer's records of one key keep their order.
	PropOrder Property = "order"
	// PropRealReads: every value read was produced (ok or unknown), at
	// the offset it was acknowledged at, and is the final log's value at
	// that offset.
	PropRealReads Property = "real-reads"
	// PropGroups: every consumer group delivered every record of its
	// streams' final logs, and committed up to the high watermark.
	PropGroups Property = "group-coverage"
	// PropQueues: every ok send was acked or dead-lettered, and no message
	// was delivered by a receive that began after its ack returned.
	PropQueues Property = "queue-delivery"
	// PropLinearizable: appends and reads of each sampled partition are
	// linearizable.
	PropLinearizable Property = "linearizable"
)

// Properties lists every property in report order.
func Properties() []Property {
	return []Property{PropComplete, PropNoLostWrites, PropNoDuplicates, PropOrder, PropRealReads,
		PropGroups, PropQueues, PropLinearizable}
}

// Violation is one broken promise. The concrete types below carry the
// details; match them with errors.As on Report.Err(), or with a type
// switch. OpIDs names the ops involved (history.Op.ID).
type Violation interface {
	error
	Property() Property
	OpIDs() []int64
}

// MissingFinalRead is a partition with no final read (history.Fetch.Final)
// in the history: the checks that need the final log skip it.
type MissingFinalRead struct {
	Stream    string
	Partition int32
}

func (v *MissingFinalRead) Error() string {
	return fmt.Sprintf("%s/%d: no final read of the partition; its records were not checked", v.Stream, v.Partition)
}
func (v *MissingFinalRead) Property() Property { return PropComplete }
func (v *MissingFinalRead) OpIDs() []int64     { return nil }

// LostWrite is an ok produce or send (Op) whose value is not at its
// acknowledged offset in the final log. Found is what is there ("" past
// the end), FoundAt where the value is instead, if anywhere.
type LostWrite struct {
	Op        int64
	Stream    string
	Partition int32
	Offset    int64
	Value     history.Value
	Found     history.Value
	FoundAt   []int64
	Final     []int64 // the final reads of the partition
}

func (v *LostWrite) Error() string {
	s := fmt.Sprintf("op %d: %s acknowledged at %s/%d@%d is lost: the final log has ", v.Op, v.Value,
		v.Stream, v.Partition, v.Offset)
	if v.Found == "" {
		s += "no record there"
	} else {
		s += string(v.Found) + " there"
	}
	if len(v.FoundAt) > 0 {
		s += fmt.Sprintf(", and the value at offsets %v", v.FoundAt)
	}
	return s
}
func (v *LostWrite) Property() Property { return PropNoLostWrites }
func (v *LostWrite) OpIDs() []int64     { return append([]int64{v.Op}, v.Final...) }

// Duplicate is a value of an idempotent producer (written by Op) found more
// than once in its stream's final logs.
type Duplicate struct {
	Op     int64
	Stream string
	Value  history.Value
	At     []history.Position
	Final  []int64 // the final reads it was found in
}

func (v *Duplicate) Error() string {
	return fmt.Sprintf("op %d: %s of an idempotent producer is %d times in %s: %v", v.Op, v.Value, len(v.At),
		v.Stream, v.At)
}
func (v *Duplicate) Property() Property { return PropNoDuplicates }
func (v *Duplicate) OpIDs() []int64     { return append([]int64{v.Op}, v.Final...) }

// OffsetGap is a read (Ops: one fetch, or the final reads of a partition)
// whose offsets are not contiguous: Want was expected and Got came instead
// (-1: nothing). Reason says which rule broke.
type OffsetGap struct {
	Ops       []int64
	Stream    string
	Partition int32
	Want, Got int64
	Reason    string
}

func (v *OffsetGap) Error() string {
	return fmt.Sprintf("ops %v: %s/%d: %s (want offset %d, got %d)", v.Ops, v.Stream, v.Partition, v.Reason, v.Want, v.Got)
}
func (v *OffsetGap) Property() Property { return PropOrder }
func (v *OffsetGap) OpIDs() []int64     { return v.Ops }

// Reordered is two records of one idempotent, ordered producer and key in
// a final log out of their sequence order: Earlier (sent later, the
// higher Seq) sits at the lower offset EarlierOffset, before Later.
type Reordered struct {
	Stream                     string
	Partition                  int32
	Producer, Key              string
	Earlier, Later             int64 // ops
	EarlierSeq, LaterSeq       int64
	EarlierOffset, LaterOffset int64
}

func (v *Reordered) Error() string {
	return fmt.Sprintf("%s/%d: producer %s key %q: seq %d (op %d) at offset %d comes after seq %d (op %d) at offset %d",
		v.Stream, v.Partition, v.Producer, v.Key, v.LaterSeq, v.Later, v.LaterOffset, v.EarlierSeq, v.Earlier,
		v.EarlierOffset)
}
func (v *Reordered) Property() Property { return PropOrder }
func (v *Reordered) OpIDs() []int64     { return []int64{v.Earlier, v.Later} }

// PhantomRead is a value read (by Read: a fetch, a delivery, a receive or
// a dead-letter observation) that no op wrote there: never produced, its
// produce failed, or acknowledged elsewhere. Produce is the op that
// carries the value, or -1.
type PhantomRead struct {
	Read      int64
	Produce   int64
	Stream    string
	Partition int32
	Offset    int64
	Value     history.Value
	Reason    string
}

func (v *PhantomRead) Error() string {
	return fmt.Sprintf("op %d read %q at %s/%d@%d: %s", v.Read, v.Value, v.Stream, v.Partition, v.Offset, v.Reason)
}
func (v *PhantomRead) Property() Property { return PropRealReads }
func (v *PhantomRead) OpIDs() []int64 {
	if v.Produce < 0 {
		return []int64{v.Read}
	}
	return []int64{v.Read, v.Produce}
}

// DivergentRead is a value read at an offset where the final log has
// another value (Final), or none (Final "": past the final high
// watermark): the reader saw a record that did not survive, or two reads
// of the final log disagree.
type DivergentRead struct {
	Read      int64
	Stream    string
	Partition int32
	Offset    int64
	Value     history.Value
	Final     history.Value
	FinalOps  []int64
}

func (v *DivergentRead) Error() string {
	if v.Final == "" {
		return fmt.Sprintf("op %d read %s at %s/%d@%d, past the end of the final log", v.Read, v.Value,
			v.Stream, v.Partition, v.Offset)
	}
	return fmt.Sprintf("op %d read %s at %s/%d@%d, where the final log has %s", v.Read, v.Value, v.Stream,
		v.Partition, v.Offset, v.Final)
}
func (v *DivergentRead) Property() Property { return PropRealReads }
func (v *DivergentRead) OpIDs() []int64     { return append([]int64{v.Read}, v.FinalOps...) }

// GroupMissed is a consumer group that never delivered Missing records of
// a partition of its streams: Offsets are the first few, Produces the ops
// that wrote them (where known).
type GroupMissed struct {
	Group     string
	Stream    string
	Partition int32
	Missing   int
	Offsets   []int64
	Produces  []int64
}

func (v *GroupMissed) Error() string {
	return fmt.Sprintf("group %s never delivered %d records of %s/%d, offsets %v...", v.Group, v.Missing,
		v.Stream, v.Partition, v.Offsets)
}
func (v *GroupMissed) Property() Property { return PropGroups }
func (v *GroupMissed) OpIDs() []int64     { return v.Produces }

// GroupCommitMismatch is a group whose final committed offset of a
// partition (Committed, -1 for none) is not the final high watermark. Op
// is the commit or observation it comes from, or -1.
type GroupCommitMismatch struct {
	Group         string
	Stream        string
	Partition     int32
	Committed     int64
	HighWatermark int64
	Op            int64
}

func (v *GroupCommitMismatch) Error() string {
	if v.Committed < 0 {
		return fmt.Sprintf("group %s committed nothing for %s/%d, whose high watermark is %d", v.Group,
			v.Stream, v.Partition, v.HighWatermark)
	}
	return fmt.Sprintf("group %s ended committed at %d for %s/%d (op %d), whose high watermark is %d", v.Group,
		v.Committed, v.Stream, v.Partition, v.Op, v.HighWatermark)
}
func (v *GroupCommitMismatch) Property() Property { return PropGroups }
func (v *GroupCommitMismatch) OpIDs() []int64 {
	if v.Op < 0 {
		return nil
	}
	return []int64{v.Op}
}

// QueueUnacked is an ok send (Send) never acked and not seen in the
// dead-letter stream. Receives are the receives that returned it.
type QueueUnacked struct {
	Queue     string
	Partition int32
	Offset    int64
	Value     history.Value
	Send      int64
	Receives  []int64
}

func (v *QueueUnacked) Error() string {
	return fmt.Sprintf("op %d: %s sent to queue %s (%d@%d) was never acked nor dead-lettered; received by ops %v",
		v.Send, v.Value, v.Queue, v.Partition, v.Offset, v.Receives)
}
func (v *QueueUnacked) Property() Property { return PropQueues }
func (v *QueueUnacked) OpIDs() []int64     { return append([]int64{v.Send}, v.Receives...) }

// QueueDeliveredAfterAck is a message delivered by a receive (Receive)
// that began after an ack of it (Ack) had returned.
type QueueDeliveredAfterAck struct {
	Queue     string
	Partition int32
	Offset    int64
	Ack       int64
	Receive   int64
}

func (v *QueueDeliveredAfterAck) Error() string {
	return fmt.Sprintf("queue %s message %d@%d: delivered by op %d, which began after ack op %d returned",
		v.Queue, v.Partition, v.Offset, v.Receive, v.Ack)
}
func (v *QueueDeliveredAfterAck) Property() Property { return PropQueues }
func (v *QueueDeliveredAfterAck) OpIDs() []int64     { return []int64{v.Ack, v.Receive} }

// NotLinearizable is a partition whose appends and reads have no
// linearization. Porcupine placed Linearized of Total ops at most; Ops are
// the ops that could have come next at that point, none of which fits
// (the culprit is among them). Visualize renders porcupine's HTML view.
type NotLinearizable struct {
	Stream            string
	Partition         int32
	Ops               []int64
	Linearized, Total int

	model porcupine.Model
	info  porcupine.LinearizationInfo
}

func (v *NotLinearizable) Error() string {
	return fmt.Sprintf("%s/%d is not linearizable: at most %d of %d ops linearize; none of ops %v can come next",
		v.Stream, v.Partition, v.Linearized, v.Total, v.Ops)
}
func (v *NotLinearizable) Property() Property { return PropLinearizable }
func (v *NotLinearizable) OpIDs() []int64     { return v.Ops }

// Visualize writes porcupine's visualization of the partition's history
// (a self-contained HTML page) to w.
func (v *NotLinearizable) Visualize(w io.Writer) error {
	return porcupine.Visualize(v.model, v.info, w)
}
