package checker

import (
	"slices"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// group is what the history says of one consumer group.
type group struct {
	streams   map[string]bool // subscribed (joins) or read (deliveries, commits)
	delivered map[loc][]bool  // index: offset - final log start
	observed  map[loc]commitSeen
	committed map[loc]commitSeen
}

// commitSeen is a committed offset and the op it comes from.
type commitSeen struct {
	offset, op, complete int64
}

// later keeps the commit that completed last (the later op on a tie).
func later(m map[loc]commitSeen, l loc, s commitSeen) {
	if old, ok := m[l]; !ok || s.complete >= old.complete {
		m[l] = s
	}
}

// checkGroups checks that each consumer group delivered every record of
// the final logs of its streams, and that its final committed offsets are
// the high watermarks. The final committed offsets are those of the last
// group_offsets observation of each partition, or, for a group never
// observed, of its last ok commit.
func (c *checker) checkGroups() {
	groups := map[string]*group{}
	get := func(name string) *group {
		g := groups[name]
		if g == nil {
			g = &group{streams: map[string]bool{}, delivered: map[loc][]bool{}, observed: map[loc]commitSeen{},
				committed: map[loc]commitSeen{}}
			groups[name] = g
		}
		return g
	}
	for i := range c.ops {
		op := &c.ops[i]
		switch {
		case op.Kind == history.KindJoin && op.Outcome != history.Failed:
			g := get(op.Join.Group)
			for _, s := range op.Join.Streams {
				g.streams[s] = true
			}
		case op.Kind == history.KindDeliver:
			d := op.Deliver
			g := get(d.Group)
			g.streams[d.Stream] = true
			l := loc{d.Stream, d.Partition}
			f := c.finals[l]
			if f == nil || d.Offset < f.logStart || d.Offset >= f.hwm {
				continue
			}
			if g.delivered[l] == nil {
				g.delivered[l] = make([]bool, f.hwm-f.logStart)
			}
			g.delivered[l][d.Offset-f.logStart] = true
		case (op.Kind == history.KindCommit || op.Kind == history.KindOffsets) && op.Outcome == history.OK:
			g := get(op.Commit.Group)
			into := g.committed
			if op.Kind == history.KindOffsets {
				into = g.observed
			}
			for _, o := range op.Commit.Offsets {
				g.streams[o.Stream] = true
				later(into, loc{o.Stream, o.Partition}, commitSeen{offset: o.Offset, op: op.ID, complete: op.Complete})
			}
		}
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	c.rep.Stats.Groups = len(names)
	for _, name := range names {
		g := groups[name]
		final := g.observed
		if len(final) == 0 {
			final = g.committed
		}
		for _, l := range c.locs {
			f := c.finals[l]
			if f == nil || !g.streams[l.stream] {
				continue
			}
			c.checkGroupPartition(name, g.delivered[l], l, f)
			s, ok := final[l]
			if !ok && f.hwm == f.logStart {
				continue // nothing to read, nothing to commit
			}
			if !ok {
				s = commitSeen{offset: -1, op: -1}
			}
			if s.offset != f.hwm {
				c.add(&GroupCommitMismatch{Group: name, Stream: l.stream, Partition: l.partition,
					Committed: s.offset, HighWatermark: f.hwm, Op: s.op})
			}
		}
	}
}

// checkGroupPartition reports the records of a final log that group name
// never delivered (delivered may be nil: none).
func (c *checker) checkGroupPartition(name string, delivered []bool, l loc, f *finalLog) {
	v := &GroupMissed{Group: name, Stream: l.stream, Partition: l.partition}
	for i := range f.values {
		if !f.have[i] || (delivered != nil && delivered[i]) {
			continue
		}
		if v.Missing++; v.Missing <= c.cfg.Examples {
			v.Offsets = append(v.Offsets, f.logStart+int64(i))
			if op := c.produced[f.values[i]]; op != nil {
				v.Produces = append(v.Produces, op.ID)
			}
		}
	}
	if v.Missing > 0 {
		c.add(v)
	}
}
