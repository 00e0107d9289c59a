package grouptest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/consumergroup"
)

// ledger is what the producers and consumers of TestQueueFailoverNoLoss
// saw. Message id i has key "k<i>" and value "m<i>".
type ledger struct {
	replicated bool // the queue replicates receive counts (it has max receives)

	mu         sync.Mutex
	sent       map[int]client.RecordResult // acknowledged sends
	unsure     int                         // sends that failed (they may have been written)
	deliveries map[int][]*delivery         // by message id
	bad        []string
	hold       map[int32]int // partition -> messages still to hold
	held       []*delivery
	errs       map[string]int // "receive CODE", "ack CODE": failures seen
	firstErr   map[string]string
}

// delivery is one message returned by a Receive.
type delivery struct {
	id       int
	consumer int
	part     int32
	offset   int64
	count    int
	epoch    uint64    // the leader's term, from the receipt
	start    time.Time // when the Receive started
	ackEnd   time.Time // when an Ack that succeeded for it returned; zero if none did
	ackErr   error     // the last failure of its ack
	held     bool
}

func newLedger(replicated bool) *ledger {
	return &ledger{replicated: replicated, sent: map[int]client.RecordResult{}, deliveries: map[int][]*delivery{},
		hold: map[int32]int{}, errs: map[string]int{}, firstErr: map[string]string{}}
}

// produce sends this producer's share (every foProducers-th batch) of
// each phase's ids once the phase's gate opens.
func (l *ledger) produce(ctx context.Context, cl *client.Client, p int, gates []chan struct{}) {
	per := foMessages / foPhases
	for phase, gate := range gates {
		select {
		case <-gate:
		case <-ctx.Done():
			return
		}
		for first := phase*per + p*foSendBatch; first < (phase+1)*per; first += foProducers * foSendBatch {
			var msgs []client.Message
			for id := first; id < min(first+foSendBatch, (phase+1)*per); id++ {
				msgs = append(msgs, client.Message{Key: fmt.Appendf(nil, "k%d", id), Value: fmt.Appendf(nil, "m%d", id)})
			}
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			res, err := cl.SendMessages(sctx, "jobs", msgs)
			cancel()
			l.mu.Lock()
			if err != nil {
				l.unsure += len(msgs)
				l.noteLocked("send", err)
			} else {
				for i := range msgs {
					l.sent[first+i] = res[i]
				}
			}
			l.mu.Unlock()
		}
	}
}

// consume receives and acks until ctx ends, riding out failures as a
// consumer does: a failed receive is retried; a failed ack is retried
// unless the receipt is invalid (the message comes again).
func (l *ledger) consume(ctx context.Context, cl *client.Client, consumer int) {
	for ctx.Err() == nil {
		start := time.Now()
		msgs, err := cl.Receive(ctx, "jobs", foBatch, time.Second)
		if err != nil {
			if ctx.Err() == nil {
				l.note("receive", err)
				retryPause(ctx)
			}
			continue
		}
		toAck, ds := l.deliver(consumer, start, msgs)
		for attempt := 0; len(toAck) > 0 && attempt < 3 && ctx.Err() == nil; attempt++ {
			err := cl.Ack(ctx, toAck...)
			end := time.Now()
			failed := ackFailures(err, toAck)
			var again []client.QueueMessage
			var againDs []*delivery
			l.mu.Lock()
			for i, m := range toAck {
				ferr, bad := failed[m.Receipt]
				if !bad {
					ds[i].ackEnd, ds[i].ackErr = end, nil
					continue
				}
				ds[i].ackErr = ferr
				l.noteLocked("ack", ferr)
				if !errors.Is(ferr, client.ErrInvalidReceipt) {
					again, againDs = append(again, m), append(againDs, ds[i])
				}
			}
			l.mu.Unlock()
			toAck, ds = again, againDs
		}
	}
}

func (l *ledger) note(op string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteLocked(op, err)
}

// noteLocked counts a failure by operation and class, and keeps the
// first of each class for the log.
func (l *ledger) noteLocked(op string, err error) {
	k := op + " " + codeName(err)
	if l.errs[k]++; l.errs[k] == 1 {
		l.firstErr[k] = time.Now().Format("15:04:05.000 ") + err.Error()
	}
}

