package grouptest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/queue"
)

// TestQueueMaxReceivesAcrossFailover: a queue with MaxReceives 2 and a
// dead-letter stream. Three messages are received once; their partition's
// leader stops; they are received again from the new leader with receive
// count 2 (the count survived); the old leader comes back and takes the
// partition again (a second failover); once the leases have ended, the
// next receive moves them to the dead-letter stream (each exactly once,
// with its key, value and headers, and the headers naming the queue and
// where it was) and they are never delivered a third time.
func TestQueueMaxReceivesAcrossFailover(t *testing.T) {
	f := newFixture(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := f.cl.CreateStream(ctx, client.StreamConfig{Name: "dead", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	f.stream = "dead"
	f.waitPreferredLeaders()
	f.stream = "s"
	const visibility = time.Second
	if _, err := f.cl.CreateQueue(ctx, client.QueueConfig{Name: "jobs", Stream: "s", VisibilityTimeout: visibility,
		MaxReceives: 2, DeadLetterStream: "dead"}); err != nil {
		t.Fatal(err)
	}
	var sent []client.Message
	for i := range 3 {
		sent = append(sent, client.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []client.Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	res, err := f.cl.SendMessages(ctx, "jobs", sent)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int64]client.Message{}
	for i, r := range res {
		offsets[r.Offset] = sent[i]
	}

	// receive takes the three messages (none acked) and checks that each
	// has the receive count want.
	receive := func(what string, want int) {
		t.Helper()
		got := map[int64]client.QueueMessage{}
		waitUntil(t, 30*time.Second, what, func() bool {
			msgs, err := f.cl.Receive(ctx, "jobs", 10, 500*time.Millisecond)
			if err != nil {
				t.Logf("%s: %v (retrying)", what, err)
			}
			for _, m := range msgs {
				if _, dup := got[m.Offset]; dup {
					t.Fatalf("%s: offset %d delivered twice", what, m.Offset)
				}
				got[m.Offset] = m
			}
			return len(got) >= len(sent)
		})
		for off, m := range got {
			s, ok := offsets[off]
			switch {
			case !ok:
				t.Errorf("%s: offset %d was not sent", what, off)
			case string(m.Value) != string(s.Value):
				t.Errorf("%s: offset %d has value %q, sent %q", what, off, m.Value, s.Value)
			case m.ReceiveCount != want:
				t.Errorf("%s: offset %d has receive count %d, want %d", what, off, m.ReceiveCount, want)
			}
		}
	}
	receive("first receive", 1)

	groups, leaders := f.leaders()
	old := leaders[0]
	f.c.Stop(t, old)
	if next := f.c.PartitionLeader(t, groups[0]); next == old {
		t.Fatalf("node %d still leads after it stopped", old)
	}
	receive("receive after the failover", 2)

	// The old leader comes back and takes its partition again: another
	// new leader, with no leases.
	f.c.Restart(t, old)
	f.waitPreferredLeaders()

	// The leases end (if the new leader had them); the next receive moves
	// the messages to the dead-letter stream instead of delivering them.
	dl, err := f.cl.NewConsumer(client.ConsumerConfig{MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if err := dl.Assign(ctx, "dead", nil, client.Earliest()); err != nil {
		t.Fatal(err)
	}
	var dead []client.Record
	third := func() {
		msgs, err := f.cl.Receive(ctx, "jobs", 10, 500*time.Millisecond)
		if err != nil {
			t.Logf("receive: %v (retrying)", err)
		}
		for _, m := range msgs {
			t.Errorf("offset %d delivered a third time (receive count %d) with max receives 2", m.Offset, m.ReceiveCount)
		}
	}
	waitUntil(t, 30*time.Second, "the messages in the dead-letter stream", func() bool {
		third()
		pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		recs, err := dl.Poll(pctx)
		pcancel()
		if err != nil && pctx.Err() == nil {
			t.Fatalf("reading the dead-letter stream: %v", err)
		}
		dead = append(dead, recs...)
		return len(dead) >= len(sent)
	})
	// Not a third delivery either after more than two leases' time (a
	// long poll, not a sleep).
	msgs, err := f.cl.Receive(ctx, "jobs", 10, 2*visibility+500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		t.Errorf("offset %d delivered a third time (receive count %d) after it was dead-lettered", m.Offset, m.ReceiveCount)
	}
	f.waitDrained("jobs", 10*time.Second)

	// The dead-letter stream holds each message once, as it was sent,
	// with the queue's name and the message's place added.
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	more, _ := dl.Poll(pctx)
	pcancel()
	dead = append(dead, more...)
	want := make([]string, 0, len(sent))
	for off, m := range offsets {
		hs := append(slices.Clone(m.Headers), client.Header{Key: queue.DeadLetterQueueHeader, Value: []byte("jobs")},
			client.Header{Key: queue.DeadLetterSourceHeader, Value: fmt.Appendf(nil, "s/0/%d", off)})
		want = append(want, recordText(m.Key, m.Value, hs))
	}
	got := make([]string, 0, len(dead))
	for _, r := range dead {
		got = append(got, recordText(r.Key, r.Value, r.Headers))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("dead-letter stream holds %q, want %q", got, want)
	}
	info, err := f.cl.DescribeStream(ctx, "dead")
	if err != nil {
		t.Fatal(err)
	}
	if hw := info.Partitions[0].HighWatermark; hw != int64(len(sent)) {
		t.Errorf("dead-letter stream's high watermark %d, want %d (each message once)", hw, len(sent))
	}
}

// recordText prints a record's key, value and headers.
func recordText(key, value []byte, hs []client.Header) string {
	b := fmt.Appendf(nil, "%q=%q", key, value)
	for _, h := range hs {
		b = fmt.Appendf(b, " %s:%q", h.Key, h.Value)
	}
	return string(b)
}
