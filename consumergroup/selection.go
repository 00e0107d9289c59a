package consumergroup

import "time"

// Message is a record of a queue's partition, as Select sees it.
type Message struct {
	Offset int64
	Key    []byte
	// VisibleAt is when its delivery delay ends: its send time plus the
	// message's or the queue's delay. Zero: at once.
	VisibleAt time.Time
}

// SelectConfig says what a receive wants.
type SelectConfig struct {
	Max int // messages to deliver at most
	// FIFO delivers the messages of one key in order, one in flight at a
	// time: a key whose oldest pending message cannot be delivered now
	// (leased, delayed, held back by a nack) delivers nothing.
	FIFO bool
	// MaxReceives (0: unlimited): a message already received this often
	// is dead-lettered instead of delivered again.
	MaxReceives uint32
}

// Selection is what a receive does.
type Selection struct {
	// Deliver are the offsets to lease and count a receive of, in order.
	Deliver []int64
	// DeadLetter are the offsets received MaxReceives times already: the
	// caller moves them to the dead-letter stream and marks them done.
	DeadLetter []int64
	// NextVisible is the earliest time a pending message that was passed
	// over becomes visible (zero when none was), for a long poll to wait
	// for.
	NextVisible time.Time
	// Examined is one past the offset of the last message Select looked
	// at (it stops once it has Max to deliver); the messages from there on
	// were not considered.
	Examined int64
}

// Select picks, from msgs (a partition's records in offset order, from the
// queue's floor on), the messages a receive delivers at now: pending ones
// (state), not leased or held back (leases), past their delay, in offset
// order, at most cfg.Max, with the FIFO and max-receive rules of cfg. It
// changes nothing; the caller leases and replicates what it returns.
func Select(msgs []Message, state *AckState, leases *Leases, now time.Time, cfg SelectConfig) Selection {
	var sel Selection
	var blocked map[string]bool
	if cfg.FIFO {
		blocked = map[string]bool{}
	}
	note := func(t time.Time) {
		if sel.NextVisible.IsZero() || t.Before(sel.NextVisible) {
			sel.NextVisible = t
		}
	}
	for _, m := range msgs {
		if len(sel.Deliver) >= cfg.Max {
			break
		}
		sel.Examined = m.Offset + 1
		if state.Done(m.Offset) {
			continue
		}
		key := string(m.Key)
		if cfg.FIFO && blocked[key] {
			continue
		}
		if cfg.FIFO {
			blocked[key] = true // one in flight per key, whatever happens below
		}
		if ls, ok := leases.Leased(m.Offset, now); ok {
			note(ls.Expires)
			continue
		}
		if until, ok := leases.hidden[m.Offset]; ok && now.Before(until) {
			note(until)
			continue
		}
		if now.Before(m.VisibleAt) {
			note(m.VisibleAt)
			continue
		}
		if cfg.MaxReceives > 0 && state.ReceiveCount(m.Offset) >= cfg.MaxReceives {
			sel.DeadLetter = append(sel.DeadLetter, m.Offset)
			continue
		}
		sel.Deliver = append(sel.Deliver, m.Offset)
	}
	return sel
}
