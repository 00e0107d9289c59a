package checker

import (
	"cmp"
	"slices"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// Check checks a history against every property (see the package doc) and
// returns the Report. The error is for a Config that Validate refuses or a
// history that history.ValidateHistory refuses (an *InvalidOpError): not
// a verdict. Check does not modify ops. Its cost is linear in the ops and
// the records read, plus porcupine's search of the sampled partitions
// (bounded by Config.LinMaxOps and LinTimeout).
func Check(ops []history.Op, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := history.ValidateHistory(ops); err != nil {
		return nil, err
	}
	c := &checker{cfg: cfg, ops: ops, rep: &Report{Seed: cfg.Seed}, found: map[history.Value][]place{},
		produced: map[history.Value]*history.Op{}, finals: map[loc]*finalLog{}, queueStream: map[string]string{},
		deadLetterOf: map[string]map[string]bool{}, out: map[Property][]Violation{}}
	c.index()
	c.checkFinals()
	c.checkFetches()
	c.checkLost()
	c.checkDuplicates()
	c.checkKeyOrder()
	c.checkReads()
	c.checkGroups()
	c.checkQueues()
	if !cfg.LinDisabled {
		c.checkLinearizable()
	}
	for _, p := range Properties() {
		c.rep.Violations = append(c.rep.Violations, c.out[p]...)
	}
	return c.rep, nil
}

// loc is a partition of a stream.
type loc struct {
	stream    string
	partition int32
}

func (l loc) compare(o loc) int {
	return cmp.Or(cmp.Compare(l.stream, o.stream), cmp.Compare(l.partition, o.partition))
}

// place is an offset of a partition.
type place struct {
	loc
	offset int64
}

// finalLog is a partition's contents as its final reads saw them.
type finalLog struct {
	logStart, hwm int64
	values        []history.Value // index: offset - logStart
	have          []bool          // index: offset - logStart; a final read returned the offset
	ops           []int64         // the final reads, in history order
}

// at returns the final value at off, if a final read returned one.
func (f *finalLog) at(off int64) (history.Value, bool) {
	if off < f.logStart || off >= f.hwm || !f.have[off-f.logStart] {
		return "", false
	}
	return f.values[off-f.logStart], true
}

// checker holds the indexes of one Check.
type checker struct {
	cfg Config
	ops []history.Op
	rep *Report
	out map[Property][]Violation

	produced     map[history.Value]*history.Op // produce and queue_send ops by value
	finals       map[loc]*finalLog             // partitions with a final read
	locs         []loc                         // every partition known, sorted
	found        map[history.Value][]place     // where each value is in the final logs, in loc order
	queueStream  map[string]string             // queue -> its stream
	deadLetterOf map[string]map[string]bool    // dead-letter stream -> the queues that use it
	declared     map[string]int32              // stream -> declared partitions
}

func (c *checker) add(v Violation) { c.out[v.Property()] = append(c.out[v.Property()], v) }

func count(n *Counts, o history.Outcome) {
	switch o {
	case history.OK:
		n.OK++
	case history.Failed:
		n.Failed++
	default:
		n.Unknown++
	}
}

// index builds the checker's indexes and counts the ops.
func (c *checker) index() {
	st := &c.rep.Stats
	st.Ops = len(c.ops)
	c.declared = map[string]int32{}
	known := map[loc]bool{}
	finalOps := map[loc][]*history.Op{}
	for i := range c.ops {
		op := &c.ops[i]
		switch op.Kind {
		case history.KindFault:
			st.Faults++
		case history.KindCreateStream:
			if op.Outcome == history.OK {
				c.declared[op.Stream.Name] = op.Stream.Partitions
			}
		case history.KindCreateQueue:
			if op.Outcome != history.Failed {
				c.queueStream[op.Queue.Name] = op.Queue.Stream
				if dl := op.Queue.DeadLetter; dl != "" {
					if c.deadLetterOf[dl] == nil {
						c.deadLetterOf[dl] = map[string]bool{}
					}
					c.deadLetterOf[dl][op.Queue.Name] = true
				}
			}
		case history.KindProduce, history.KindSend:
			p := op.Produce
			c.produced[p.Value] = op
			if op.Kind == history.KindSend {
				count(&st.Sends, op.Outcome)
				if _, ok := c.queueStream[p.Queue]; !ok {
					c.queueStream[p.Queue] = p.Stream
				}
			} else {
				count(&st.Produces, op.Outcome)
			}
			if p.Result != nil {
				known[loc{p.Stream, p.Result.Partition}] = true
			}
		case history.KindFetch:
			count(&st.Fetches, op.Outcome)
			if op.Outcome == history.OK {
				l := loc{op.Fetch.Stream, op.Fetch.Partition}
				known[l] = true
				if op.Fetch.Final {
					finalOps[l] = append(finalOps[l], op)
				}
			}
		case history.KindDeliver:
			st.Deliveries++
		case history.KindDeadLetter:
			d := op.DeadLetter
			if c.deadLetterOf[d.Stream] == nil {
				c.deadLetterOf[d.Stream] = map[string]bool{}
			}
			c.deadLetterOf[d.Stream][d.Queue] = true
		}
	}
	for s, n := range c.declared {
		for p := range n {
			known[loc{s, p}] = true
		}
	}
	for l := range known {
		c.locs = append(c.locs, l)
	}
	slices.SortFunc(c.locs, loc.compare)
	for _, l := range c.locs {
		if fops := finalOps[l]; len(fops) > 0 {
			c.finals[l] = c.mergeFinal(l, fops)
			st.Partitions++
		} else {
			c.add(&MissingFinalRead{Stream: l.stream, Partition: l.partition})
		}
	}
	for _, l := range c.locs {
		f := c.finals[l]
		if f == nil {
			continue
		}
		for i, v := range f.values {
			if f.have[i] {
				c.found[v] = append(c.found[v], place{l, f.logStart + int64(i)})
				st.Records++
			}
		}
	}
	for v, op := range c.produced {
		if op.Outcome == history.Unknown {
			if len(c.found[v]) > 0 {
				st.UnknownLanded++
			} else {
				st.UnknownMissing++
			}
		}
	}
}

// mergeFinal joins the final reads of a partition: the log start and high
// watermark are the largest any of them saw, and each offset's value is
// the first read's that returned it. A later read that returned another
// value at an offset is a DivergentRead.
func (c *checker) mergeFinal(l loc, fops []*history.Op) *finalLog {
	f := &finalLog{}
	for i, op := range fops {
		r := op.Fetch.Result
		if i == 0 || r.LogStart > f.logStart {
			f.logStart = r.LogStart
		}
		if i == 0 || r.HighWatermark > f.hwm {
			f.hwm = r.HighWatermark
		}
		f.ops = append(f.ops, op.ID)
	}
	f.values = make([]history.Value, f.hwm-f.logStart)
	f.have = make([]bool, f.hwm-f.logStart)
	for _, op := range fops {
		for _, rec := range op.Fetch.Result.Records {
			if rec.Offset < f.logStart || rec.Offset >= f.hwm {
				continue // below the start: retention; past the end: checkFetches reports it
			}
			i := rec.Offset - f.logStart
			switch {
			case !f.have[i]:
				f.values[i], f.have[i] = rec.Value, true
			case f.values[i] != rec.Value:
				c.add(&DivergentRead{Read: op.ID, Stream: l.stream, Partition: l.partition, Offset: rec.Offset,
					Value: rec.Value, Final: f.values[i], FinalOps: f.ops})
			}
		}
	}
	return f
}
