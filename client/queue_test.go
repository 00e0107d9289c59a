package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/api/sluicev1"
)

// newQueueFixture starts a fake cluster of nodes with stream "s" of
// parts partitions (leaders round robin) and queue "q" over it.
func newQueueFixture(t *testing.T, nodes, parts int) (*fakeCluster, *Client, context.Context) {
	t.Helper()
	fc := newFakeCluster(t, nodes)
	fc.createStream("s", parts)
	fc.createQueue("q", "s", 30000)
	return fc, newTestClient(t, fc, nil), testCtx(t)
}

// receive calls Receive and fails the test on an error.
func receive(t *testing.T, c *Client, max int, wait time.Duration) []QueueMessage {
	t.Helper()
	msgs, err := c.Receive(testCtx(t), "q", max, wait)
	if err != nil {
		t.Fatalf("Receive(%d, %v): %v", max, wait, err)
	}
	return msgs
}

func msgPartitions(msgs []QueueMessage) []int32 {
	var out []int32
	for _, m := range msgs {
		out = append(out, m.Partition)
	}
	return out
}

func offsetsOf(msgs []QueueMessage) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.Offset)
	}
	return out
}

func TestQueueConfigValidation(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name string
		cfg  QueueConfig
	}{
		{"no name", QueueConfig{Stream: "s"}},
		{"negative visibility", QueueConfig{Name: "q", VisibilityTimeout: -time.Second}},
		{"sub-millisecond visibility", QueueConfig{Name: "q", VisibilityTimeout: time.Microsecond}},
		{"negative delay", QueueConfig{Name: "q", Delay: -1}},
		{"negative max receives", QueueConfig{Name: "q", MaxReceives: -1}},
		{"negative partitions", QueueConfig{Name: "q", CreateStream: true, Partitions: -2}},
		{"partitions without CreateStream", QueueConfig{Name: "q", Partitions: 3}},
		{"dead letters to itself", QueueConfig{Name: "q", DeadLetterStream: "q"}},
		{"retention without CreateStream", QueueConfig{Name: "q", Retention: time.Hour}},
		{"negative retention", QueueConfig{Name: "q", CreateStream: true, Retention: -time.Hour}},
	} {
		_, err := c.CreateQueue(ctx, tc.cfg)
		if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line matching ErrInvalidArgument", tc.name, err)
		}
	}
	if n := fc.calls("CreateQueue"); n != 0 {
		t.Errorf("%d CreateQueue requests sent for invalid configurations", n)
	}
}

