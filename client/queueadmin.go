package client

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// QueueConfig describes a queue to create: an SQS-style view over a
// stream, or (Subscription) a topic subscription, which is the same
// thing listed apart. Durations are kept to the millisecond; the server
// checks the ranges.
type QueueConfig struct {
	Name string
	// Stream is the stream the queue delivers; "" is the stream named
	// like the queue. Several queues may view one stream, each with its
	// own acknowledgements.
	Stream string
	// VisibilityTimeout is how long a received message stays invisible
	// unless it is acknowledged, nacked or extended (0: the server's
	// default, 30s; at most 12h).
	VisibilityTimeout time.Duration
	// MaxReceives moves a message received this often to
	// DeadLetterStream at its next receive (0: unlimited).
	MaxReceives      int
	DeadLetterStream string
	// Delay delays the first delivery of every message (at most 15 min);
	// a message's own delay (WithDelay) replaces it.
	Delay time.Duration
	// FIFO delivers the messages of a key in order, one in flight at a
	// time.
	FIFO bool
	// Filter is an SNS-style filter policy (JSON) over the records' keys
	// and headers, such as {"headers.type": ["order"], "key":
	// [{"prefix": "eu-"}]} (the fields are "key" and "headers.NAME"; see
	// package consumergroup's Filter); "" delivers every record.
	Filter string
	// Subscription marks a topic subscription (for listing).
	Subscription bool
	// Cursor makes a subscription that is read in order through a
	// cursor, Kafka-style, instead of per-message acks: the consumer
	// group named like the subscription, with ConsumerConfig.Filter set
	// to its Filter (the server drops what the filter rejects). It needs
	// Subscription and none of FIFO, MaxReceives, DeadLetterStream and
	// Delay.
	Cursor bool
	// CreateStream creates Stream, with Partitions partitions (0: 1),
	// when it does not exist.
	CreateStream bool
	Partitions   int
	// Retention is the retention of the stream CreateStream creates
	// (0: unlimited): older messages are deleted, and so done, as SQS's
	// message retention period. The server refuses it for a stream that
	// exists.
	Retention time.Duration
}

// QueueInfo describes a queue.
type QueueInfo struct {
	Name              string
	Stream            string
	VisibilityTimeout time.Duration
	MaxReceives       int // 0: unlimited
	DeadLetterStream  string
	Delay             time.Duration
	FIFO              bool
	Filter            string // the server's canonical text; "" every record
	Subscription      bool
	Cursor            bool // read through the consumer group of its name (see QueueConfig.Cursor)
	CreatedAt         time.Time
	// Partitions are filled by DescribeQueue, one per partition of the
	// stream, in order.
	Partitions []QueuePartitionStats
	// DeadLetter is filled by DescribeQueue, one per partition of the
	// dead-letter stream, in order: the queue's messages there that were
	// not redriven.
	DeadLetter []DeadLetterStats
}

// DeadLetterStats counts a queue's dead-lettered messages in one
// partition of its dead-letter stream (not redriven yet).
type DeadLetterStats struct {
	Partition int32
	Messages  int64 // -1 when the partition's leader did not answer
	// Approximate: the leader looked at the first part of the partition
	// only (see QueuePartitionStats.Approximate).
	Approximate bool
}

// QueuePartitionStats is a queue's state in one partition, as its leader
// sees it. Every field but Partition is -1 when the leader did not
// answer.
type QueuePartitionStats struct {
	Partition int32
	// Floor: every offset below it is done (acknowledged, dead-lettered
	// or removed by retention).
	Floor         int64
	HighWatermark int64
	// Pending counts the messages not done: visible, in flight or
	// delayed.
	Pending int64
	// InFlight counts the leases held now.
	InFlight int64
	// Visible counts the pending messages that may be received now, and
	// Delayed those before their delivery delay ends or held back by a
	// nack.
	Visible, Delayed int64
	// Oldest is the timestamp of the oldest pending message; zero when
	// none is.
	Oldest time.Time
	// Approximate: the leader looked at the first part of the pending
	// records only (4 MiB of log), and counted the rest as visible.
	Approximate bool
}

