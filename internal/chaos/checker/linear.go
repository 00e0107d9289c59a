package checker

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// The linearizability check: each sampled partition is a log whose
// appends return the offset they got and whose reads return the records
// from an offset and the high watermark. An append whose outcome is
// unknown may take effect at any time after its invocation (porcupine
// gets it with a return after everything else); one that never shows up
// in the final log did not take effect and is left out, which needs a
// final read of the partition.

// linInput is an operation's input: an append of value, or a read from.
type linInput struct {
	read  bool
	value history.Value
	from  int64
}

// linOutput is an operation's output: an append's offset (or unknown), a
// read's values and high watermark.
type linOutput struct {
	unknown bool
	offset  int64
	values  []history.Value
	hwm     int64
}

// logState is the model's state, a log, as a prefix of a shared backing
// array: the first n values of *vals (and their prefix hashes). Values
// below a state's n are never written again; an append writes in place
// only when the state ends where the array does, and copies otherwise.
// So a state is immutable as porcupine needs, and the common step (append
// to the latest state) is O(1). One search is single-threaded.
type logState struct {
	vals   *[]history.Value
	hashes *[]uint64 // hashes[i]: hash of vals[0..i]
	n      int
}

func newLogState() logState {
	vals, hashes := make([]history.Value, 0, 64), make([]uint64, 0, 64)
	return logState{vals: &vals, hashes: &hashes}
}

func (s logState) with(v history.Value) logState {
	if len(*s.vals) != s.n { // another state has grown the array past us: branch off
		vals := make([]history.Value, s.n, 2*s.n+1)
		copy(vals, *s.vals)
		hashes := make([]uint64, s.n, 2*s.n+1)
		copy(hashes, *s.hashes)
		s.vals, s.hashes = &vals, &hashes
	}
	h := uint64(14695981039346656037) // FNV-1a of the value, chained to the prefix's hash
	if s.n > 0 {
		h ^= (*s.hashes)[s.n-1] * 1099511628211
	}
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(v[i])) * 1099511628211
	}
	*s.vals = append(*s.vals, v)
	*s.hashes = append(*s.hashes, h)
	return logState{vals: s.vals, hashes: s.hashes, n: s.n + 1}
}

func (s logState) hash() uint64 {
	if s.n == 0 {
		return 0
	}
	return (*s.hashes)[s.n-1]
}

func logEqual(a, b logState) bool {
	if a.n != b.n || a.hash() != b.hash() {
		return false
	}
	return a.vals == b.vals || slices.Equal((*a.vals)[:a.n], (*b.vals)[:b.n])
}

// logModel is the porcupine model of one partition.
func logModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return newLogState() },
		Step: func(state, input, output any) (bool, any) {
			s, in, out := state.(logState), input.(linInput), output.(linOutput)
			if !in.read {
				if !out.unknown && out.offset != int64(s.n) {
					return false, s
				}
				return true, s.with(in.value)
			}
			if out.hwm != int64(s.n) {
				return false, s
			}
			for i, v := range out.values {
				if j := in.from + int64(i); j >= int64(s.n) || (*s.vals)[j] != v {
					return false, s
				}
			}
			return true, s
		},
		Equal: func(a, b any) bool { return logEqual(a.(logState), b.(logState)) },
		Hash:  func(s any) uint64 { return s.(logState).hash() },
		DescribeOperation: func(input, output any) string {
			in, out := input.(linInput), output.(linOutput)
			if !in.read {
				if out.unknown {
					return fmt.Sprintf("append(%s) -> ?", in.value)
				}
				return fmt.Sprintf("append(%s) -> %d", in.value, out.offset)
			}
			return fmt.Sprintf("read(%d) -> %s hwm %d", in.from, describeValues(out.values), out.hwm)
		},
		DescribeState: func(state any) string {
			s := state.(logState)
			return fmt.Sprintf("%d records: %s", s.n, describeValues((*s.vals)[max(0, s.n-5):s.n]))
		},
		DescribeOperationMetadata: func(info any) string {
			if id, ok := info.(int64); ok {
				return fmt.Sprintf("op %d", id)
			}
			return ""
		},
	}
}

