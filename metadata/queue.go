package metadata

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/sluicedb/sluice/consumergroup"
)

// Limits and defaults of a queue's delivery settings (SQS's).
const (
	// MaxVisibilityTimeoutMs bounds a queue's VisibilityTimeoutMs: 12 h.
	MaxVisibilityTimeoutMs = 12 * 60 * 60 * 1000
	// MaxQueueReceives bounds a queue's MaxReceives (0 is unlimited).
	MaxQueueReceives = 1000
	// MaxQueueDelayMs bounds a queue's DelayMs: 15 min.
	MaxQueueDelayMs = 15 * 60 * 1000

	DefaultVisibilityTimeoutMs = 30 * 1000
)

// Queue is an SQS-style queue, or an SNS-style topic subscription with
// queue-style acks: a view over a stream with delivery settings. Its
// per-message state (leases, receive counts, acks) lives in the stream's
// partitions. Values reached from a View are shared and must not be
// modified.
type Queue struct {
	Name   string // the rules of a stream name
	Stream string // the stream it delivers; Invariant: exists
	// VisibilityTimeoutMs is how long a received message stays invisible
	// before it is delivered again: 1..MaxVisibilityTimeoutMs.
	VisibilityTimeoutMs int64
	// MaxReceives is the receives after which a message goes to
	// DeadLetterStream: 0 (unlimited) or 1..MaxQueueReceives.
	MaxReceives int32
	// DeadLetterStream is "" (none) or a stream other than Stream.
	// Invariant: it exists (DeleteStream refuses while a queue names it).
	DeadLetterStream string
	// DelayMs delays the delivery of every message: 0..MaxQueueDelayMs.
	DelayMs int64
	// FIFO delivers a key's messages in order, one in flight at a time.
	FIFO bool
	// Filter is a consumergroup filter's canonical text (Filter.String),
	// "" for all records, so that equal filters are equal text.
	Filter string
	// Subscription marks a queue created as a topic subscription; it is
	// for listing only, the mechanics are the same.
	Subscription bool
	// Cursor marks a subscription read in order through its own cursor
	// (a consumer group of its name, whose fetches carry Filter) instead
	// of per-message acks: it has no delivery settings (FIFO, max
	// receives, dead-letter stream, delay).
	Cursor bool
	// Incarnation tells the lives of a name apart: each CreateQueue takes
	// the next of a counter that only grows, from 1, so it is never
	// reused, even by a queue created again under a deleted one's name.
	Incarnation uint64
	CreatedAt   int64 // leader Unix ms of the CreateQueue
}

// CreateQueue creates a queue over an existing stream. The response is the
// new *Queue. Apply refuses it with ErrQueueExists if the name is in use
// and with ErrStreamNotFound if Stream or DeadLetterStream does not exist.
//
// EncodeCreateQueue sets a zero VisibilityTimeoutMs to the default and
// Filter to its canonical text; Apply stores the canonical text too.
type CreateQueue struct {
	Name                string
	Stream              string
	VisibilityTimeoutMs int64  // 1..MaxVisibilityTimeoutMs
	MaxReceives         int32  // 0 (unlimited) or 1..MaxQueueReceives
	DeadLetterStream    string // "" or a stream other than Stream
	DelayMs             int64  // 0..MaxQueueDelayMs
	FIFO                bool
	Filter              string // a consumergroup filter; "" for all records
	Subscription        bool
	Cursor              bool  // a cursor subscription: needs Subscription, no delivery settings
	Timestamp           int64 // the leader's Unix ms, stored as CreatedAt
}

// AlterQueue changes a queue's delivery settings; a nil field is left
// unchanged, and at least one must be set. Stream and FIFO never change
// (the partitions' delivery state depends on them). The response is the
// altered *Queue; Apply refuses an AlterQueue of a missing queue with
// ErrQueueNotFound, and one naming a missing dead-letter stream with
// ErrStreamNotFound.
type AlterQueue struct {
	Name                string
	VisibilityTimeoutMs *int64
	MaxReceives         *int32
	DeadLetterStream    *string // "" removes it
	DelayMs             *int64
	Filter              *string // "" delivers all records
}

