package rpc

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/queue"
)

// TestQueueAPI walks a queue through the API: create (with its stream),
// send by producing, receive (a long poll woken by the send), ack, nack,
// dead-lettering at max receives, the errors of bad input, and a leader
// failover, after which acked messages stay acked and the one in flight
// is delivered again.
func TestQueueAPI(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, 2*time.Minute)
	api := c.api(0)
	c.createStream(0, "dead", 1, 3)
	c.createStream(0, "jobs", 1, 3)
	c.createQueue(0, &sluicev1.Queue{Name: "jobs", Stream: "jobs", VisibilityTimeoutMs: 1000, MaxReceives: 2, DeadLetterStream: "dead"})
	lead := c.partitionLeader("jobs", 0)
	qapi := c.api(lead)
	// send and receive ride out an election on a loaded machine, on
	// whichever node leads then: send as an idempotent producer (a retry
	// after an unknown outcome is written once), receive retrying answers
	// that did nothing.
	var ip *sluicev1.InitProducerResponse
	if err := retry(t, func() (err error) {
		ip, err = api.InitProducer(ctx, &sluicev1.InitProducerRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var seq int32
	send := func(n int) {
		t.Helper()
		b := records(t, 0, n, batch.EncodeOptions{ProducerID: ip.GetProducerId(), BaseSequence: seq})
		var err error
		waitFor(t, 20*time.Second, "a produce to jobs", func() bool {
			_, err = c.api(c.partitionLeader("jobs", 0)).Produce(ctx, &sluicev1.ProduceRequest{Stream: "jobs", Batch: b})
			return !nothingDone(err) && detailOf(err).GetCode() != sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN
		})
		if err != nil {
			t.Fatal(err)
		}
		seq += int32(n)
	}
	receive := func(max, waitMs int32) []*sluicev1.QueueMessage {
		t.Helper()
		var resp *sluicev1.ReceiveMessagesResponse
		if err := c.onLeader("jobs", 0, func(api sluicev1.SluiceClient) (err error) {
			resp, err = api.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Max: max, WaitMs: waitMs})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return resp.GetMessages()
	}

	// A long poll returns when a message is sent.
	got := make(chan []*sluicev1.QueueMessage, 1)
	go func() {
		resp, err := qapi.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Max: 10, WaitMs: 10000})
		if err != nil {
			t.Error(err)
		}
		got <- resp.GetMessages()
	}()
	send(3)
	first := <-got
	if len(first) != 3 || first[0].GetReceiveCount() != 1 || first[0].GetReceipt() == "" {
		t.Fatalf("long poll got %v", first)
	}
	// Ack one, nack one at once, let one expire.
	ack, err := qapi.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: "jobs", Receipts: []string{first[0].GetReceipt()}})
	if err != nil || ack.GetResults()[0].GetError() != nil {
		t.Fatalf("ack: %v %v", ack, err)
	}
	nack, err := qapi.NackMessages(ctx, &sluicev1.NackMessagesRequest{Queue: "jobs", Receipts: []string{first[1].GetReceipt()}})
	if err != nil || nack.GetResults()[0].GetError() != nil {
		t.Fatalf("nack: %v %v", nack, err)
	}
	// Offset 1 is visible again at once (offset 2 too, if its 1 s lease
	// ended meanwhile on a slow machine).
	var late []*sluicev1.QueueMessage
	for _, m := range receive(10, 0) {
		switch {
		case m.GetOffset() == 1 && m.GetReceiveCount() == 2:
		case m.GetOffset() == 2:
			late = append(late, m)
		default:
			t.Fatalf("after the nack: offset %d, receive count %d", m.GetOffset(), m.GetReceiveCount())
		}
	}
	// Offset 2's lease ends after 1 s; a waiting receive gets it then.
	if len(late) == 0 {
		late = receive(10, 5000)
	}
	if len(late) != 1 || late[0].GetOffset() != 2 {
		t.Fatalf("after the visibility timeout: %v", late)
	}
	// Done with offset 2: left in flight, it would reach its second
	// expiry and be dead-lettered at some point of what follows, which
	// counts the dead letters.
	if err := c.onLeader("jobs", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: "jobs", Receipts: []string{late[0].GetReceipt()}})
		if err == nil && resp.GetResults()[0].GetError() != nil {
			t.Errorf("ack of offset 2: %v", resp)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Offset 1 was received twice: at the next expiry it is dead-lettered.
	waitFor(t, 10*time.Second, "offset 1 in the dead-letter stream", func() bool {
		receive(10, 0)
		var hw int64 = -1
		_ = c.onLeader("dead", 0, func(api sluicev1.SluiceClient) error {
			resp, err := api.ListOffsets(ctx, &sluicev1.ListOffsetsRequest{Stream: "dead", Spec: sluicev1.OffsetSpec_OFFSET_SPEC_LATEST})
			hw = resp.GetOffset()
			return err
		})
		return hw == 1
	})

	// The dead letter names its queue and source; the queue's
	// description counts it; redrive writes it back as a new message.
	var dead []batch.Record
	if err := c.onLeader("dead", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.Fetch(ctx, &sluicev1.FetchRequest{Stream: "dead", Offset: 0, MaxBytes: 1 << 20})
		if err == nil {
			dead, err = batch.DecodeRecords(resp.GetBatches(), nil, 1<<20)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || header(dead[0], queue.DeadLetterQueueHeader) != "jobs" || header(dead[0], queue.DeadLetterSourceHeader) != "jobs/0/1" {
		t.Fatalf("dead letter %+v", dead)
	}
	if err := c.onLeader("dead", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.DescribeQueue(ctx, &sluicev1.DescribeQueueRequest{Name: "jobs"})
		if d := resp.GetDeadLetterPartitions(); err == nil && (len(d) != 1 || d[0].GetMessages() != 1) {
			t.Errorf("dead-letter stats %v, want 1 message", d)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.onLeader("dead", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "jobs"})
		if err == nil && (resp.GetMoved() != 1 || resp.GetRemaining() != 0) {
			t.Errorf("redrive: %v, want 1 moved, 0 remaining", resp)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	back := receive(10, 5000)
	if len(back) != 1 || back[0].GetOffset() != 3 || back[0].GetReceiveCount() != 1 || string(back[0].GetValue()) != string(dead[0].Value) ||
		len(back[0].GetHeaders()) != len(dead[0].Headers)-2 {
		t.Fatalf("after the redrive: %v, want the dead letter again at offset 3, received once, without the dead-letter headers", back)
	}
	if _, err := qapi.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: "jobs", Receipts: []string{back[0].GetReceipt()}}); err != nil {
		t.Fatal(err)
	}
	if err := c.onLeader("dead", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "jobs"})
		if err == nil && resp.GetMoved() != 0 {
			t.Errorf("a second redrive moved %d", resp.GetMoved())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.createQueue(0, &sluicev1.Queue{Name: "plain", Stream: "jobs"})
	if _, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{CreateStream: true, Partitions: 2, RetentionMs: 3600000,
		Queue: &sluicev1.Queue{Name: "kept", Stream: "kept"}}); err != nil {
		t.Fatal(err)
	}
	if d, err := api.DescribeStream(ctx, &sluicev1.DescribeStreamRequest{Name: "kept"}); err != nil ||
		d.GetStream().GetRetentionMs() != 3600000 || len(d.GetStream().GetPartitions()) != 2 {
		t.Fatalf("the stream a queue with retention created: %v, %v", d, err)
	}

	bad := []struct {
		name string
		call func() error
		want sluicev1.ErrorCode
	}{
		{"receive from an unknown queue", func() error {
			_, err := qapi.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "nope", Max: 1})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE},
		{"receive zero", func() error {
			_, err := qapi.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs"})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"wait too long", func() error {
			_, err := qapi.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Max: 1, WaitMs: 60000})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"ack a garbage receipt", func() error {
			resp, err := qapi.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: "jobs", Receipts: []string{"garbage"}})
			if err == nil {
				return statusOf(resp.GetResults()[0])
			}
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_RECEIPT},
		{"nack too long", func() error {
			resp, err := qapi.NackMessages(ctx, &sluicev1.NackMessagesRequest{Queue: "jobs", Receipts: []string{late[0].GetReceipt()}, DelayMs: 3600000})
			if err == nil {
				return statusOf(resp.GetResults()[0])
			}
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"create an existing queue", func() error {
			_, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{Queue: &sluicev1.Queue{Name: "jobs", Stream: "jobs"}})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_QUEUE_EXISTS},
		{"create with a bad filter", func() error {
			_, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{Queue: &sluicev1.Queue{Name: "f", Stream: "jobs", Filter: `{"key": [{"regex": "x"}]}`}})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"queue retention for an existing stream", func() error {
			_, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{CreateStream: true, RetentionMs: 1000,
				Queue: &sluicev1.Queue{Name: "r1", Stream: "jobs"}})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"queue retention without create_stream", func() error {
			_, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{RetentionMs: 1000, Queue: &sluicev1.Queue{Name: "r2", Stream: "r2"}})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"negative queue retention", func() error {
			_, err := api.CreateQueue(ctx, &sluicev1.CreateQueueRequest{CreateStream: true, RetentionMs: -1, Queue: &sluicev1.Queue{Name: "r3", Stream: "r3"}})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"redrive a queue without a dead-letter stream", func() error {
			_, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "plain"})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"redrive an unknown queue", func() error {
			_, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "nope"})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE},
		{"redrive too many", func() error {
			_, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "jobs", Max: 1 << 30})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
		{"redrive from a partition the dead-letter stream lacks", func() error {
			_, err := api.RedriveQueue(ctx, &sluicev1.RedriveQueueRequest{Queue: "jobs", Partition: 5})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_PARTITION},
		{"delete a stream a queue uses", func() error {
			_, err := api.DeleteStream(ctx, &sluicev1.DeleteStreamRequest{Name: "jobs"})
			return err
		}, sluicev1.ErrorCode_ERROR_CODE_STREAM_IN_USE},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			got := codeOf(err)
			if de, ok := err.(detailError); ok {
				got = de.d.GetCode()
			}
			if got != tc.want {
				t.Errorf("code %v, want %v", got, tc.want)
			}
		})
	}

	// Purge: what was sent before is gone; an unknown queue is refused.
	if _, err := qapi.PurgeQueue(ctx, &sluicev1.PurgeQueueRequest{Queue: "nope"}); codeOf(err) != sluicev1.ErrorCode_ERROR_CODE_UNKNOWN_QUEUE {
		t.Errorf("purge of an unknown queue: %v", err)
	}
	send(2) // offsets 4 and 5
	purged, err := qapi.PurgeQueue(ctx, &sluicev1.PurgeQueueRequest{Queue: "jobs"})
	if err != nil || purged.GetPurged() < 2 {
		t.Fatalf("purge: %v %v", purged, err)
	}
	if got := receive(10, 0); len(got) != 0 {
		t.Fatalf("after the purge: %v", got)
	}

	// Failover: offset 6 is in flight, the rest done. A new leader forgets
	// the lease (6 comes again, at once) and keeps the rest done.
	send(1) // offset 6
	inFlight := receive(10, 0)
	c.kill(lead)
	// The new leader may still hand leadership on (to the preferred
	// leader): receive from whoever leads, as a client does.
	var offs []int64
	if err := c.onLeader("jobs", 0, func(api sluicev1.SluiceClient) error {
		resp, err := api.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Max: 10})
		for _, m := range resp.GetMessages() {
			offs = append(offs, m.GetOffset())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || offs[0] != 6 {
		t.Fatalf("after the failover: %v, want the in-flight 6 again (in flight before: %d messages)", offs, len(inFlight))
	}
	for _, o := range offs {
		if o < 6 {
			t.Errorf("offset %d came back after the failover: it was acked, dead-lettered or purged", o)
		}
	}
}

