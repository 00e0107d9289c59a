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
	// misdelivered counts records of the measured phase that the
	// subscription's filter excludes (see subFilters.excludes); they
	// are not counted as received.
	misdelivered atomic.Int64
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
	if c.r.filt != nil && c.excluded(payload, measured) {
		return
	}
	c.receivedAll.Add(1)
	if measured {
		c.received.Add(1)
		c.receivedBytes.Add(int64(len(payload)))
	}
	c.shard.receive(time.Duration(now.UnixNano()-in), len(payload), measured)
}

// excluded reports whether the subscription's filter excludes the
// record, from the header value index stamped in its payload (the
// record had no header value when the workload has no header), and then
// counts and notes it. A filter that reads the key cannot be checked so,
// nor a payload too short for the stamp.
func (c *consumer) excluded(payload []byte, measured bool) bool {
	v := 0
	if len(c.r.headerVals) > 0 {
		if len(payload) < stampSize+valueStampSize {
			return false
		}
		v = int(binary.BigEndian.Uint32(payload[stampSize:]))
	}
	if !c.r.filt.excludes(c.sub, v) {
		return false
	}
	if measured {
		c.misdelivered.Add(1)
	}
	what := "without the header"
	if len(c.r.headerVals) > 0 && v < len(c.r.headerVals) {
		what = fmt.Sprintf("with %s %q", c.r.w.HeaderName, c.r.headerVals[v])
	}
	c.r.errs.add("receive", fmt.Errorf("sub-%d received a record %s, which its filter %s excludes", c.sub, what, c.r.w.SubscriptionFilters[c.sub]))
	return true
}

// lag is one subscription's shortfall: records acknowledged on its
// topic that it has not received.
type lag struct {
	topic, sub int
	missing    int64
}

// lags returns, for each subscription, the records acknowledged on its
// topic that it takes (all of them, or those its filter matches) minus
// those it received: of the measured phase (measured), or of every
// phase. A subscription that received more (redeliveries) has a
// negative lag.
func (r *run) lags(measured bool) []lag {
	subs := r.w.SubscriptionsPerTopic
	out := make([]lag, len(r.topics)*subs)
	for t := range r.topics {
		for s := range subs {
			out[t*subs+s] = lag{topic: t, sub: s}
		}
	}
	for _, p := range r.prods {
		ls := out[p.topic*subs : (p.topic+1)*subs]
		switch {
		case r.filt == nil:
			acked := p.ackedAll.Load()
			if measured {
				acked = p.acked.Load()
			}
			for s := range ls {
				ls[s].missing += acked
			}
		case measured:
			for s := range ls {
				ls[s].missing += p.subAcked[s].Load()
			}
		default:
			for s := range ls {
				ls[s].missing += p.subAckedAll[s].Load()
			}
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