// DeleteQueue removes a queue. Incarnation 0 removes whatever queue has
// the name; another removes it only if it is that incarnation (so that a
// retried delete never deletes a queue created again since), and is
// refused with ErrQueueNotFound otherwise, as is the delete of a name with
// no queue. The response is the deleted *Queue.
type DeleteQueue struct {
	Name        string
	Incarnation uint64
}

// withDefaults fills the zero fields of c that have defaults.
func (c CreateQueue) withDefaults() CreateQueue {
	if c.VisibilityTimeoutMs == 0 {
		c.VisibilityTimeoutMs = DefaultVisibilityTimeoutMs
	}
	return c
}

func (c CreateQueue) validate() error {
	if err := validName("name", c.Name, MaxStreamNameLen); err != nil {
		return err
	}
	if err := validName("stream", c.Stream, MaxStreamNameLen); err != nil {
		return err
	}
	if err := validQueueSettings(c.VisibilityTimeoutMs, c.MaxReceives, c.DeadLetterStream, c.DelayMs); err != nil {
		return err
	}
	if c.DeadLetterStream == c.Stream {
		return invalid("dead-letter stream", "%q is the queue's own stream", c.Stream)
	}
	if c.MaxReceives > 0 && c.DeadLetterStream == "" {
		return invalid("max receives", "%d needs a dead-letter stream to move messages to", c.MaxReceives)
	}
	if len(c.Filter) > consumergroup.MaxFilterBytes {
		return invalid("filter", "%d bytes, limit %d", len(c.Filter), consumergroup.MaxFilterBytes)
	}
	if c.Cursor && (!c.Subscription || c.FIFO || c.MaxReceives != 0 || c.DeadLetterStream != "" || c.DelayMs != 0) {
		return invalid("cursor", "a cursor subscription reads in order with no per-message delivery settings "+
			"(fifo, max receives, dead-letter stream, delay)")
	}
	if c.Timestamp < 0 {
		return invalid("timestamp", "%d is negative", c.Timestamp)
	}
	return nil
}

func (c AlterQueue) validate() error {
	if err := validName("name", c.Name, MaxStreamNameLen); err != nil {
		return err
	}
	if c.VisibilityTimeoutMs == nil && c.MaxReceives == nil && c.DeadLetterStream == nil && c.DelayMs == nil && c.Filter == nil {
		return invalid("alter", "nothing to change")
	}
	// The settings left unchanged are valid ones: check the others alone.
	vis, recv, dlq, delay := int64(DefaultVisibilityTimeoutMs), int32(0), "", int64(0)
	if c.VisibilityTimeoutMs != nil {
		vis = *c.VisibilityTimeoutMs
	}
	if c.MaxReceives != nil {
		recv = *c.MaxReceives
	}
	if c.DeadLetterStream != nil {
		dlq = *c.DeadLetterStream
	}
	if c.DelayMs != nil {
		delay = *c.DelayMs
	}
	if err := validQueueSettings(vis, recv, dlq, delay); err != nil {
		return err
	}
	if c.Filter != nil && len(*c.Filter) > consumergroup.MaxFilterBytes {
		return invalid("filter", "%d bytes, limit %d", len(*c.Filter), consumergroup.MaxFilterBytes)
	}
	return nil
}

func (c DeleteQueue) validate() error { return validName("name", c.Name, MaxStreamNameLen) }

// validQueueSettings checks the ranges of a queue's delivery settings
// (not the filter, whose grammar is consumergroup's; see canonicalFilter).
func validQueueSettings(visibilityMs int64, maxReceives int32, deadLetter string, delayMs int64) error {
	if visibilityMs < 1 || visibilityMs > MaxVisibilityTimeoutMs {
		return invalid("visibility timeout ms", "%d is not in 1..%d", visibilityMs, MaxVisibilityTimeoutMs)
	}
	if maxReceives < 0 || maxReceives > MaxQueueReceives {
		return invalid("max receives", "%d is neither 0 (unlimited) nor in 1..%d", maxReceives, MaxQueueReceives)
	}
	if deadLetter != "" {
		if err := validName("dead-letter stream", deadLetter, MaxStreamNameLen); err != nil {
			return err
		}
	}
	if delayMs < 0 || delayMs > MaxQueueDelayMs {
		return invalid("delay ms", "%d is not in 0..%d", delayMs, MaxQueueDelayMs)
	}
	return nil
}