// statusOf turns a per-receipt error into a status error for codeOf.
func statusOf(r *sluicev1.ReceiptResult) error {
	if r.GetError() == nil {
		return nil
	}
	return detailError{r.GetError()}
}

func header(r batch.Record, name string) string {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

type detailError struct{ d *sluicev1.ErrorDetail }

func (e detailError) Error() string { return e.d.GetCode().String() }

// TestQueueMetrics checks the queue gauges on the partition leader's
// /metrics.
func TestQueueMetrics(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.waitReady()
	ctx := testCtx(t, time.Minute)
	c.createStream(0, "jobs", 1, 3)
	c.createQueue(0, &sluicev1.Queue{Name: "jobs", Stream: "jobs"})
	lead := c.partitionLeader("jobs", 0)
	api := c.api(lead)
	if _, err := api.Produce(ctx, &sluicev1.ProduceRequest{Stream: "jobs", Batch: records(t, 0, 5, plain)}); err != nil {
		t.Fatal(err)
	}
	resp, err := api.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Max: 2})
	if err != nil || len(resp.GetMessages()) != 2 {
		t.Fatalf("receive: %v %v", resp, err)
	}
	if _, err := api.AckMessages(ctx, &sluicev1.AckMessagesRequest{Queue: "jobs", Receipts: []string{resp.GetMessages()[0].GetReceipt()}}); err != nil {
		t.Fatal(err)
	}
	_, body := httpGet(t, "http://"+c.https[lead]+"/metrics")
	for _, want := range []string{
		`sluice_queue_pending{index="0",queue="jobs",stream="jobs"} 4`,
		`sluice_queue_in_flight{index="0",queue="jobs",stream="jobs"} 1`,
		`sluice_queue_floor{index="0",queue="jobs",stream="jobs"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