func TestQueueAdmin(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)

	// No --stream: the stream is named like the queue and created.
	q, err := c.CreateQueue(ctx, QueueConfig{Name: "jobs", CreateStream: true, Partitions: 3,
		VisibilityTimeout: 45 * time.Second, MaxReceives: 5, Delay: 2 * time.Second, FIFO: true})
	if err != nil {
		t.Fatal(err)
	}
	want := QueueInfo{Name: "jobs", Stream: "jobs", VisibilityTimeout: 45 * time.Second, MaxReceives: 5,
		Delay: 2 * time.Second, FIFO: true, CreatedAt: time.UnixMilli(1700000000000)}
	if !equalQueueInfo(q, want) {
		t.Errorf("CreateQueue: %+v, want %+v", q, want)
	}
	if s, err := c.DescribeStream(ctx, "jobs"); err != nil || len(s.Partitions) != 3 {
		t.Fatalf("the queue's stream: %+v, %v", s, err)
	}
	if _, err := c.CreateQueue(ctx, QueueConfig{Name: "jobs"}); !errors.Is(err, ErrQueueExists) {
		t.Errorf("CreateQueue of a taken name: %v", err)
	}
	if _, err := c.CreateQueue(ctx, QueueConfig{Name: "x", Stream: "nope"}); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("CreateQueue over no stream: %v", err)
	}
	sub, err := c.CreateQueue(ctx, QueueConfig{Name: "audit", Stream: "jobs", Subscription: true, Filter: `{"type":["a"]}`})
	if err != nil || !sub.Subscription || sub.Filter != `{"type":["a"]}` || sub.VisibilityTimeout != 30*time.Second {
		t.Fatalf("subscription: %+v, %v", sub, err)
	}
	list, err := c.ListQueues(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "audit" || list[1].Name != "jobs" || list[1].Partitions != nil {
		t.Fatalf("ListQueues: %+v, %v", list, err)
	}

	// Describe: each partition's state comes from its leader (each node
	// knows only the partitions it leads).
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(3) {
		produceN(t, p, "jobs", part, 0, int(part)+2)
	}
	if err := c.Ack(ctx, receivePart(t, c, "jobs", 0)...); err != nil { // partition 0: 2 acked
		t.Fatal(err)
	}
	receivePart(t, c, "jobs", 1) // partition 1: 3 in flight
	d, err := c.DescribeQueue(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	wantStats := []QueuePartitionStats{
		{Partition: 0, Floor: 2, HighWatermark: 2, Pending: 0, InFlight: 0},
		{Partition: 1, Floor: 0, HighWatermark: 3, Pending: 3, InFlight: 3},
		{Partition: 2, Floor: 0, HighWatermark: 4, Pending: 4, InFlight: 0},
	}
	if !equalQueueInfo(d, want) || !slices.Equal(d.Partitions, wantStats) {
		t.Errorf("DescribeQueue:\n got %+v %+v\nwant %+v", d, d.Partitions, wantStats)
	}
	// A leader that moved is found.
	fc.moveLeader("jobs", 1, 2)
	if d, err = c.DescribeQueue(ctx, "jobs"); err != nil || !slices.Equal(d.Partitions, wantStats) {
		t.Errorf("DescribeQueue after partition 1's leader moved: %+v, %v", d.Partitions, err)
	}
	fc.moveLeader("jobs", 1, 1)
	// A leader that does not answer leaves its partition unknown.
	fc.nodes[2].stop()
	d, err = c.DescribeQueue(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	wantStats[2] = QueuePartitionStats{Partition: 2, Floor: -1, HighWatermark: -1, Pending: -1, InFlight: -1, Visible: -1, Delayed: -1}
	if !slices.Equal(d.Partitions, wantStats) {
		t.Errorf("DescribeQueue with partition 2's leader down: %+v", d.Partitions)
	}

	if err := c.DeleteQueue(ctx, "jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeQueue(ctx, "jobs"); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("DescribeQueue after delete: %v", err)
	}
	if err := c.DeleteQueue(ctx, "jobs"); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("DeleteQueue twice: %v", err)
	}
	if _, err := c.Receive(ctx, "jobs", 1, 0); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Receive from a deleted queue: %v", err)
	}
}