// canonicalFilter parses a subscription filter and returns its canonical
// text: "" for one that matches every record ("", "{}"), else
// Filter.String(). A filter that does not parse is a *ValidationError on
// "filter" that wraps consumergroup.ErrInvalidFilter.
func canonicalFilter(text string) (string, error) {
	f, err := consumergroup.ParseFilter(text)
	if err != nil {
		return "", filterError("", err)
	}
	if f.MatchAll() {
		return "", nil
	}
	canon := f.String()
	// The canonical text escapes what the input may not have ("<" becomes
	// "\u003c"), so it can pass ParseFilter's size limit: the stored text
	// must be one that the partitions can parse.
	g, err := consumergroup.ParseFilter(canon)
	if err != nil {
		return "", filterError(fmt.Sprintf("its canonical text (%d bytes) does not parse: ", len(canon)), err)
	}
	if g.String() != canon {
		return "", invalid("filter", "its canonical text does not parse back to itself")
	}
	return canon, nil
}

// filterError is the *ValidationError for a filter that ParseFilter
// refused with err. The reason leaves out err's sentinel prefix, which
// the field already says ("invalid filter: invalid filter: ...").
func filterError(context string, err error) error {
	detail := strings.TrimPrefix(err.Error(), consumergroup.ErrInvalidFilter.Error()+": ")
	return &ValidationError{Field: "filter", Reason: context + detail, Err: err}
}

// EncodeCreateQueue fills c's defaults, sets its Filter to the canonical
// text, and encodes a CreateQueue command.
func EncodeCreateQueue(c CreateQueue) ([]byte, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	var err error
	if c.Filter, err = canonicalFilter(c.Filter); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

// EncodeAlterQueue sets a changed Filter to its canonical text and encodes
// an AlterQueue command.
func EncodeAlterQueue(c AlterQueue) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.Filter != nil {
		canon, err := canonicalFilter(*c.Filter)
		if err != nil {
			return nil, err
		}
		c.Filter = &canon
	}
	return c.appendTo(nil), nil
}

// EncodeDeleteQueue encodes a DeleteQueue command.
func EncodeDeleteQueue(c DeleteQueue) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.appendTo(nil), nil
}

func (v *View) applyCreateQueue(c CreateQueue) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if old := v.queues[c.Name]; old != nil {
		return nil, fmt.Errorf("%w: %q (incarnation %d)", ErrQueueExists, c.Name, old.Incarnation)
	}
	if v.streams[c.Stream] == nil {
		return nil, fmt.Errorf("%w: %q, the stream of queue %q", ErrStreamNotFound, c.Stream, c.Name)
	}
	if c.DeadLetterStream != "" && v.streams[c.DeadLetterStream] == nil {
		return nil, fmt.Errorf("%w: %q, the dead-letter stream of queue %q", ErrStreamNotFound, c.DeadLetterStream, c.Name)
	}
	filter, err := canonicalFilter(c.Filter)
	if err != nil {
		return nil, err
	}
	if v.nextQueueIncarnation == math.MaxUint64 {
		return nil, invalid("incarnation", "queue incarnations exhausted")
	}
	q := &Queue{
		Name:                c.Name,
		Stream:              c.Stream,
		VisibilityTimeoutMs: c.VisibilityTimeoutMs,
		MaxReceives:         c.MaxReceives,
		DeadLetterStream:    c.DeadLetterStream,
		DelayMs:             c.DelayMs,
		FIFO:                c.FIFO,
		Filter:              filter,
		Subscription:        c.Subscription,
		Cursor:              c.Cursor,
		Incarnation:         v.nextQueueIncarnation,
		CreatedAt:           c.Timestamp,
	}
	nv := v.withQueue(q)
	nv.nextQueueIncarnation++
	return nv, q
}

