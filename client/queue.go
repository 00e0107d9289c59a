package client

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// Limits of the queue calls (SQS's, but for MaxReceiveMessages).
const (
	// MaxReceiveMessages bounds the messages one Receive returns.
	MaxReceiveMessages = 1000
	// MaxReceiveWait bounds Receive's long poll.
	MaxReceiveWait = 20 * time.Second
	// MaxMessageDelay bounds a message's delay (WithDelay) and a nack's.
	MaxMessageDelay = 15 * time.Minute

	// DelayHeader is the record header that delays a message: its
	// delay in milliseconds, as decimal text. It replaces the queue's
	// default delay.
	DelayHeader = "sluice-delay-ms"
)

// QueueMessage is a message received from a queue. Receipt names its
// lease: Ack, Nack and ExtendVisibility take the message (Queue,
// Partition and Receipt are what they need; a receipt is valid on its
// partition only).
type QueueMessage struct {
	Queue     string
	Partition int32
	// Offset is the record's offset in the queue's stream; -1 when
	// unknown (a message rebuilt from a receipt).
	Offset    int64
	Timestamp time.Time
	// Key is nil when the record had no key. Key, Value and header
	// values are owned by the message.
	Key     []byte
	Value   []byte
	Headers []Header
	Receipt string
	// ReceiveCount counts the receives of the message, this one
	// included. A queue with MaxReceives replicates the counts; in one
	// without, the partition's leader counts, and a new leader starts
	// again from the replicated count (as SQS, it is approximate).
	ReceiveCount int
}

// Message is a message to send with SendMessages.
type Message struct {
	// Key routes the message to a partition (nil: any) and, in a FIFO
	// queue, orders it.
	Key     []byte
	Value   []byte
	Headers []Header
}

// SendOption is an option of SendMessage and SendMessages.
type SendOption struct {
	apply func(*sendOptions)
}

type sendOptions struct {
	delay    time.Duration
	hasDelay bool
	headers  []Header
	err      error
}

// WithDelay delays the delivery of the messages by d (0 to
// MaxMessageDelay, kept to the millisecond), replacing the queue's
// default delay. It is sent as the DelayHeader header.
func WithDelay(d time.Duration) SendOption {
	return SendOption{func(o *sendOptions) {
		if d < 0 || d > MaxMessageDelay {
			o.err = &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("delay %v outside [0, %v]", d, MaxMessageDelay)}
		}
		o.delay, o.hasDelay = d, true
	}}
}

// WithHeaders adds headers to the messages (after their own).
func WithHeaders(hs ...Header) SendOption {
	return SendOption{func(o *sendOptions) { o.headers = append(o.headers, hs...) }}
}

// headersOf returns the headers to send for a message with own
// headers: them, the WithHeaders ones, and the delay.
func (o *sendOptions) headersOf(own []Header) []Header {
	if len(o.headers) == 0 && !o.hasDelay {
		return own
	}
	out := make([]Header, 0, len(own)+len(o.headers)+1)
	for _, h := range append(own[:len(own):len(own)], o.headers...) {
		if !o.hasDelay || h.Key != DelayHeader {
			out = append(out, h)
		}
	}
	if o.hasDelay {
		out = append(out, Header{Key: DelayHeader, Value: []byte(strconv.FormatInt(o.delay.Milliseconds(), 10))})
	}
	return out
}

// queueState is the queue machinery of a Client: the streams of the
// queues it used, the producer that sends messages, and the turn that
// rotates the partition Receive starts at. The zero value is ready.
type queueState struct {
	turn atomic.Uint32

	mu     sync.Mutex
	routes map[string]queueRoute // by queue name; Protected by mu.

	sender struct {
		sync.Mutex
		closed bool
		p      *Producer // made on first use
	}
}

// queueRoute is the stream of a queue, as learnt at a time. Entries
// older than MetadataMaxAge are looked up again (a queue deleted and
// created again may view another stream).
type queueRoute struct {
	stream string
	at     time.Time
}

func (q *queueState) put(name, stream string) {
	if name == "" || stream == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.routes == nil {
		q.routes = map[string]queueRoute{}
	}
	q.routes[name] = queueRoute{stream: stream, at: time.Now()}
}

func (q *queueState) get(name string, maxAge time.Duration) (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.routes[name]
	if !ok || time.Since(r.at) > maxAge {
		return "", false
	}
	return r.stream, true
}

func (q *queueState) forget(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.routes, name)
}

// producer returns the producer of SendMessage, making it on first use.
func (q *queueState) producer(c *Client) (*Producer, error) {
	q.sender.Lock()
	defer q.sender.Unlock()
	if q.sender.closed {
		return nil, ErrClosed
	}
	if q.sender.p == nil {
		// Send at once: SendMessage waits for the result, and batches
		// form anyway while earlier ones are in flight.
		p, err := c.NewProducer(ProducerConfig{Linger: -1})
		if err != nil {
			return nil, err
		}
		q.sender.p = p
	}
	return q.sender.p, nil
}

// close closes the producer of SendMessage at once: messages not yet
// acknowledged fail with ErrClosed. Called by Client.Close.
func (q *queueState) close() {
	q.sender.Lock()
	q.sender.closed = true
	p := q.sender.p
	q.sender.Unlock()
	if p != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Close(ctx)
	}
}

// SendMessage sends a message to a queue: it produces a record to the
// queue's stream (routed by key; a nil key takes any partition) and
// waits until it is written or ctx ends. If ctx ends first the error is
// ctx's and the message may still be written. The client keeps
// referring to key and value until then.
func (c *Client) SendMessage(ctx context.Context, queue string, key, value []byte, opts ...SendOption) (RecordResult, error) {
	res, err := c.SendMessages(ctx, queue, []Message{{Key: key, Value: value}}, opts...)
	if err != nil {
		return RecordResult{Partition: AnyPartition, Offset: -1}, err
	}
	return res[0], nil
}

// SendMessages sends messages to a queue, opts applying to each, and
// waits until all are written. The results are in the order of msgs;
// the error is the first failure (or ctx's, with no results). Messages
// are batched per partition.
func (c *Client) SendMessages(ctx context.Context, queue string, msgs []Message, opts ...SendOption) ([]RecordResult, error) {
	var o sendOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	stream, err := c.queueStream(ctx, queue)
	if err != nil {
		return nil, err
	}
	p, err := c.queues.producer(c)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(msgs))
	for i, m := range msgs {
		recs[i] = Record{Stream: stream, Partition: AnyPartition, Key: m.Key, Value: m.Value, Headers: o.headersOf(m.Headers)}
	}
	res, err := p.ProduceSync(ctx, recs...)
	if err != nil {
		if codeOf(err) == CodeUnknownStream {
			c.queues.forget(queue)
		}
		return res, fmt.Errorf("queue %q: %w", queue, err)
	}
	return res, nil
}

func toQueueMessage(queue string, part int32, m *sluicev1.QueueMessage) QueueMessage {
	qm := QueueMessage{Queue: queue, Partition: part, Offset: m.GetOffset(), Timestamp: time.UnixMilli(m.GetTimestampMs()),
		Value: m.GetValue(), Receipt: m.GetReceipt(), ReceiveCount: int(m.GetReceiveCount())}
	if !m.GetKeyNull() {
		qm.Key = m.GetKey()
		if qm.Key == nil {
			qm.Key = []byte{}
		}
	}
	for _, h := range m.GetHeaders() {
		qm.Headers = append(qm.Headers, Header{Key: h.GetKey(), Value: h.GetValue()})
	}
	return qm
}