// validate checks what is wrong whatever the server's limits, and fills
// the stream's name.
func (cfg QueueConfig) validate() (QueueConfig, error) {
	bad := func(format string, args ...any) (QueueConfig, error) {
		return cfg, &Error{Code: CodeInvalidArgument, Msg: fmt.Sprintf("queue %q: ", cfg.Name) + fmt.Sprintf(format, args...)}
	}
	if cfg.Name == "" {
		return cfg, &Error{Code: CodeInvalidArgument, Msg: "empty queue name"}
	}
	if cfg.Stream == "" {
		cfg.Stream = cfg.Name
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"visibility timeout", cfg.VisibilityTimeout}, {"delay", cfg.Delay}} {
		if d.d < 0 || d.d > 0 && d.d < time.Millisecond {
			return bad("%s %v: want 0 or at least 1ms", d.name, d.d)
		}
	}
	switch {
	case cfg.MaxReceives < 0:
		return bad("negative max receives %d", cfg.MaxReceives)
	case cfg.Partitions < 0:
		return bad("negative partitions %d", cfg.Partitions)
	case cfg.Partitions > 0 && !cfg.CreateStream:
		return bad("partitions %d without CreateStream", cfg.Partitions)
	case cfg.Retention != 0 && !cfg.CreateStream:
		return bad("retention %v without CreateStream", cfg.Retention)
	case cfg.Retention < 0 || cfg.Retention > 0 && cfg.Retention < time.Millisecond:
		return bad("retention %v: want 0 (unlimited) or at least 1ms", cfg.Retention)
	case cfg.DeadLetterStream != "" && cfg.DeadLetterStream == cfg.Stream:
		return bad("the dead-letter stream is the queue's stream %q", cfg.Stream)
	}
	return cfg, nil
}

// CreateQueue creates a queue (and its stream, with CreateStream). It
// fails with ErrQueueExists when the name is taken, ErrUnknownStream
// when the stream or the dead-letter stream does not exist, and
// ErrInvalidArgument for settings out of range.
func (c *Client) CreateQueue(ctx context.Context, cfg QueueConfig) (QueueInfo, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return QueueInfo{}, err
	}
	req := &sluicev1.CreateQueueRequest{
		Queue: &sluicev1.Queue{Name: cfg.Name, Stream: cfg.Stream, VisibilityTimeoutMs: cfg.VisibilityTimeout.Milliseconds(),
			MaxReceives: int32(cfg.MaxReceives), DeadLetterStream: cfg.DeadLetterStream, DelayMs: cfg.Delay.Milliseconds(),
			Fifo: cfg.FIFO, Filter: cfg.Filter, Subscription: cfg.Subscription, Cursor: cfg.Cursor},
		CreateStream: cfg.CreateStream, Partitions: int32(cfg.Partitions), RetentionMs: cfg.Retention.Milliseconds(),
	}
	var resp *sluicev1.CreateQueueResponse
	var found QueueInfo
	err = c.create(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.CreateQueue(ctx, req)
		return err
	}, CodeQueueExists, func(ctx context.Context) bool {
		info, err := c.DescribeQueue(ctx, cfg.Name)
		info.Partitions, info.DeadLetter = nil, nil // as CreateQueue answers
		found = info
		return err == nil && sameQueue(info, cfg)
	})
	if err != nil {
		return QueueInfo{}, err
	}
	if resp == nil {
		return found, nil
	}
	info := toQueueInfo(resp.GetQueue())
	c.queues.put(info.Name, info.Stream)
	return info, nil
}

// defaultVisibility is the server's visibility timeout for a queue
// created without one.
const defaultVisibility = 30 * time.Second

// sameQueue reports whether q has the settings cfg (validated) asks for.
func sameQueue(q QueueInfo, cfg QueueConfig) bool {
	vis := cfg.VisibilityTimeout
	if vis == 0 {
		vis = defaultVisibility
	}
	ms := func(d time.Duration) time.Duration { return d.Truncate(time.Millisecond) }
	return q.Stream == cfg.Stream && ms(q.VisibilityTimeout) == ms(vis) && q.MaxReceives == cfg.MaxReceives &&
		q.DeadLetterStream == cfg.DeadLetterStream && ms(q.Delay) == ms(cfg.Delay) && q.FIFO == cfg.FIFO &&
		q.Subscription == cfg.Subscription && q.Cursor == cfg.Cursor && sameFilter(q.Filter, cfg.Filter)
}