// receivePart receives every message of queue from part (it asks with
// no wait until the partition has given what it has).
func receivePart(t *testing.T, c *Client, queue string, part int32) []QueueMessage {
	t.Helper()
	stream, err := c.queueStream(testCtx(t), queue)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.receiveFrom(testCtx(t), queue, stream, part, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func equalQueueInfo(a, b QueueInfo) bool {
	a.Partitions, b.Partitions = nil, nil
	return a.Name == b.Name && a.Stream == b.Stream && a.VisibilityTimeout == b.VisibilityTimeout &&
		a.MaxReceives == b.MaxReceives && a.DeadLetterStream == b.DeadLetterStream && a.Delay == b.Delay &&
		a.FIFO == b.FIFO && a.Filter == b.Filter && a.Subscription == b.Subscription && a.CreatedAt.Equal(b.CreatedAt)
}

func TestSendMessage(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 2, 2)

	res, err := c.SendMessage(ctx, "q", []byte("k1"), []byte("later"), WithDelay(time.Hour/4),
		WithHeaders(Header{Key: "a", Value: []byte("1")}, Header{Key: DelayHeader, Value: []byte("7")}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stream != "s" || res.Offset != 0 {
		t.Errorf("result %+v", res)
	}
	recs := fc.records("s", res.Partition)
	if len(recs) != 1 || string(recs[0].Key) != "k1" || string(recs[0].Value) != "later" || len(recs[0].Headers) != 2 ||
		recs[0].Headers[0].Key != "a" || string(recs[0].Headers[0].Value) != "1" ||
		recs[0].Headers[1].Key != DelayHeader || string(recs[0].Headers[1].Value) != "900000" {
		t.Errorf("stored record %+v", recs)
	}
	// Delayed: not visible yet.
	if msgs := receive(t, c, 10, 0); len(msgs) != 0 {
		t.Errorf("received a delayed message: %+v", msgs)
	}

	results, err := c.SendMessages(ctx, "q", []Message{{Key: []byte("a"), Value: []byte("1")}, {Value: []byte("2")},
		{Key: []byte("a"), Value: []byte("3"), Headers: []Header{{Key: "h", Value: []byte("x")}}}}, WithDelay(0))
	if err != nil || len(results) != 3 {
		t.Fatalf("SendMessages: %+v, %v", results, err)
	}
	if results[0].Partition != results[2].Partition || results[2].Offset <= results[0].Offset {
		t.Errorf("messages of one key: %+v", results)
	}
	msgs := receive(t, c, 10, 0)
	var values []string
	for _, m := range msgs {
		values = append(values, string(m.Value))
		if m.Queue != "q" || m.Receipt == "" || m.ReceiveCount != 1 || m.Timestamp.IsZero() {
			t.Errorf("message %+v", m)
		}
		if string(m.Value) == "3" && (string(m.Key) != "a" || len(m.Headers) != 2 || m.Headers[0].Key != "h") {
			t.Errorf("message 3: %+v", m)
		}
		if string(m.Value) == "2" && m.Key != nil {
			t.Errorf("message 2 has key %q, want none", m.Key)
		}
	}
	slices.Sort(values)
	if !slices.Equal(values, []string{"1", "2", "3"}) {
		t.Errorf("received %q", values)
	}

	for _, d := range []time.Duration{-time.Millisecond, MaxMessageDelay + time.Millisecond} {
		if _, err := c.SendMessage(ctx, "q", nil, []byte("x"), WithDelay(d)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("WithDelay(%v): %v", d, err)
		}
	}
	if _, err := c.SendMessage(ctx, "nope", nil, []byte("x")); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("SendMessage to no queue: %v", err)
	}
}

// TestReceiveAcrossPartitions: the no-wait round asks each partition in
// turn for what is still missing.
func TestReceiveAcrossPartitions(t *testing.T) {
	t.Parallel()
	fc, c, _ := newQueueFixture(t, 3, 3)
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(3) {
		produceN(t, p, "s", part, 0, 2)
	}
	msgs := receive(t, c, 5, 0)
	if len(msgs) != 5 {
		t.Fatalf("got %d messages, want 5", len(msgs))
	}
	reqs := fc.queueReqs("ReceiveMessages")
	if len(reqs) != 3 {
		t.Fatalf("%d requests: %+v", len(reqs), reqs)
	}
	for i, r := range reqs {
		if want := int32(5 - 2*i); r.Max != want || r.WaitMs != 0 || r.Partition != (reqs[0].Partition+int32(i))%3 {
			t.Errorf("request %d: %+v, want max %d", i, r, want)
		}
		if r.Node != fc.leader("s", r.Partition) {
			t.Errorf("request %d served by node %d, not the leader", i, r.Node)
		}
	}
	if got := receive(t, c, 5, 0); len(got) != 1 || got[0].Partition != reqs[2].Partition {
		t.Errorf("the rest: %+v", got)
	}
	if got := receive(t, c, 5, 0); len(got) != 0 {
		t.Errorf("an empty queue gave %+v", got)
	}
}

// TestReceiveRotates: consecutive receives start at consecutive
// partitions, so one message each comes from each partition in turn.
func TestReceiveRotates(t *testing.T) {
	t.Parallel()
	fc, c, _ := newQueueFixture(t, 1, 3)
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(3) {
		produceN(t, p, "s", part, 0, 3)
	}
	var parts []int32
	for range 6 {
		msgs := receive(t, c, 1, 0)
		if len(msgs) != 1 {
			t.Fatalf("got %d messages", len(msgs))
		}
		parts = append(parts, msgs[0].Partition)
	}
	for i := 1; i < len(parts); i++ {
		if parts[i] != (parts[i-1]+1)%3 {
			t.Fatalf("partitions %v do not rotate", parts)
		}
	}
	if n := len(fc.queueReqs("ReceiveMessages")); n != 6 {
		t.Errorf("%d requests for 6 single receives", n)
	}
}

// TestReceiveLongPoll: with nothing to receive, Receive long-polls every
// partition and returns as soon as a message arrives.
func TestReceiveLongPoll(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 3, 3)
	type result struct {
		msgs []QueueMessage
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		msgs, err := c.Receive(ctx, "q", 10, 15*time.Second)
		done <- result{msgs, err}
	}()
	fc.waitCalls(ctx, "ReceiveMessages", 6) // the no-wait round, then the polls
	if _, err := c.SendMessage(ctx, "q", []byte("k"), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.msgs) != 1 || string(r.msgs[0].Value) != "hello" {
		t.Fatalf("Receive: %+v, %v", r.msgs, r.err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Receive returned after %v, not when the message came", d)
	}
	polls := fc.queueReqs("ReceiveMessages")[3:]
	for _, p := range polls {
		if p.WaitMs <= 0 || p.WaitMs > 15000 || p.Max != 4 { // ceil(10/3)
			t.Errorf("long poll %+v", p)
		}
	}
	// Cancelled polls leased nothing: the message is the only lease.
	var leased int
	for part := range int32(3) {
		leased += len(fc.queueView("q", part).Leased)
	}
	if leased != 1 {
		t.Errorf("%d messages leased, want 1", leased)
	}

	// A quiet long poll ends after its wait with nothing.
	msgs, err := c.Receive(ctx, "q", 1, 50*time.Millisecond)
	if err != nil || len(msgs) != 0 {
		t.Errorf("quiet Receive: %+v, %v", msgs, err)
	}
}

// TestLongPollKeepsNearAnswers: messages that arrive on two partitions
// at once are both returned: the poll of the second is not cancelled the
// moment the first answers (its answer, and the lease in it, would be
// lost, hiding the message for a visibility timeout).
func TestLongPollKeepsNearAnswers(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 2, 2)
	done := make(chan []QueueMessage, 1)
	go func() {
		msgs, err := c.Receive(ctx, "q", 10, 15*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- msgs
	}()
	fc.waitCalls(ctx, "ReceiveMessages", 4) // the no-wait round, then the polls
	p := newTestProducer(t, c, ProducerConfig{Linger: -1})
	for part := range int32(2) {
		p.Produce(ctx, Record{Stream: "s", Partition: part, Value: []byte("m")}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-done
	var leased int
	for part := range int32(2) {
		leased += len(fc.queueView("q", part).Leased)
	}
	if len(got) != leased {
		t.Errorf("Receive returned %d messages, %d are leased: the rest were lost with a cancelled poll", len(got), leased)
	}
}

// TestReceiveNeverMoreThanMax: what the polls bring beyond max is given
// back at once.
func TestReceiveNeverMoreThanMax(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 2, 2)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 3)
	msgs := receive(t, c, 3, 0)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages", len(msgs))
	}
	c.giveBack(ctx, msgs[1:])
	if v := fc.queueView("q", 0); !slices.Equal(v.Leased, []int64{msgs[0].Offset}) {
		t.Errorf("leased after giving back: %v", v.Leased)
	}
	for _, r := range fc.queueReqs("NackMessages") {
		if r.DelayMs != 0 {
			t.Errorf("given back with delay %d", r.DelayMs)
		}
	}
	if got := receive(t, c, 10, 0); !slices.Equal(offsetsOf(got), offsetsOf(msgs[1:])) || got[0].ReceiveCount != 2 {
		t.Errorf("received again %+v", got)
	}

	// End to end: messages arriving in every partition during the
	// polls (each asked for ceil(3/2) = 2) make at most max.
	done := make(chan []QueueMessage, 1)
	before := fc.calls("ReceiveMessages")
	go func() {
		msgs, err := c.Receive(ctx, "q", 3, 15*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- msgs
	}()
	fc.waitCalls(ctx, "ReceiveMessages", before+2+2) // the no-wait round, then the polls
	if _, err := p.ProduceSync(ctx, Record{Stream: "s", Partition: 0, Value: []byte("a")}, Record{Stream: "s", Partition: 0, Value: []byte("b")},
		Record{Stream: "s", Partition: 1, Value: []byte("c")}, Record{Stream: "s", Partition: 1, Value: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; len(got) == 0 || len(got) > 3 {
		t.Errorf("Receive(max 3) returned %d messages", len(got))
	}
}

func TestReceiveErrors(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 3, 3)
	for _, tc := range []struct {
		max  int
		wait time.Duration
	}{{0, 0}, {MaxReceiveMessages + 1, 0}, {1, -time.Millisecond}, {1, MaxReceiveWait + time.Millisecond}} {
		if _, err := c.Receive(ctx, "q", tc.max, tc.wait); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Receive(%d, %v): %v", tc.max, tc.wait, err)
		}
	}
	if _, err := c.Receive(ctx, "nope", 1, 0); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Receive from no queue: %v", err)
	}

	// A partition whose leader is down is skipped.
	p := newTestProducer(t, c, ProducerConfig{})
	for part := range int32(3) {
		produceN(t, p, "s", part, 0, 1)
	}
	fc.nodes[fc.leader("s", 1)].stop()
	msgs, err := c.Receive(ctx, "q", 10, 0)
	got := msgPartitions(msgs)
	if slices.Sort(got); err != nil || !slices.Equal(got, []int32{0, 2}) {
		t.Errorf("Receive with partition 1's leader down: %v, %v", got, err)
	}

	// The queue deleted behind the client's back.
	fc.mu.Lock()
	delete(fc.mu.queues, "q")
	fc.mu.Unlock()
	if _, err := c.Receive(ctx, "q", 1, time.Second); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Receive from a deleted queue: %v", err)
	}
}