func describeValues(vs []history.Value) string {
	if len(vs) > 5 {
		return fmt.Sprintf("[%s ... %s] (%d)", vs[0], vs[len(vs)-1], len(vs))
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// linOp is one operation of a partition for the model.
type linOp struct {
	op  *history.Op
	in  linInput
	out linOutput
	// end is the offset after the op: an append's offset + 1, a read's
	// high watermark.
	end int64
}

// checkLinearizable checks a sample of the partitions.
func (c *checker) checkLinearizable() {
	var candidates []loc
	for _, l := range c.locs {
		f := c.finals[l]
		switch {
		case f == nil:
			// MissingFinalRead
		case len(c.deadLetterOf[l.stream]) > 0:
			c.rep.Linearizability = append(c.rep.Linearizability, LinResult{Stream: l.stream, Partition: l.partition,
				Result: LinSkipped, Reason: "a dead-letter stream: the server writes it"})
		case f.logStart > 0:
			c.rep.Linearizability = append(c.rep.Linearizability, LinResult{Stream: l.stream, Partition: l.partition,
				Result: LinSkipped, Reason: fmt.Sprintf("the log starts at %d (retention): the model needs it all", f.logStart)})
		case f.hwm > 0:
			candidates = append(candidates, l)
		}
	}
	if n := c.cfg.LinPartitions; n != AllPartitions && n < len(candidates) {
		rng := rand.New(rand.NewPCG(uint64(c.cfg.Seed), 0x5eed))
		rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
		candidates = candidates[:n]
		slices.SortFunc(candidates, loc.compare)
	}
	for _, l := range candidates {
		c.checkPartition(l)
	}
}

// partitionOps returns the ops of partition l for the model.
func (c *checker) partitionOps(l loc) []linOp {
	var out []linOp
	for i := range c.ops {
		op := &c.ops[i]
		switch {
		case op.Produce != nil && op.Produce.Stream == l.stream && op.Outcome != history.Failed:
			// An ok append at its offset; one of unknown outcome wherever
			// it landed here, maybe more than once (a producer that is not
			// idempotent; checkDuplicates judges it), and never if it did
			// not land.
			p := op.Produce
			acked := int64(-1)
			if op.Outcome == history.OK && p.Result.Partition == l.partition {
				acked = p.Result.Offset
				out = append(out, linOp{op: op, in: linInput{value: p.Value},
					out: linOutput{offset: acked}, end: acked + 1})
			}
			for _, pl := range c.found[p.Value] {
				if pl.loc == l && pl.offset != acked {
					out = append(out, linOp{op: op, in: linInput{value: p.Value},
						out: linOutput{unknown: true}, end: pl.offset + 1})
				}
			}
		case op.Kind == history.KindFetch && op.Outcome == history.OK && op.Fetch.Stream == l.stream &&
			op.Fetch.Partition == l.partition:
			r := op.Fetch.Result
			in := linInput{read: true, from: op.Fetch.From}
			if len(r.Records) > 0 {
				in.from = r.Records[0].Offset
			}
			vals := make([]history.Value, len(r.Records))
			for j, rec := range r.Records {
				vals[j] = rec.Value
			}
			out = append(out, linOp{op: op, in: in, out: linOutput{values: vals, hwm: r.HighWatermark},
				end: r.HighWatermark})
		}
	}
	return out
}

// window keeps at most about max ops of a partition: those invoked first,
// and every append at an offset below what they reach (which they may
// depend on). A linearization of all ops restricted to these is one of
// these, so the window finds no violation that is not there.
func window(ops []linOp, limit int) (kept []linOp, omitted int) {
	if len(ops) <= limit {
		return ops, 0
	}
	slices.SortStableFunc(ops, func(a, b linOp) int { return cmp.Compare(a.op.Invoke, b.op.Invoke) })
	cut := ops[limit-1].op.Invoke
	var reach int64
	for _, o := range ops {
		if o.op.Invoke <= cut {
			reach = max(reach, o.end)
		}
	}
	for _, o := range ops {
		if o.op.Invoke <= cut || (!o.in.read && o.end <= reach) {
			kept = append(kept, o)
		}
	}
	return kept, len(ops) - len(kept)
}

// checkPartition runs porcupine over partition l.
func (c *checker) checkPartition(l loc) {
	res := LinResult{Stream: l.stream, Partition: l.partition}
	ops, omitted := window(c.partitionOps(l), c.cfg.LinMaxOps)
	res.Ops, res.Omitted = len(ops), omitted
	var last int64
	for _, o := range ops {
		last = max(last, o.op.Complete)
	}
	clients := map[int]int{} // process -> porcupine's zero-based client id
	pops := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		id, ok := clients[o.op.Process]
		if !ok {
			id = len(clients)
			clients[o.op.Process] = id
		}
		ret := o.op.Complete
		if o.out.unknown {
			ret = last + 1 // may take effect at any time after its invocation
		}
		pops[i] = porcupine.Operation{ClientId: id, Input: o.in, Call: o.op.Invoke, Output: o.out, Return: ret,
			Metadata: o.op.ID}
	}
	model := logModel()
	start := time.Now()
	result, info := porcupine.CheckOperationsVerbose(model, pops, c.cfg.LinTimeout)
	res.Elapsed = time.Since(start)
	switch result {
	case porcupine.Ok:
		res.Result = LinOK
	case porcupine.Unknown:
		res.Result, res.Reason = LinTimeout, fmt.Sprintf("no verdict within %v", c.cfg.LinTimeout)
	default:
		res.Result = LinIllegal
		c.add(c.notLinearizable(l, pops, model, info))
	}
	c.rep.Linearizability = append(c.rep.Linearizability, res)
}

// notLinearizable names the ops that could have come after porcupine's
// longest partial linearization: those not in it that were invoked before
// any of the rest returned. None of them fits, and the culprit is among
// them.
func (c *checker) notLinearizable(l loc, pops []porcupine.Operation, model porcupine.Model,
	info porcupine.LinearizationInfo) *NotLinearizable {
	var longest []int
	for _, partition := range info.PartialLinearizations() {
		for _, seq := range partition {
			if len(seq) > len(longest) {
				longest = seq
			}
		}
	}
	done := make([]bool, len(pops))
	for _, i := range longest {
		done[i] = true
	}
	var rest []int
	firstReturn := int64(-1)
	for i, p := range pops {
		if !done[i] {
			rest = append(rest, i)
			if firstReturn < 0 || p.Return < firstReturn {
				firstReturn = p.Return
			}
		}
	}
	slices.SortFunc(rest, func(a, b int) int { return cmp.Compare(pops[a].Call, pops[b].Call) })
	v := &NotLinearizable{Stream: l.stream, Partition: l.partition, Linearized: len(longest), Total: len(pops),
		model: model, info: info}
	for _, i := range rest {
		if pops[i].Call <= firstReturn && len(v.Ops) < c.cfg.Examples {
			v.Ops = append(v.Ops, pops[i].Metadata.(int64))
		}
	}
	return v
}
