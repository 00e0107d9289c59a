package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// maxInFlightBytes caps the payload bytes each producer keeps in
// flight, whatever the workload's maxInFlight: 10000 records of 1 MiB
// would otherwise need 10 GiB of copies.
const maxInFlightBytes = 64 << 20

// producer is one of a run's producers and the goroutine that feeds it.
type producer struct {
	r     *run
	topic int // index into run.topics
	p     Producer
	hp    HeaderProducer // p, when the workload has a header; else nil
	shard *shard
	// sem holds one token per record sent and not yet done: Send
	// waits for a free slot, done frees it.
	sem  chan struct{}
	keys keyGen
	// value is the index in run.headerVals of the next record's header
	// value. Owned by the producer's goroutine.
	value int

	// Counters of records of every phase, for progress and the backlog.
	sentAll, ackedAll, ackedBytesAll, failedAll atomic.Int64
	// Counters of records of the measured phase, for the Result.
	sent, sentBytes, acked, ackedBytes, failed atomic.Int64
	// With subscription filters (run.filt), the records acknowledged
	// that subscription s of the topic takes, index s: of the measured
	// phase, and of every phase. nil without filters.
	subAcked, subAckedAll []atomic.Int64
}

// valueStampSize is the size of the header value's index, written after
// the send time in payloads long enough to hold it, so that a consumer
// can tell a record its subscription's filter excludes.
const valueStampSize = 4

// loop sends records until stop is closed, ctx is done, the measured
// phase is over, or (with a record count) the count is reached. It
// returns once its last Send returned; done callbacks may follow.
func (p *producer) loop(ctx context.Context, pc *pacer) {
	r := p.r
	done := ctx.Done()
	for {
		// Two one-case selects are cheaper than one of two cases.
		select {
		case <-r.stop:
			return
		default:
		}
		select {
		case <-done:
			return
		default:
		}
		var intended time.Time
		if !pc.unpaced() {
			var ok bool
			if intended, ok = pc.Next(ctx, r.stop); !ok {
				return
			}
		}
		if r.gate != nil && !r.gate.take(p.topic, r.stop, done) {
			return
		}
		select {
		case p.sem <- struct{}{}:
		case <-r.stop:
			return
		case <-done:
			return
		}
		if pc.unpaced() {
			// Unpaced, a record is due when the harness can send it:
			// waiting for an in-flight slot is back-pressure, not delay.
			intended = r.clk.Now()
		}
		in := intended.UnixNano()
		if in >= r.measureEnd.Load() {
			p.release()
			return
		}
		start := r.measureStart.Load()
		measured := in >= start && start != unset
		last := false
		if measured && r.w.RecordCount > 0 {
			left := r.recordsLeft.Add(-1)
			if left < 0 {
				p.release()
				return
			}
			last = left == 0
		}
		buf := make([]byte, len(r.payload))
		copy(buf, r.payload)
		binary.BigEndian.PutUint64(buf, uint64(in))
		p.sentAll.Add(1)
		if measured {
			p.sent.Add(1)
			p.sentBytes.Add(int64(len(buf)))
		}
		key := p.keys.next()
		if p.hp == nil {
			p.p.Send(ctx, key, buf, p.doneFunc(intended, len(buf), measured, key, 0))
		} else {
			v := p.value
			p.value = (p.value + 1) % len(r.headerVals)
			if len(buf) >= stampSize+valueStampSize {
				binary.BigEndian.PutUint32(buf[stampSize:], uint32(v))
			}
			h := Header{Name: r.w.HeaderName, Value: r.headerVals[v]}
			p.hp.SendHeader(ctx, key, h, buf, p.doneFunc(intended, len(buf), measured, key, v))
		}
		if last {
			r.stopProducers() // the record count is reached
			return
		}
	}
}

// release frees an in-flight slot; a driver that calls done twice
// finds none to free rather than blocking.
func (p *producer) release() {
	select {
	case <-p.sem:
	default:
	}
}

// doneFunc returns the callback of one record: its time (see pacer), n
// payload bytes, sent in the measured phase or not, its key and the
// index of its header value (0 without a header), by which the
// subscription filters choose. The publish latency is taken on the
// monotonic clock; the end-to-end latency, from a time carried in the
// payload, has to use the wall clock.
func (p *producer) doneFunc(intended time.Time, n int, measured bool, key []byte, value int) func(error) {
	return func(err error) {
		now := p.r.clk.Now()
		p.release()
		if err != nil {
			p.failedAll.Add(1)
			if measured {
				p.failed.Add(1)
			}
			p.shard.fail()
			p.r.errs.add("send", err)
			return
		}
		p.ackedAll.Add(1)
		p.ackedBytesAll.Add(int64(n))
		if measured {
			p.acked.Add(1)
			p.ackedBytes.Add(int64(n))
		}
		if f := p.r.filt; f != nil {
			for _, s := range f.match(key, value) {
				p.subAckedAll[s].Add(1)
				if measured {
					p.subAcked[s].Add(1)
				}
			}
		}
		p.shard.ack(now.Sub(intended), n, measured, p.r.acksNone)
	}
}

// keyGen makes the keys of one producer's records.
type keyGen struct {
	dist KeyDistributor
	rng  *rand.Rand // RANDOM_NANO
	set  [][]byte   // KEY_ROUND_ROBIN: shared by all producers, read only
	pos  int        // KEY_ROUND_ROBIN: index of the next key in set
}

// roundRobinKeys is the size of KEY_ROUND_ROBIN's key set.
const roundRobinKeys = 1000

// newKeyGen returns producer index's key generator. RANDOM_NANO keys
// come from a generator seeded by seed and index, so a run's keys are
// repeatable; KEY_ROUND_ROBIN producers start at different keys of set.
func newKeyGen(dist KeyDistributor, seed int64, index int, set [][]byte) keyGen {
	k := keyGen{dist: dist}
	switch dist {
	case RandomNano:
		k.rng = rand.New(rand.NewPCG(uint64(seed), uint64(index)))
	case KeyRoundRobin:
		k.set = set
		k.pos = index % len(set)
	}
	return k
}

// roundRobinKeySet returns the keys KEY_ROUND_ROBIN cycles through.
func roundRobinKeySet() [][]byte {
	set := make([][]byte, roundRobinKeys)
	for i := range set {
		set[i] = fmt.Appendf(nil, "key-%03d", i)
	}
	return set
}

// keyAlphabet is what RANDOM_NANO keys are made of.
const keyAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// next returns the next record's key (nil for NO_KEY). The caller may
// not modify it.
func (k *keyGen) next() []byte {
	switch k.dist {
	case RandomNano:
		b := make([]byte, 8)
		x := k.rng.Uint64()
		for i := range b {
			b[i] = keyAlphabet[x%uint64(len(keyAlphabet))]
			x /= uint64(len(keyAlphabet))
		}
		return b
	case KeyRoundRobin:
		b := k.set[k.pos]
		k.pos = (k.pos + 1) % len(k.set)
		return b
	default:
		return nil
	}
}