func (v *View) applyAlterQueue(c AlterQueue) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.queues[c.Name]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrQueueNotFound, c.Name)
	}
	if old.Cursor && (c.MaxReceives != nil && *c.MaxReceives != 0 || c.DeadLetterStream != nil && *c.DeadLetterStream != "" ||
		c.DelayMs != nil && *c.DelayMs != 0) {
		return nil, invalid("cursor", "subscription %q reads through a cursor: it has no max receives, dead-letter stream or delay", c.Name)
	}
	q := *old
	if c.VisibilityTimeoutMs != nil {
		q.VisibilityTimeoutMs = *c.VisibilityTimeoutMs
	}
	if c.MaxReceives != nil {
		q.MaxReceives = *c.MaxReceives
	}
	if c.DelayMs != nil {
		q.DelayMs = *c.DelayMs
	}
	if c.DeadLetterStream != nil && *c.DeadLetterStream != old.DeadLetterStream {
		dlq := *c.DeadLetterStream
		if dlq == q.Stream {
			return nil, invalid("dead-letter stream", "%q is the queue's own stream", dlq)
		}
		if dlq != "" && v.streams[dlq] == nil {
			return nil, fmt.Errorf("%w: %q, the dead-letter stream of queue %q", ErrStreamNotFound, dlq, c.Name)
		}
		q.DeadLetterStream = dlq
	}
	if c.Filter != nil {
		filter, err := canonicalFilter(*c.Filter)
		if err != nil {
			return nil, err
		}
		q.Filter = filter
	}
	if q.MaxReceives > 0 && q.DeadLetterStream == "" {
		return nil, invalid("max receives", "%d needs a dead-letter stream to move messages to", q.MaxReceives)
	}
	if q == *old {
		return nil, old
	}
	return v.withQueue(&q), &q
}

func (v *View) applyDeleteQueue(c DeleteQueue) (*View, any) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := v.queues[c.Name]
	if old == nil {
		return nil, fmt.Errorf("%w: %q", ErrQueueNotFound, c.Name)
	}
	if c.Incarnation != 0 && c.Incarnation != old.Incarnation {
		return nil, fmt.Errorf("%w: %q of incarnation %d (the queue is incarnation %d)",
			ErrQueueNotFound, c.Name, c.Incarnation, old.Incarnation)
	}
	return v.withoutQueue(c.Name), old
}

// Queue returns the queue with the given name, or nil. The queue is
// shared and must not be modified.
func (v *View) Queue(name string) *Queue { return v.queues[name] }

// Queues returns every queue, topic subscriptions included, sorted by
// name. The slice is the caller's; the queues are shared.
func (v *View) Queues() []*Queue {
	out := make([]*Queue, len(v.queueNames))
	for i, name := range v.queueNames {
		out[i] = v.queues[name]
	}
	return out
}

// queuesUsing returns the names of the queues that deliver stream or
// dead-letter into it, sorted.
func (v *View) queuesUsing(stream string) []string {
	var out []string
	for _, name := range v.queueNames {
		if q := v.queues[name]; q.Stream == stream || q.DeadLetterStream == stream {
			out = append(out, name)
		}
	}
	return out
}

func (v *View) withQueue(q *Queue) *View {
	nv := *v
	nv.queues = maps.Clone(v.queues)
	if _, ok := v.queues[q.Name]; !ok {
		nv.queueNames = insertSorted(v.queueNames, q.Name)
	}
	nv.queues[q.Name] = q
	return &nv
}

func (v *View) withoutQueue(name string) *View {
	if _, ok := v.queues[name]; !ok {
		return v
	}
	nv := *v
	nv.queues = maps.Clone(v.queues)
	delete(nv.queues, name)
	i, _ := slices.BinarySearch(v.queueNames, name)
	nv.queueNames = slices.Delete(slices.Clone(v.queueNames), i, i+1)
	return &nv
}