// TestAckRouting: acks go to the partition's leader, following a leader
// that moved (with and without a hint).
func TestAckRouting(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 2, 2)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 2)
	produceN(t, p, "s", 1, 0, 2)
	msgs := receive(t, c, 4, 0)
	if len(msgs) != 4 {
		t.Fatalf("got %d messages", len(msgs))
	}
	slices.SortFunc(msgs, func(a, b QueueMessage) int { return int(a.Partition-b.Partition)*10 + int(a.Offset-b.Offset) })
	fc.moveLeader("s", 1, 0)
	if err := c.Ack(ctx, msgs[:3]...); err != nil {
		t.Fatal(err)
	}
	for _, r := range fc.queueReqs("AckMessages") {
		if r.Node != 0 {
			t.Errorf("ack %+v served by node %d, not the leader", r, r.Node)
		}
	}
	if n := len(fc.queueReqs("AckMessages")); n != 2 {
		t.Errorf("%d acks served, want one per partition", n)
	}
	if n := fc.calls("AckMessages"); n != 3 {
		t.Errorf("%d ack requests, want 3 (one to the old leader)", n)
	}

	// No hint: the client refreshes the metadata and tries again.
	fc.moveLeader("s", msgs[3].Partition, 1)
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "AckMessages" && call.N == 3 {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER, NoHint: true}
		}
		return fault{}
	})
	if err := c.Ack(ctx, msgs[3]); err != nil {
		t.Fatal(err)
	}
	for part := range int32(2) {
		if v := fc.queueView("q", part); len(v.Done) != 2 || len(v.Leased) != 0 {
			t.Errorf("partition %d after the acks: %+v", part, v)
		}
	}
	// Acks are idempotent, and a client that knows nothing of the
	// stream yet finds the leaders.
	c2 := newTestClient(t, fc, nil)
	if err := c2.Ack(ctx, msgs...); err != nil {
		t.Errorf("acking again from another client: %v", err)
	}
}

