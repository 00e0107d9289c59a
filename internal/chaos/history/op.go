package history

import (
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind names what an operation did. Each kind carries exactly one payload
// field of Op (see Op).
type Kind string

// The kinds of operation. Their text is the history format; never change
// it.
const (
	// KindProduce appends one record to a stream (payload Produce).
	KindProduce Kind = "produce"
	// KindFetch reads a range of one partition (payload Fetch).
	KindFetch Kind = "fetch"
	// KindDeliver is one record a group consumer delivered (payload
	// Deliver). Always ok: it is an observation.
	KindDeliver Kind = "group_deliver"
	// KindCommit commits a group's offsets (payload Commit).
	KindCommit Kind = "group_commit"
	// KindOffsets observes a group's committed offsets, as the final
	// drain phase reads them (payload Commit, Member may be empty).
	KindOffsets Kind = "group_offsets"
	// KindJoin is a member joining a group with its subscribed streams
	// (payload Join).
	KindJoin Kind = "group_join"
	// KindSend sends one message to a queue (payload Produce, with Queue).
	KindSend Kind = "queue_send"
	// KindReceive is one message a queue receive returned (payload
	// Receive). A receive that failed is recorded with the queue only.
	KindReceive Kind = "queue_receive"
	// KindAck acknowledges one received message (payload Ack).
	KindAck Kind = "queue_ack"
	// KindDeadLetter is a message seen in a queue's dead-letter stream
	// (payload DeadLetter). Always ok: it is an observation.
	KindDeadLetter Kind = "dead_letter"
	// KindCreateStream declares a stream and its partition count
	// (payload Stream).
	KindCreateStream Kind = "create_stream"
	// KindCreateQueue declares a queue over a stream (payload Queue).
	KindCreateQueue Kind = "create_queue"
	// KindFault is a fault the nemesis injected or healed (payload
	// Fault).
	KindFault Kind = "fault"
)

// Kinds lists every kind, in the order above.
func Kinds() []Kind {
	return []Kind{KindProduce, KindFetch, KindDeliver, KindCommit, KindOffsets, KindJoin, KindSend,
		KindReceive, KindAck, KindDeadLetter, KindCreateStream, KindCreateQueue, KindFault}
}

// Outcome is what the client knows of an operation's effect.
type Outcome string

// The outcomes. Their text is the history format; never change it.
const (
	// OK: the operation took effect, and its results are recorded.
	OK Outcome = "ok"
	// Failed: the operation certainly did not take effect.
	Failed Outcome = "failed"
	// Unknown: the client cannot tell (a timeout, a connection lost
	// mid-call, ErrOutcomeUnknown). The operation may or may not have
	// taken effect, at any time after its invocation.
	Unknown Outcome = "unknown"
)

// Op is one operation of a chaos run: a client call with its inputs, its
// outcome and, when ok, its results; or a fault of the nemesis.
//
// Exactly one payload field is set, the one of its Kind: Produce for
// produce and queue_send, Fetch, Deliver, Commit for group_commit and
// group_offsets, Join, Receive, Ack, DeadLetter, Stream, Queue, Fault.
type Op struct {
	// ID names the operation in reports. The Recorder assigns IDs in the
	// order operations are appended; within a history they are unique.
	ID int64 `json:"id"`
	// Process is the client (or nemesis) that ran the operation. One
	// process runs one operation at a time.
	Process int     `json:"process"`
	Kind    Kind    `json:"kind"`
	Outcome Outcome `json:"outcome"`
	// Invoke and Complete are monotonic nanoseconds since the run began:
	// when the call was made, and when its answer came (or the client gave
	// up, for Unknown). Invariant: 0 <= Invoke <= Complete.
	Invoke   int64 `json:"invoke"`
	Complete int64 `json:"complete"`
	// Error is the client's error text, for reports only.
	Error string `json:"error,omitempty"`

	Produce    *Produce    `json:"produce,omitempty"`
	Fetch      *Fetch      `json:"fetch,omitempty"`
	Deliver    *Deliver    `json:"deliver,omitempty"`
	Commit     *Commit     `json:"commit,omitempty"`
	Join       *Join       `json:"join,omitempty"`
	Receive    *Receive    `json:"receive,omitempty"`
	Ack        *Ack        `json:"ack,omitempty"`
	DeadLetter *DeadLetter `json:"dead_letter,omitempty"`
	Stream     *StreamSpec `json:"stream,omitempty"`
	Queue      *QueueSpec  `json:"queue,omitempty"`
	Fault      *Fault      `json:"fault,omitempty"`
}

// Value is the identity of a record's value. Each produce or send op
// carries a value no other one carries (NewValue makes them from a
// producer and a sequence number), so that a value read anywhere names the
// operation that wrote it. Values are text: ValueOf turns bytes read back
// into a Value.
type Value string

// NewValue returns the value of a producer's seq-th record: "producer-seq".
func NewValue(producer string, seq int64) Value {
	return Value(producer + "-" + strconv.FormatInt(seq, 10))
}

// Split returns the producer and sequence number of a value made by
// NewValue; ok is false for any other value.
func (v Value) Split() (producer string, seq int64, ok bool) {
	i := strings.LastIndexByte(string(v), '-')
	if i < 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(string(v[i+1:]), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return string(v[:i]), seq, true
}

// ValueOf returns the Value of bytes read back from a record: the bytes as
// text when they are valid UTF-8, else "0x" and their hex (which no valid
// value looks like, so garbage shows up as a phantom read, not as
// another value mangled by the JSON encoding).
func ValueOf(b []byte) Value {
	if utf8.Valid(b) && !strings.HasPrefix(string(b), "0x") {
		return Value(b)
	}
	return Value("0x" + hex.EncodeToString(b))
}

// Position is where a record was written: its partition and offset.
type Position struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// AnyPartition in Produce.Partition means the producer chose the
// partition (by key).
const AnyPartition = -1

// Produce is the payload of produce and queue_send: one record.
type Produce struct {
	Stream string `json:"stream"`
	// Queue is the queue sent to (queue_send only; empty for produce).
	Queue string `json:"queue,omitempty"`
	// Partition is the partition asked for, or AnyPartition.
	Partition int32  `json:"partition"`
	Key       string `json:"key,omitempty"`
	Value     Value  `json:"value"`
	// Producer and Seq name the record in its producer's order: Seq
	// increases with each record the producer sends.
	Producer string `json:"producer"`
	Seq      int64  `json:"seq"`
	// Idempotent: sent by an idempotent producer, so never written twice.
	Idempotent bool `json:"idempotent,omitempty"`
	// Ordered: the producer keeps the order of its records of one key (an
	// idempotent producer does across retries).
	Ordered bool `json:"ordered,omitempty"`
	// Result is where the record was written. Set if and only if the
	// outcome is OK.
	Result *Position `json:"result,omitempty"`
}

// Record is one record read back: its offset and value. In JSON it is the
// pair [offset, "value"].
type Record struct {
	Offset int64
	Value  Value
}

// Fetch is the payload of fetch: a read of one partition from an offset.
type Fetch struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	// Final marks the reads of the end of the run, taken after every
	// fault healed and every writer stopped: together, the final reads of
	// a partition hold all of it, from the log start to the high
	// watermark (one read, or several consecutive ones).
	Final bool `json:"final,omitempty"`
	// Result is what the read returned. Set if and only if the outcome is
	// OK.
	Result *FetchResult `json:"result,omitempty"`
}

// FetchResult is what a fetch returned.
type FetchResult struct {
	LogStart      int64 `json:"log_start"`
	HighWatermark int64 `json:"high_watermark"`
	// Records are in offset order. The slice is owned by the op.
	Records []Record `json:"records"`
}

// Deliver is the payload of group_deliver: one record a member of a
// consumer group delivered.
type Deliver struct {
	Group     string `json:"group"`
	Member    string `json:"member"`
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     Value  `json:"value"`
}

// Commit is the payload of group_commit (offsets a member committed) and
// group_offsets (the group's committed offsets as read back).
type Commit struct {
	Group   string   `json:"group"`
	Member  string   `json:"member,omitempty"`
	Offsets []Offset `json:"offsets"`
}

// Offset is a committed offset of one partition: the next offset the group
// reads.
type Offset struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Join is the payload of group_join.
type Join struct {
	Group   string   `json:"group"`
	Member  string   `json:"member"`
	Streams []string `json:"streams"`
}

// Receive is the payload of queue_receive: one message a receive returned.
// A receive that failed (or returned an unknown result) carries the queue
// only.
type Receive struct {
	Queue        string `json:"queue"`
	Partition    int32  `json:"partition"`
	Offset       int64  `json:"offset"`
	Receipt      string `json:"receipt,omitempty"`
	ReceiveCount int    `json:"receive_count,omitempty"`
	Value        Value  `json:"value,omitempty"`
}

// Ack is the payload of queue_ack: the acknowledgement of one message.
type Ack struct {
	Queue     string `json:"queue"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Receipt   string `json:"receipt"`
}

// DeadLetter is the payload of dead_letter: a message of Queue seen in its
// dead-letter stream, at Stream/Partition/Offset there, with the source it
// names (its sluice-dead-letter-source header).
type DeadLetter struct {
	Queue     string   `json:"queue"`
	Stream    string   `json:"stream"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Value     Value    `json:"value"`
	Source    Location `json:"source"`
}

// Location is a record's stream, partition and offset.
type Location struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// StreamSpec is the payload of create_stream.
type StreamSpec struct {
	Name       string `json:"name"`
	Partitions int32  `json:"partitions"`
}

// QueueSpec is the payload of create_queue.
type QueueSpec struct {
	Name   string `json:"name"`
	Stream string `json:"stream"`
	// DeadLetter is the dead-letter stream; empty if none.
	DeadLetter  string `json:"dead_letter,omitempty"`
	MaxReceives int    `json:"max_receives,omitempty"`
}

// FaultAction is what a fault did.
type FaultAction string

// The fault actions. Their text is the history format; never change it.
const (
	FaultKill      FaultAction = "kill"      // SIGKILL
	FaultStop      FaultAction = "stop"      // SIGSTOP
	FaultCont      FaultAction = "cont"      // SIGCONT
	FaultRestart   FaultAction = "restart"   // start a killed node again
	FaultPartition FaultAction = "partition" // cut the network between Nodes and the rest
	FaultHeal      FaultAction = "heal"      // restore the network
	FaultOther     FaultAction = "other"     // anything else; Note says what
)

// Fault is the payload of fault.
type Fault struct {
	Action FaultAction `json:"action"`
	// Nodes are the nodes acted on; for a partition, one side of it.
	Nodes []string `json:"nodes,omitempty"`
	Note  string   `json:"note,omitempty"`
}
