package checker

import (
	"cmp"
	"slices"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// message names a queue message: its queue, partition and offset.
type message struct {
	queue     string
	partition int32
	offset    int64
}

func (m message) compare(o message) int {
	return cmp.Or(cmp.Compare(m.queue, o.queue), cmp.Compare(m.partition, o.partition), cmp.Compare(m.offset, o.offset))
}

// checkQueues checks that every ok send was acked at least once or
// dead-lettered, and that no receive that began after an ack of a message
// had returned delivered it. Redelivery is allowed (at-least-once) and
// counted.
func (c *checker) checkQueues() {
	qs := &c.rep.Stats.Queue
	receives := map[message][]*history.Op{}
	firstAck := map[message]*history.Op{} // the ok ack that returned first
	type dead struct {
		queue string
		value history.Value
	}
	deadValues := map[dead]bool{}
	deadSources := map[message]bool{} // by the source's partition and offset
	for i := range c.ops {
		op := &c.ops[i]
		switch op.Kind {
		case history.KindReceive:
			if op.Outcome != history.OK {
				continue
			}
			r := op.Receive
			m := message{r.Queue, r.Partition, r.Offset}
			receives[m] = append(receives[m], op)
			qs.Receives++
			qs.MaxReceiveCount = max(qs.MaxReceiveCount, r.ReceiveCount)
		case history.KindAck:
			count(&qs.Acks, op.Outcome)
			if op.Outcome != history.OK {
				continue
			}
			m := message{op.Ack.Queue, op.Ack.Partition, op.Ack.Offset}
			if a := firstAck[m]; a == nil || op.Complete < a.Complete {
				firstAck[m] = op
			}
		case history.KindDeadLetter:
			d := op.DeadLetter
			qs.DeadLettered++
			deadValues[dead{d.Queue, d.Value}] = true
			deadSources[message{d.Queue, d.Source.Partition, d.Source.Offset}] = true
		}
	}
	qs.Received, qs.Acked = len(receives), len(firstAck)
	for _, rs := range receives {
		if len(rs) > 1 {
			qs.Redelivered++
		}
	}

	for i := range c.ops {
		op := &c.ops[i]
		if op.Kind != history.KindSend || op.Outcome != history.OK {
			continue
		}
		p := op.Produce
		m := message{p.Queue, p.Result.Partition, p.Result.Offset}
		if firstAck[m] != nil || deadValues[dead{p.Queue, p.Value}] || deadSources[m] {
			continue
		}
		v := &QueueUnacked{Queue: m.queue, Partition: m.partition, Offset: m.offset, Value: p.Value, Send: op.ID}
		for _, r := range receives[m] {
			v.Receives = append(v.Receives, r.ID)
		}
		c.add(v)
	}

	acked := make([]message, 0, len(firstAck))
	for m := range firstAck {
		acked = append(acked, m)
	}
	slices.SortFunc(acked, message.compare)
	for _, m := range acked {
		a := firstAck[m]
		for _, r := range receives[m] {
			if r.Invoke > a.Complete {
				c.add(&QueueDeliveredAfterAck{Queue: m.queue, Partition: m.partition, Offset: m.offset,
					Ack: a.ID, Receive: r.ID})
			}
		}
	}
}