// TestAckPerReceiptRetry: a receipt the leader could not settle for a
// reason a retry may fix (NOT_LEADER in its result) is sent again, alone.
func TestAckPerReceiptRetry(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 2, 1)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 2)
	msgs := receive(t, c, 2, 0)
	fc.setReceiptFault(msgs[1].Receipt, sluicev1.ErrorCode_ERROR_CODE_NOT_LEADER)
	if err := c.Ack(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	reqs := fc.queueReqs("AckMessages")
	if len(reqs) != 2 || len(reqs[0].Receipts) != 2 || !slices.Equal(reqs[1].Receipts, []string{msgs[1].Receipt}) {
		t.Errorf("acks %+v", reqs)
	}
	if v := fc.queueView("q", 0); len(v.Done) != 2 {
		t.Errorf("done %v", v.Done)
	}
}

// TestAckErrors: each failed receipt is a *MessageError naming its
// message; the others are done.
func TestAckErrors(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 1, 2)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 2)
	old := receive(t, c, 2, 0)
	fc.expireLeases("q")
	fresh := receive(t, c, 2, 0)
	if len(old) != 2 || len(fresh) != 2 || fresh[0].ReceiveCount != 2 {
		t.Fatalf("received %+v then %+v", old, fresh)
	}
	err := c.Ack(ctx, fresh[0], old[1], QueueMessage{Queue: "q", Partition: 0, Offset: -1})
	if !errors.Is(err, ErrInvalidReceipt) || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Ack: %v", err)
	}
	var me *MessageError
	if !errors.As(err, &me) || me.Op != "ack" || me.Message.Offset != old[1].Offset || !errors.Is(me, ErrInvalidReceipt) {
		t.Errorf("first failure %+v", me)
	}
	if all := err.(interface{ Unwrap() []error }).Unwrap(); len(all) != 2 {
		t.Errorf("%d failures, want 2", len(all))
	}
	want := fmt.Sprintf(`sluice: ack: queue "q" partition 0 offset %d: invalid receipt`, old[1].Offset)
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, "(2 of 3 messages failed)") ||
		strings.Contains(msg, "\n") {
		t.Errorf("message %q", msg)
	}
	if v := fc.queueView("q", 0); !slices.Equal(v.Done, []int64{fresh[0].Offset}) {
		t.Errorf("done %v, want the valid receipt's", v.Done)
	}
	// A failure of the whole request fails each of its messages.
	if err := c.Ack(ctx, QueueMessage{Queue: "nope", Receipt: "r"}); !errors.Is(err, ErrUnknownQueue) || !errors.As(err, &me) {
		t.Errorf("Ack on no queue: %v", err)
	}
	if err := c.Ack(ctx); err != nil {
		t.Errorf("Ack of nothing: %v", err)
	}
}