// sameFilter reports whether two filter texts are the same JSON ("" and
// "{}" both match everything); the server keeps its canonical text, with
// sorted fields and no spaces.
func sameFilter(a, b string) bool {
	parse := func(s string) (map[string]any, bool) {
		m := map[string]any{}
		if strings.TrimSpace(s) == "" {
			return m, true
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		return m, dec.Decode(&m) == nil
	}
	ma, oka := parse(a)
	mb, okb := parse(b)
	return oka && okb && reflect.DeepEqual(ma, mb)
}

// DeleteQueue deletes a queue's definition (the stream and its records
// stay). It fails with ErrUnknownQueue when there is no such queue.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) error {
		_, err := api.DeleteQueue(ctx, &sluicev1.DeleteQueueRequest{Name: name})
		return err
	})
	c.queues.forget(name)
	return err
}

// ListQueues returns every queue and subscription, without partition
// statistics.
func (c *Client) ListQueues(ctx context.Context) ([]QueueInfo, error) {
	var resp *sluicev1.ListQueuesResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.ListQueues(ctx, &sluicev1.ListQueuesRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, 0, len(resp.GetQueues()))
	for _, q := range resp.GetQueues() {
		info := toQueueInfo(q)
		c.queues.put(info.Name, info.Stream)
		out = append(out, info)
	}
	return out, nil
}

// DescribeQueue returns a queue with its state in each partition. A node
// knows the state of the partitions it leads only, so the partitions the
// answering node left unknown are asked of their leaders (in parallel);
// a partition whose leader does not answer has its statistics at -1. It
// fails with ErrUnknownQueue when there is no such queue.
func (c *Client) DescribeQueue(ctx context.Context, name string) (QueueInfo, error) {
	var resp *sluicev1.DescribeQueueResponse
	err := c.admin(ctx, func(ctx context.Context, api sluicev1.SluiceClient) (err error) {
		resp, err = api.DescribeQueue(ctx, &sluicev1.DescribeQueueRequest{Name: name})
		return err
	})
	if err != nil {
		if codeOf(err) == CodeUnknownQueue {
			c.queues.forget(name)
		}
		return QueueInfo{}, err
	}
	info := toQueueInfo(resp.GetQueue())
	c.queues.put(info.Name, info.Stream)
	for _, p := range resp.GetPartitions() {
		info.Partitions = append(info.Partitions, toQueueStats(p))
	}
	for _, p := range resp.GetDeadLetterPartitions() {
		info.DeadLetter = append(info.DeadLetter, toDeadLetterStats(p))
	}
	c.fillQueueStats(ctx, &info)
	return info, nil
}

// fillQueueStats asks the leaders of the partitions whose statistics are
// unknown for them, those of the queue's stream and of its dead-letter
// stream.
func (c *Client) fillQueueStats(ctx context.Context, info *QueueInfo) {
	c.fillFromLeaders(ctx, info.Name, info.Stream, func() []int32 {
		var out []int32
		for _, p := range info.Partitions {
			if p.Floor < 0 {
				out = append(out, p.Partition)
			}
		}
		return out
	}, func(resp *sluicev1.DescribeQueueResponse) {
		got := map[int32]QueuePartitionStats{}
		for _, p := range resp.GetPartitions() {
			got[p.GetPartition()] = toQueueStats(p)
		}
		for i, p := range info.Partitions {
			if s, ok := got[p.Partition]; ok && p.Floor < 0 && s.Floor >= 0 {
				info.Partitions[i] = s
			}
		}
	})
	if info.DeadLetterStream == "" {
		return
	}
	c.fillFromLeaders(ctx, info.Name, info.DeadLetterStream, func() []int32 {
		var out []int32
		for _, p := range info.DeadLetter {
			if p.Messages < 0 {
				out = append(out, p.Partition)
			}
		}
		return out
	}, func(resp *sluicev1.DescribeQueueResponse) {
		got := map[int32]DeadLetterStats{}
		for _, p := range resp.GetDeadLetterPartitions() {
			got[p.GetPartition()] = toDeadLetterStats(p)
		}
		for i, p := range info.DeadLetter {
			if s, ok := got[p.Partition]; ok && p.Messages < 0 && s.Messages >= 0 {
				info.DeadLetter[i] = s
			}
		}
	})
}