// deliver records a Receive's messages and returns those to ack (all but
// the ones held) with their records.
func (l *ledger) deliver(consumer int, start time.Time, msgs []client.QueueMessage) ([]client.QueueMessage, []*delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var toAck []client.QueueMessage
	var ds []*delivery
	for _, m := range msgs {
		var id int
		if _, err := fmt.Sscanf(string(m.Value), "m%d", &id); err != nil || id < 0 || id >= foMessages ||
			string(m.Key) != fmt.Sprintf("k%d", id) || string(m.Value) != fmt.Sprintf("m%d", id) {
			l.bad = append(l.bad, fmt.Sprintf("partition %d offset %d: key %q value %q", m.Partition, m.Offset, m.Key, m.Value))
			toAck, ds = append(toAck, m), append(ds, &delivery{id: -1}) // acked, so that the drain ends and verify reports it
			continue
		}
		d := &delivery{id: id, consumer: consumer, part: m.Partition, offset: m.Offset, count: m.ReceiveCount, start: start}
		if r, err := consumergroup.ParseReceipt(m.Receipt); err != nil || r.Partition != m.Partition || r.Offset != m.Offset {
			l.bad = append(l.bad, fmt.Sprintf("message %d (partition %d offset %d): receipt %+v %v", id, m.Partition, m.Offset, r, err))
		} else {
			d.epoch = r.Epoch
		}
		l.deliveries[id] = append(l.deliveries[id], d)
		if l.hold[m.Partition] > 0 {
			l.hold[m.Partition]--
			d.held = true
			l.held = append(l.held, d)
			continue
		}
		toAck, ds = append(toAck, m), append(ds, d)
	}
	return toAck, ds
}

// holdFrom makes the consumers keep the next foHold messages of each of
// parts unacked, in place of those of the previous failover.
func (l *ledger) holdFrom(parts []int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = nil
	for _, p := range parts {
		l.hold[p] = foHold
	}
}

// heldNow returns copies of the messages held since the last holdFrom.
func (l *ledger) heldNow() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]delivery, len(l.held))
	for i, d := range l.held {
		out[i] = *d
	}
	return out
}

// nextDelivery returns (a copy of) the first delivery of id by a Receive
// that started after t, or nil.
func (l *ledger) nextDelivery(id int, t time.Time) *delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first *delivery
	for _, d := range l.deliveries[id] {
		if d.start.After(t) && (first == nil || d.start.Before(first.start)) {
			c := *d
			first = &c
		}
	}
	return first
}