func TestNackAndExtend(t *testing.T) {
	t.Parallel()
	fc, c, ctx := newQueueFixture(t, 1, 1)
	p := newTestProducer(t, c, ProducerConfig{})
	produceN(t, p, "s", 0, 0, 1)

	m := receive(t, c, 1, 0)
	if err := c.Nack(ctx, 0, m...); err != nil {
		t.Fatal(err)
	}
	m = receive(t, c, 1, 0)
	if len(m) != 1 || m[0].ReceiveCount != 2 {
		t.Fatalf("after a nack: %+v", m)
	}
	if err := c.Nack(ctx, time.Hour/4, m...); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c, 1, 0); len(got) != 0 {
		t.Errorf("received during the nack delay: %+v", got)
	}
	if r := fc.queueReqs("NackMessages"); len(r) != 2 || r[1].DelayMs != 900000 {
		t.Errorf("nacks %+v", r)
	}
	for _, d := range []time.Duration{-1, MaxMessageDelay + 1} {
		if err := c.Nack(ctx, d, m...); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Nack(%v): %v", d, err)
		}
	}

	fc.mu.Lock()
	clear(fc.mu.queues["q"].part(0).notBefore)
	fc.mu.Unlock()
	m = receive(t, c, 1, 0)
	if err := c.ExtendVisibility(ctx, 5*time.Minute, m...); err != nil {
		t.Fatal(err)
	}
	if r := fc.queueReqs("ExtendMessages"); len(r) != 1 || r[0].VisibilityMs != 300000 {
		t.Errorf("extends %+v", r)
	}
	if err := c.ExtendVisibility(ctx, 0, m...); err != nil { // visible again at once
		t.Fatal(err)
	}
	if got := receive(t, c, 1, 0); len(got) != 1 {
		t.Errorf("after extending to 0: %+v", got)
	}
	if err := c.ExtendVisibility(ctx, time.Minute, m...); !errors.Is(err, ErrInvalidReceipt) {
		t.Errorf("extending a replaced lease: %v", err)
	}
	if err := c.ExtendVisibility(ctx, -time.Second, m...); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative extend: %v", err)
	}
}