// fillFromLeaders asks the leaders of stream's partitions that need()
// lists to describe queue name, one request per leader, in parallel, and
// gives each answer to take (one at a time): a node knows the partitions
// it leads. It tries once more after refreshing the routing for those
// still needed (a leader that moved); what no leader answers stays
// unknown.
func (c *Client) fillFromLeaders(ctx context.Context, name, stream string, need func() []int32,
	take func(*sluicev1.DescribeQueueResponse)) {
	asked := map[string]bool{}
	for pass := 0; pass < 2; pass++ {
		parts := need()
		if len(parts) == 0 {
			return
		}
		var err error
		if pass == 0 {
			_, err = c.stream(ctx, stream)
		} else {
			err = c.refresh(ctx, stream)
		}
		if err != nil {
			return // no routing: the statistics stay unknown
		}
		var leaders []string
		for _, p := range parts {
			if addr := c.leaderAddr(stream, p); addr != "" && !asked[addr] {
				leaders, asked[addr] = append(leaders, addr), true
			}
		}
		if len(leaders) == 0 {
			return
		}
		var mu sync.Mutex // serializes take
		var wg sync.WaitGroup
		for _, addr := range leaders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				api, err := c.api(addr)
				if err != nil {
					return
				}
				actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
				resp, err := api.DescribeQueue(actx, &sluicev1.DescribeQueueRequest{Name: name})
				cancel()
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				take(resp)
			}()
		}
		wg.Wait()
	}
}

func toQueueInfo(q *sluicev1.Queue) QueueInfo {
	info := QueueInfo{Name: q.GetName(), Stream: q.GetStream(),
		VisibilityTimeout: time.Duration(q.GetVisibilityTimeoutMs()) * time.Millisecond, MaxReceives: int(q.GetMaxReceives()),
		DeadLetterStream: q.GetDeadLetterStream(), Delay: time.Duration(q.GetDelayMs()) * time.Millisecond,
		FIFO: q.GetFifo(), Filter: q.GetFilter(), Subscription: q.GetSubscription(), Cursor: q.GetCursor()}
	if ms := q.GetCreatedAtMs(); ms > 0 {
		info.CreatedAt = time.UnixMilli(ms)
	}
	return info
}

func toQueueStats(p *sluicev1.QueuePartitionStats) QueuePartitionStats {
	s := QueuePartitionStats{Partition: p.GetPartition(), Floor: p.GetFloor(), HighWatermark: p.GetHighWatermark(),
		Pending: p.GetPending(), InFlight: p.GetInFlight(), Visible: p.GetVisible(), Delayed: p.GetDelayed(),
		Approximate: p.GetApproximate()}
	if ms := p.GetOldestTimestampMs(); ms > 0 {
		s.Oldest = time.UnixMilli(ms)
	}
	if s.Floor < 0 {
		s.Floor, s.HighWatermark, s.Pending, s.InFlight, s.Visible, s.Delayed = -1, -1, -1, -1, -1, -1
	}
	return s
}

func toDeadLetterStats(p *sluicev1.DeadLetterPartitionStats) DeadLetterStats {
	s := DeadLetterStats{Partition: p.GetPartition(), Messages: p.GetMessages(), Approximate: p.GetApproximate()}
	if s.Messages < 0 {
		s.Messages = -1
	}
	return s
}

// queueStream returns the stream of a queue, from the cache or else from
// the cluster's list of queues (one metadata request, which caches every
// queue). It fails with an *Error of CodeUnknownQueue when there is no
// such queue.
func (c *Client) queueStream(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", &Error{Code: CodeInvalidArgument, Msg: "empty queue name"}
	}
	if s, ok := c.queues.get(name, c.cfg.MetadataMaxAge); ok {
		return s, nil
	}
	c.queues.forget(name)
	if _, err := c.ListQueues(ctx); err != nil {
		return "", err
	}
	if s, ok := c.queues.get(name, c.cfg.MetadataMaxAge); ok {
		return s, nil
	}
	return "", unknownQueue(name)
}

func unknownQueue(name string) *Error {
	return &Error{Code: CodeUnknownQueue, Msg: fmt.Sprintf("queue %q does not exist", name)}
}
