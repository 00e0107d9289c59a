package checker

import (
	"fmt"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// checkFinals checks that the final reads of each partition hold every
// offset from the log start to the high watermark.
func (c *checker) checkFinals() {
	for _, l := range c.locs {
		f := c.finals[l]
		if f == nil {
			continue
		}
		holes, first := 0, int64(-1)
		for i, ok := range f.have {
			if !ok {
				if holes++; holes == 1 {
					first = f.logStart + int64(i)
				}
			}
		}
		if holes > 0 {
			c.add(&OffsetGap{Ops: f.ops, Stream: l.stream, Partition: l.partition, Want: first, Got: -1,
				Reason: fmt.Sprintf("the final reads miss %d offsets between the log start %d and the high watermark %d",
					holes, f.logStart, f.hwm)})
		}
	}
}

// checkFetches checks each read on its own: its offsets rise by one and
// stay below the high watermark it returned.
func (c *checker) checkFetches() {
	for i := range c.ops {
		op := &c.ops[i]
		if op.Kind != history.KindFetch || op.Outcome != history.OK {
			continue
		}
		r := op.Fetch.Result
		gap := func(want, got int64, reason string) {
			c.add(&OffsetGap{Ops: []int64{op.ID}, Stream: op.Fetch.Stream, Partition: op.Fetch.Partition,
				Want: want, Got: got, Reason: reason})
		}
		for j, rec := range r.Records {
			if j > 0 && rec.Offset != r.Records[j-1].Offset+1 {
				gap(r.Records[j-1].Offset+1, rec.Offset, "a read's offsets are not contiguous")
				break
			}
			if rec.Offset >= r.HighWatermark {
				gap(r.HighWatermark-1, rec.Offset, fmt.Sprintf("a read returned a record at or past its high watermark %d",
					r.HighWatermark))
				break
			}
		}
	}
}

// checkLost checks that every ok write is in the final log where it was
// acknowledged.
func (c *checker) checkLost() {
	for i := range c.ops {
		op := &c.ops[i]
		if op.Produce == nil || op.Outcome != history.OK {
			continue
		}
		p := op.Produce
		l := loc{p.Stream, p.Result.Partition}
		f := c.finals[l]
		if f == nil {
			continue // MissingFinalRead
		}
		off := p.Result.Offset
		if off < f.logStart {
			c.rep.Stats.AgedOut++
			continue
		}
		v, _ := f.at(off)
		if v == p.Value {
			continue
		}
		var at []int64
		for _, pl := range c.found[p.Value] {
			if pl.loc == l {
				at = append(at, pl.offset)
			}
		}
		c.add(&LostWrite{Op: op.ID, Stream: l.stream, Partition: l.partition, Offset: off, Value: p.Value,
			Found: v, FoundAt: at, Final: f.ops})
	}
}

// checkDuplicates checks that no value of an idempotent producer is twice
// in its stream. Values written by other producers, or copied to a
// dead-letter stream, may be (and are counted).
func (c *checker) checkDuplicates() {
	for _, l := range c.locs {
		f := c.finals[l]
		if f == nil {
			continue
		}
		for i, v := range f.values {
			if !f.have[i] {
				continue
			}
			places := c.found[v]
			if len(places) < 2 || places[0] != (place{l, f.logStart + int64(i)}) {
				continue // unique, or seen at its first place already
			}
			op := c.produced[v]
			var at []history.Position
			var finals []int64
			for _, pl := range places {
				if op != nil && pl.stream == op.Produce.Stream {
					at = append(at, history.Position{Partition: pl.partition, Offset: pl.offset})
					finals = appendNew(finals, c.finals[pl.loc].ops...)
				}
			}
			switch {
			case op == nil:
				// A phantom; checkReads reports it.
			case len(at) < 2:
				// A copy in a dead-letter stream.
			case !op.Produce.Idempotent:
				c.rep.Stats.AllowedDuplicates++
			default:
				c.add(&Duplicate{Op: op.ID, Stream: op.Produce.Stream, Value: v, At: at, Final: finals})
			}
		}
	}
}

// appendNew appends the ids not in s yet.
func appendNew(s []int64, ids ...int64) []int64 {
	for _, id := range ids {
		found := false
		for _, x := range s {
			found = found || x == id
		}
		if !found {
			s = append(s, id)
		}
	}
	return s
}

// checkKeyOrder checks that the records of each idempotent, ordered
// producer and key are in sequence order in the final logs.
func (c *checker) checkKeyOrder() {
	type pk struct{ producer, key string }
	type last struct {
		seq, offset, op int64
	}
	for _, l := range c.locs {
		f := c.finals[l]
		if f == nil {
			continue
		}
		highest := map[pk]last{}
		for i, v := range f.values {
			op := c.produced[v]
			if !f.have[i] || op == nil || op.Outcome == history.Failed || op.Produce.Stream != l.stream ||
				!op.Produce.Idempotent || !op.Produce.Ordered {
				continue
			}
			p, off := op.Produce, f.logStart+int64(i)
			k := pk{p.Producer, p.Key}
			h, seen := highest[k]
			switch {
			case !seen || p.Seq > h.seq:
				highest[k] = last{seq: p.Seq, offset: off, op: op.ID}
			case p.Seq < h.seq:
				c.add(&Reordered{Stream: l.stream, Partition: l.partition, Producer: p.Producer, Key: p.Key,
					Earlier: h.op, EarlierSeq: h.seq, EarlierOffset: h.offset,
					Later: op.ID, LaterSeq: p.Seq, LaterOffset: off})
			}
		}
	}
}

// checkReads checks every value read: by fetches, group deliveries, queue
// receives and dead-letter observations.
func (c *checker) checkReads() {
	for i := range c.ops {
		op := &c.ops[i]
		if op.Outcome != history.OK {
			continue
		}
		switch op.Kind {
		case history.KindFetch:
			l := loc{op.Fetch.Stream, op.Fetch.Partition}
			for _, rec := range op.Fetch.Result.Records {
				c.checkRead(op.ID, place{l, rec.Offset}, rec.Value, "", op.Fetch.Final)
			}
		case history.KindDeliver:
			d := op.Deliver
			c.checkRead(op.ID, place{loc{d.Stream, d.Partition}, d.Offset}, d.Value, "", false)
		case history.KindReceive:
			r := op.Receive
			c.checkRead(op.ID, place{loc{c.queueStream[r.Queue], r.Partition}, r.Offset}, r.Value, "", false)
		case history.KindDeadLetter:
			d := op.DeadLetter
			c.checkRead(op.ID, place{loc{d.Stream, d.Partition}, d.Offset}, d.Value, d.Queue, false)
			if p := c.produced[d.Value]; p != nil && p.Outcome == history.OK &&
				(d.Source.Stream != p.Produce.Stream || d.Source.Partition != p.Produce.Result.Partition ||
					d.Source.Offset != p.Produce.Result.Offset) {
				c.add(&PhantomRead{Read: op.ID, Produce: p.ID, Stream: d.Stream, Partition: d.Partition,
					Offset: d.Offset, Value: d.Value, Reason: fmt.Sprintf("its dead-letter source is %s/%d@%d, "+
						"but it was acknowledged at %s/%d@%d", d.Source.Stream, d.Source.Partition, d.Source.Offset,
						p.Produce.Stream, p.Produce.Result.Partition, p.Produce.Result.Offset)})
			}
		}
	}
}

// checkRead checks that value v read at pl by op read was written there,
// and agrees with the final log. The stream of a receive from a queue
// whose stream is unknown is "": only the value is checked. dlQueue is
// the queue of a dead-letter observation. A final read's records are not
// compared with the final log (mergeFinal did).
func (c *checker) checkRead(read int64, pl place, v history.Value, dlQueue string, final bool) {
	phantom := func(produce int64, format string, args ...any) {
		c.add(&PhantomRead{Read: read, Produce: produce, Stream: pl.stream, Partition: pl.partition,
			Offset: pl.offset, Value: v, Reason: fmt.Sprintf(format, args...)})
	}
	op := c.produced[v]
	if op == nil {
		phantom(-1, "no produce or send wrote it")
		return
	}
	p := op.Produce
	switch {
	case op.Outcome == history.Failed:
		phantom(op.ID, "its %s (op %d) failed", op.Kind, op.ID)
		return
	case pl.stream == "":
		return
	case pl.stream != p.Stream && (p.Queue == "" || !c.deadLetterOf[pl.stream][p.Queue]):
		phantom(op.ID, "op %d wrote it to stream %s", op.ID, p.Stream)
		return
	case dlQueue != "" && p.Queue != dlQueue:
		phantom(op.ID, "it was seen as a dead letter of queue %s, but op %d sent it to %q", dlQueue, op.ID, p.Queue)
		return
	case pl.stream != p.Stream:
		// A copy in a dead-letter stream: at an offset of its own.
	case p.Result != nil && (p.Result.Partition != pl.partition || p.Result.Offset != pl.offset):
		phantom(op.ID, "op %d was acknowledged at %d@%d", op.ID, p.Result.Partition, p.Result.Offset)
		return
	case p.Partition != history.AnyPartition && p.Partition != pl.partition:
		phantom(op.ID, "op %d asked for partition %d", op.ID, p.Partition)
		return
	}
	f := c.finals[pl.loc]
	if final || f == nil || pl.offset < f.logStart {
		return
	}
	fv, ok := f.at(pl.offset)
	if !ok && pl.offset < f.hwm {
		return // a hole in the final reads: checkFinals reports it
	}
	if fv != v {
		c.add(&DivergentRead{Read: read, Stream: pl.stream, Partition: pl.partition, Offset: pl.offset,
			Value: v, Final: fv, FinalOps: f.ops})
	}
}