// TestQueueNoGoroutinesAfterClose closes the client during a long poll
// and after sends: no goroutine is left.
func TestQueueNoGoroutinesAfterClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the servers stop
	fc := newFakeCluster(t, 2)
	fc.createStream("s", 2)
	fc.createQueue("q", "s", 30000)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)
	if _, err := c.SendMessage(ctx, "q", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(ctx, receive(t, c, 1, 0)...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	before := fc.calls("ReceiveMessages")
	go func() {
		_, err := c.Receive(ctx, "q", 10, 20*time.Second)
		done <- err
	}()
	fc.waitCalls(ctx, "ReceiveMessages", before+2+2)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("Receive cut short by Close did not fail")
	}
	if _, err := c.SendMessage(ctx, "q", nil, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("SendMessage after Close: %v", err)
	}
}

// TestQueueCodes checks the queue codes: wire names, texts and sentinels.
func TestQueueCodes(t *testing.T) {
	for _, tc := range []struct {
		code     Code
		wire     sluicev1.ErrorCode
		name     string
		sentinel error
	}{
		{CodeUnknownQueue, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE, "UNKNOWN_QUEUE", ErrUnknownQueue},
		{CodeQueueExists, sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS, "QUEUE_EXISTS", ErrQueueExists},
		{CodeStreamInUse, sluicev1.ErrorCode_ERROR_CODE_STREAM_IN_USE, "STREAM_IN_USE", ErrStreamInUse},
		{CodeInvalidReceipt, sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT, "INVALID_RECEIPT", ErrInvalidReceipt},
	} {
		if Code(tc.wire) != tc.code || tc.code.String() != tc.name || tc.code.text() == "" || tc.code.text() == tc.name {
			t.Errorf("code %d: name %s, text %q", tc.code, tc.code, tc.code.text())
		}
		err := fakeErr(tc.wire, "m", nil)
		if err = fromRPC(context.Background(), "h", err); !errors.Is(err, tc.sentinel) || errors.Is(err, ErrUnknownStream) ||
			codeOf(err) != tc.code {
			t.Errorf("%s: %v does not match its sentinel alone", tc.name, err)
		}
	}
}