// unacked returns the acknowledged sends not acked yet.
func (l *ledger) unacked() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for id := range l.sent {
		if !slices.ContainsFunc(l.deliveries[id], func(d *delivery) bool { return !d.ackEnd.IsZero() }) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// inHands bounds the messages the consumers of TestQueueFailoverNoLoss
// have received and not acked at any time: a batch each, and the held
// ones.
const inHands = foConsumers*foBatch + foHold*foPartitions

// verify checks what the run saw, once the consumers have stopped.
func (l *ledger) verify(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		t.Errorf("a message that was never sent, or a bad receipt: %s", b)
	}
	lost := 0
	for id, r := range l.sent {
		if !slices.ContainsFunc(l.deliveries[id], func(d *delivery) bool { return !d.ackEnd.IsZero() }) {
			if lost++; lost <= 10 {
				t.Errorf("message %d (partition %d offset %d) sent but never acked: deliveries %s", id, r.Partition, r.Offset, describe(l.deliveries[id]))
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged messages lost", lost, len(l.sent))
	}
	if len(l.sent)+l.unsure != foMessages {
		t.Errorf("%d sends acknowledged and %d failed, of %d", len(l.sent), l.unsure, foMessages)
	}

	// Duplicates: a message delivered again by a new leader was in
	// flight (in a consumer's hands, at most inHands at a time) when the
	// partition's leader changed, as verifyMessage checks that none came
	// after its ack; one delivered again by the same leader was in flight
	// when its lease ended, or its ack failed. Leader changes are counted
	// from the epochs of the receipts; twice as many allow for a change
	// whose leader delivered nothing before the next.
	total, newLeader, leaseEnded, maxCount, unseen := 0, 0, 0, 0, 0
	epochs := map[[2]uint64]bool{} // {partition, epoch}
	for id, ds := range l.deliveries {
		l.verifyMessage(t, id, ds)
		total += len(ds)
		for i, d := range ds {
			epochs[[2]uint64{uint64(d.part), d.epoch}] = true
			maxCount = max(maxCount, d.count)
			switch {
			case i == 0 && d.count > 1:
				unseen++ // received before by a receive whose answer no consumer got
			case i == 0:
			case d.epoch != ds[i-1].epoch:
				newLeader++
			default:
				leaseEnded++
			}
		}
	}
	changes := len(epochs) - foPartitions
	if bound := 2 * changes * inHands; newLeader > bound {
		t.Errorf("%d messages delivered again by a new leader after %d leader changes: more than the consumers had in hand (%d per change)",
			newLeader, changes, inHands)
	}
	t.Logf("%d messages sent (%d sends failed), %d deliveries of %d messages, %d duplicates: %d after %d leader changes (bound %d), "+
		"%d after a lease ended or a failed ack; highest receive count %d, %d messages first seen with a receive count above 1; failures seen: %v",
		len(l.sent), l.unsure, total, len(l.deliveries), total-len(l.deliveries), newLeader, changes, 2*changes*inHands,
		leaseEnded, maxCount, unseen, l.errs)
	for k, e := range l.firstErr {
		t.Logf("first %s: %s", k, e)
	}
}

// verifyMessage checks the deliveries of message id, and sorts them in
// the order the leaders gave them (epoch, then receive count). Holds l.mu.
func (l *ledger) verifyMessage(t *testing.T, id int, ds []*delivery) {
	t.Helper()
	slices.SortFunc(ds, func(a, b *delivery) int {
		if a.epoch != b.epoch {
			return cmp.Compare(a.epoch, b.epoch)
		}
		return a.count - b.count
	})
	if r, ok := l.sent[id]; ok && (r.Partition != ds[0].part || r.Offset != ds[0].offset) {
		t.Errorf("message %d sent to partition %d offset %d, delivered from partition %d offset %d", id, r.Partition, r.Offset, ds[0].part, ds[0].offset)
	}
	var acked time.Time // the first successful ack's return
	for i, d := range ds {
		if d.part != ds[0].part || d.offset != ds[0].offset {
			t.Errorf("message %d delivered from partition %d offset %d and from partition %d offset %d", id, ds[0].part, ds[0].offset, d.part, d.offset)
		}
		// Replicated counts never repeat; leader-only ones do not repeat
		// within a leader's term.
		if d.count < 1 || i > 0 && d.count == ds[i-1].count && (l.replicated || d.epoch == ds[i-1].epoch) ||
			l.replicated && i > 0 && d.count < ds[i-1].count {
			t.Errorf("message %d (partition %d offset %d): receive count %d repeated, out of order or invalid; deliveries: %s",
				id, d.part, d.offset, d.count, describe(ds))
		}
		if !d.ackEnd.IsZero() && (acked.IsZero() || d.ackEnd.Before(acked)) {
			acked = d.ackEnd
		}
	}
	for _, d := range ds {
		if !acked.IsZero() && d.start.After(acked) {
			t.Errorf("message %d (partition %d offset %d) delivered by a receive that started %v after an ack of it returned; deliveries: %s",
				id, d.part, d.offset, d.start.Sub(acked), describe(ds))
		}
	}
}

// describe prints deliveries for a failure message.
func describe(ds []*delivery) string {
	var b []byte
	for _, d := range ds {
		ack := "acked"
		if d.ackEnd.IsZero() {
			ack = fmt.Sprintf("not acked (%v)", d.ackErr)
		}
		if d.held {
			ack = "held"
		}
		b = fmt.Appendf(b, "[consumer %d at %s epoch %d count %d %s] ", d.consumer, d.start.Format("15:04:05.000"), d.epoch, d.count, ack)
	}
	return string(b)
}
