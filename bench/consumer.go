package bench

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
)

// consumer is one of a run's consumers: its handler decodes each
// record's intended send time and records the end-to-end latency.
type consumer struct {
	r     *run
	topic int // index into run.topics
	sub   int // subscription index: "sub-<sub>"
	c     Consumer
	shard *shard

	// receivedAll counts records of every phase (for the backlog
	// catch-up); the rest count records sent in the measured phase.
	receivedAll, received, receivedBytes atomic.Int64
	// short counts payloads too short to hold a send time.
	short atomic.Int64
}

// handle is the consumer's Handler. It may run on several goroutines at
// once. A payload shorter than the 8-byte send time is counted and
// noted as an error, not received.
func (c *consumer) handle(payload []byte) {
	now := c.r.clk.Now()
	if len(payload) < stampSize {
		c.short.Add(1)
		c.r.errs.add("receive", fmt.Errorf("payload of %d bytes, shorter than the %d-byte send time", len(payload), stampSize))
		return
	}
	in := int64(binary.BigEndian.Uint64(payload))
	start := c.r.measureStart.Load()
	measured := in >= start && start != unset
	c.receivedAll.Add(1)
	if measured {
		c.received.Add(1)
		c.receivedBytes.Add(int64(len(payload)))
	}
	c.shard.receive(time.Duration(now.UnixNano()-in), len(payload), measured)
}

// lag is one subscription's shortfall: records acknowledged on its
// topic that it has not received.
type lag struct {
	topic, sub int
	missing    int64
}

// lags returns, for each subscription, the records acknowledged on its
// topic minus those it received: of the measured phase (measured), or
// of every phase. A subscription that received more (redeliveries)
// has a negative lag.
func (r *run) lags(measured bool) []lag {
	acked := make([]int64, len(r.topics))
	for _, p := range r.prods {
		if measured {
			acked[p.topic] += p.acked.Load()
		} else {
			acked[p.topic] += p.ackedAll.Load()
		}
	}
	subs := r.w.SubscriptionsPerTopic
	out := make([]lag, len(r.topics)*subs)
	for t := range r.topics {
		for s := range subs {
			out[t*subs+s] = lag{topic: t, sub: s, missing: acked[t]}
		}
	}
	for _, c := range r.cons {
		l := &out[c.topic*subs+c.sub]
		if measured {
			l.missing -= c.received.Load()
		} else {
			l.missing -= c.receivedAll.Load()
		}
	}
	return out
}

// drained reports whether every subscription received every record
// acknowledged in the measured phase.
func (r *run) drained() bool {
	for _, l := range r.lags(true) {
		if l.missing > 0 {
			return false
		}
	}
	return true
}

// caughtUp reports whether, during the backlog drain, every
// subscription is within one window of its topic's production: its lag
// (of every phase) is at most the records acknowledged on its topic in
// the last complete window (at least 1).
func (r *run) caughtUp() bool {
	for _, l := range r.lags(false) {
		if l.missing > max(1, r.topicAckedLast[l.topic]-r.topicAckedPrev[l.topic]) {
			return false
		}
	}
	return true
}
