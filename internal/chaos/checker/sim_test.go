package checker

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// A simulated run of a correct cluster: processes run one op at a time
// with random durations, each op takes effect at a random instant within
// its interval, and the ops are applied to an ideal store in that order.
// Its histories must pass; the same histories with one thing broken must
// not.

type simConfig struct {
	seed       uint64
	ops        int   // ops before the drain and final phase
	partitions int32 // of stream s; qs has 2, dlq 1
	producers  int
	readers    int
	unknown    float64 // chance that a write's outcome is unknown (it lands half the time)
	failed     float64 // chance that a write fails
}

type simMsg struct {
	part     int32
	offset   int64
	value    history.Value
	count    int
	acked    bool
	inHand   bool
	deadDone bool
}

// simStore is the ideal cluster.
type simStore struct {
	rng     *rand.Rand
	logs    map[loc][]history.Value
	pending []*simMsg // queue messages in send order
	dlq     []*simMsg // dead-lettered, in order
}

func (s *simStore) append(l loc, v history.Value) int64 {
	s.logs[l] = append(s.logs[l], v)
	return int64(len(s.logs[l]) - 1)
}

// simOp is an op waiting to be applied at instant at.
type simOp struct {
	op    history.Op
	at    int64
	apply func(s *simStore, op *history.Op) bool // false: drop the op
}

func simulate(cfg simConfig) []history.Op {
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	st := &simStore{rng: rng, logs: map[loc][]history.Value{}}
	var out []history.Op
	record := func(op history.Op) { out = append(out, op) }
	var t int64
	setup := func(op history.Op) {
		op.Outcome, op.Invoke, op.Complete = history.OK, t, t+1
		t += 2
		record(op)
	}
	setup(history.Op{Kind: history.KindCreateStream, Stream: &history.StreamSpec{Name: "s", Partitions: cfg.partitions}})
	setup(history.Op{Kind: history.KindCreateStream, Stream: &history.StreamSpec{Name: "qs", Partitions: 2}})
	setup(history.Op{Kind: history.KindCreateStream, Stream: &history.StreamSpec{Name: "dlq", Partitions: 1}})
	setup(history.Op{Kind: history.KindCreateQueue, Queue: &history.QueueSpec{Name: "q", Stream: "qs", DeadLetter: "dlq", MaxReceives: 3}})
	setup(history.Op{Process: 1000, Kind: history.KindJoin, Join: &history.Join{Group: "g", Member: "m1", Streams: []string{"s"}}})

	// Processes: producers, readers, the group member, the queue sender
	// and receiver.
	type proc struct {
		id   int
		free int64
		next func(p *proc) simOp
	}
	write := func(o *history.Op, l loc) bool {
		switch r := rng.Float64(); {
		case r < cfg.failed:
			o.Outcome, o.Produce.Result = history.Failed, nil
		case r < cfg.failed+cfg.unknown:
			o.Outcome, o.Produce.Result = history.Unknown, nil
			if rng.IntN(2) == 0 {
				st.append(l, o.Produce.Value)
			}
		default:
			off := st.append(l, o.Produce.Value)
			o.Outcome, o.Produce.Result = history.OK, &history.Position{Partition: l.partition, Offset: off}
		}
		return true
	}
	var procs []*proc
	for i := range cfg.producers {
		name, seq := fmt.Sprintf("p%d", i), int64(0)
		procs = append(procs, &proc{id: i, next: func(p *proc) simOp {
			k := rng.IntN(3)
			part := int32(i*3+k) % cfg.partitions
			v := history.NewValue(name, seq)
			o := history.Op{Kind: history.KindProduce, Produce: &history.Produce{Stream: "s", Partition: history.AnyPartition,
				Key: fmt.Sprint("k", k), Value: v, Producer: name, Seq: seq, Idempotent: true, Ordered: true}}
			seq++
			return simOp{op: o, apply: func(s *simStore, o *history.Op) bool { return write(o, loc{"s", part}) }}
		}})
	}
	for i := range cfg.readers {
		procs = append(procs, &proc{id: 100 + i, next: func(p *proc) simOp {
			l := loc{"s", rng.Int32N(cfg.partitions)}
			if rng.IntN(4) == 0 {
				l = loc{"qs", rng.Int32N(2)}
			}
			o := history.Op{Kind: history.KindFetch, Fetch: &history.Fetch{Stream: l.stream, Partition: l.partition}}
			return simOp{op: o, apply: func(s *simStore, o *history.Op) bool {
				log := s.logs[l]
				from := rng.Int64N(int64(len(log)) + 1)
				o.Outcome, o.Fetch.From = history.OK, from
				o.Fetch.Result = &history.FetchResult{HighWatermark: int64(len(log)),
					Records: recs(from, log[from:min(int64(len(log)), from+20)]...)}
				return true
			}}
		}})
	}
	pos := make([]int64, cfg.partitions) // the group's positions
	commit := func(o *history.Op) {
		o.Outcome = history.OK
		o.Commit = &history.Commit{Group: "g", Member: "m1"}
		for p := range cfg.partitions {
			o.Commit.Offsets = append(o.Commit.Offsets, history.Offset{Stream: "s", Partition: p, Offset: pos[p]})
		}
	}
	procs = append(procs, &proc{id: 1000, next: func(p *proc) simOp {
		part := rng.Int32N(cfg.partitions)
		return simOp{apply: func(s *simStore, o *history.Op) bool {
			log := s.logs[loc{"s", part}]
			if pos[part] >= int64(len(log)) || rng.IntN(10) == 0 {
				o.Kind = history.KindCommit
				commit(o)
				return true
			}
			o.Kind, o.Outcome = history.KindDeliver, history.OK
			o.Deliver = &history.Deliver{Group: "g", Member: "m1", Stream: "s", Partition: part, Offset: pos[part],
				Value: log[pos[part]]}
			pos[part]++
			return true
		}}
	}})
	qseq := int64(0)
	procs = append(procs, &proc{id: 2000, next: func(p *proc) simOp {
		v := history.NewValue("qp", qseq)
		qseq++
		part := rng.Int32N(2)
		o := history.Op{Kind: history.KindSend, Produce: &history.Produce{Stream: "qs", Queue: "q",
			Partition: history.AnyPartition, Value: v, Producer: "qp", Seq: qseq - 1, Idempotent: true}}
		return simOp{op: o, apply: func(s *simStore, o *history.Op) bool {
			write(o, loc{"qs", part})
			// It landed if it is the last record of its partition.
			if log := s.logs[loc{"qs", part}]; len(log) > 0 && log[len(log)-1] == v {
				s.pending = append(s.pending, &simMsg{part: part, offset: int64(len(log) - 1), value: v})
			}
			return true
		}}
	}})
	var held *simMsg
	receiveOrAck := func(s *simStore, o *history.Op) bool {
		if held != nil {
			m := held
			held, m.inHand = nil, false
			if rng.IntN(3) == 0 {
				return false // not acked: its lease runs out
			}
			o.Kind, o.Outcome = history.KindAck, history.OK
			o.Ack = &history.Ack{Queue: "q", Partition: m.part, Offset: m.offset, Receipt: "r"}
			m.acked = true
			return true
		}
		o.Kind = history.KindReceive
		for _, m := range s.pending {
			if m.acked || m.inHand || m.deadDone {
				continue
			}
			if m.count == 3 { // max receives: dead-letter it
				m.deadDone = true
				s.append(loc{"dlq", 0}, m.value)
				s.dlq = append(s.dlq, m)
				continue
			}
			m.count++
			m.inHand, held = true, m
			o.Outcome = history.OK
			o.Receive = &history.Receive{Queue: "q", Partition: m.part, Offset: m.offset, Receipt: "r",
				ReceiveCount: m.count, Value: m.value}
			return true
		}
		o.Outcome, o.Receive = history.Failed, &history.Receive{Queue: "q"}
		return true
	}
	procs = append(procs, &proc{id: 2001, next: func(p *proc) simOp { return simOp{apply: receiveOrAck} }})

	// Schedule, then apply in the order the ops take effect.
	var sched []simOp
	for range cfg.ops {
		p := procs[rng.IntN(len(procs))]
		so := p.next(p)
		so.op.Process = p.id
		so.op.Invoke = max(p.free, t) + rng.Int64N(5)
		so.op.Complete = so.op.Invoke + 1 + rng.Int64N(100)
		so.at = so.op.Invoke + rng.Int64N(so.op.Complete-so.op.Invoke+1)
		p.free = so.op.Complete + 1
		sched = append(sched, so)
	}
	slices.SortStableFunc(sched, func(a, b simOp) int { return cmp.Compare(a.at, b.at) })
	for i := range sched {
		if sched[i].apply(st, &sched[i].op) {
			record(sched[i].op)
		}
		t = max(t, sched[i].op.Complete+1)
	}
	for range 5 {
		record(history.Op{Process: -1, Kind: history.KindFault, Outcome: history.OK, Invoke: rng.Int64N(t),
			Complete: t, Fault: &history.Fault{Action: history.FaultKill, Nodes: []string{"n1"}}})
	}

	// Drain: the queue, the group; then the final reads.
	seq := func(op history.Op) {
		op.Invoke, op.Complete = t, t+1
		t += 2
		record(op)
	}
	for held != nil || slices.ContainsFunc(st.pending, func(m *simMsg) bool { return !m.acked && !m.deadDone }) {
		var o history.Op
		o.Process = 2001
		if receiveOrAck(st, &o) && o.Outcome == history.OK {
			seq(o)
		}
	}
	for _, m := range st.dlq {
		dl := st.logs[loc{"dlq", 0}]
		off := int64(slices.Index(dl, m.value))
		seq(history.Op{Process: 3000, Kind: history.KindDeadLetter, Outcome: history.OK,
			DeadLetter: &history.DeadLetter{Queue: "q", Stream: "dlq", Offset: off, Value: m.value,
				Source: history.Location{Stream: "qs", Partition: m.part, Offset: m.offset}}})
	}
	for p := range cfg.partitions {
		log := st.logs[loc{"s", p}]
		for ; pos[p] < int64(len(log)); pos[p]++ {
			seq(history.Op{Process: 1000, Kind: history.KindDeliver, Outcome: history.OK, Deliver: &history.Deliver{
				Group: "g", Member: "m1", Stream: "s", Partition: p, Offset: pos[p], Value: log[pos[p]]}})
		}
	}
	var final history.Op
	commit(&final)
	final.Kind, final.Process, final.Commit.Member = history.KindOffsets, 1000, ""
	seq(final)
	var locs []loc
	for p := range cfg.partitions {
		locs = append(locs, loc{"s", p})
	}
	locs = append(locs, loc{"qs", 0}, loc{"qs", 1}, loc{"dlq", 0})
	for _, l := range locs {
		log := st.logs[l]
		for from := 0; from == 0 || from < len(log); from += 1000 { // in parts of 1000
			seq(history.Op{Process: 3001, Kind: history.KindFetch, Outcome: history.OK, Fetch: &history.Fetch{
				Stream: l.stream, Partition: l.partition, From: int64(from), Final: true,
				Result: &history.FetchResult{HighWatermark: int64(len(log)),
					Records: recs(int64(from), log[from:min(len(log), from+1000)]...)}}})
		}
	}

	// IDs in completion order, as the Recorder gives them.
	slices.SortStableFunc(out, func(a, b history.Op) int { return cmp.Compare(a.Complete, b.Complete) })
	for i := range out {
		out[i].ID = int64(i)
	}
	return out
}

func smallSim(seed uint64) simConfig {
	return simConfig{seed: seed, ops: 600, partitions: 3, producers: 3, readers: 2, unknown: 0.1, failed: 0.05}
}

// TestSimulatedRuns checks that histories of a correct store pass, every
// partition checked for linearizability, also through a small window.
func TestSimulatedRuns(t *testing.T) {
	for seed := range uint64(30) {
		ops := simulate(smallSim(seed))
		for _, cfg := range []Config{{LinPartitions: AllPartitions}, {LinPartitions: AllPartitions, LinMaxOps: 40}} {
			r := mustCheck(t, ops, cfg)
			if !r.OK() {
				t.Fatalf("seed %d, config %+v:\n%s", seed, cfg, r)
			}
			for _, l := range r.Linearizability {
				if l.Result != LinOK && l.Result != LinSkipped {
					t.Fatalf("seed %d: %+v", seed, l)
				}
			}
		}
		if seed == 0 {
			st := mustCheck(t, ops, Config{LinDisabled: true}).Stats
			if st.UnknownLanded == 0 || st.UnknownMissing == 0 || st.Queue.Redelivered == 0 || st.Queue.DeadLettered == 0 {
				t.Errorf("the simulation misses a feature: %+v", st)
			}
		}
	}
}

// TestSimulatedBreakage breaks one thing in simulated histories and wants
// the checker to notice.
func TestSimulatedBreakage(t *testing.T) {
	finals := func(ops []history.Op, stream string) []int {
		var out []int
		for i, op := range ops {
			if op.Kind == history.KindFetch && op.Fetch.Final && op.Fetch.Stream == stream && len(op.Fetch.Result.Records) > 2 {
				out = append(out, i)
			}
		}
		return out
	}
	breakers := []struct {
		name string
		want Property
		do   func(rng *rand.Rand, ops []history.Op) bool
	}{
		{"drop a record from a final read", PropOrder, func(rng *rand.Rand, ops []history.Op) bool {
			fs := finals(ops, "s")
			if len(fs) == 0 {
				return false
			}
			r := ops[fs[rng.IntN(len(fs))]].Fetch.Result
			i := rng.IntN(len(r.Records))
			r.Records = slices.Delete(slices.Clone(r.Records), i, i+1)
			return true
		}},
		{"swap two records of a final read", PropRealReads, func(rng *rand.Rand, ops []history.Op) bool {
			fs := finals(ops, "s")
			if len(fs) == 0 {
				return false
			}
			r := ops[fs[rng.IntN(len(fs))]].Fetch.Result
			r.Records = slices.Clone(r.Records)
			i := rng.IntN(len(r.Records) - 1)
			r.Records[i].Value, r.Records[i+1].Value = r.Records[i+1].Value, r.Records[i].Value
			return true
		}},
		{"forget a delivery", PropGroups, func(rng *rand.Rand, ops []history.Op) bool {
			i := rng.IntN(len(ops))
			for ; i < len(ops) && ops[i].Kind != history.KindDeliver; i++ {
			}
			if i == len(ops) {
				return false
			}
			// Deliveries of the same record elsewhere would cover it: make it
			// a fault instead, and drop all deliveries of that record.
			d := *ops[i].Deliver
			for j := range ops {
				if dd := ops[j].Deliver; dd != nil && dd.Partition == d.Partition && dd.Offset == d.Offset {
					ops[j] = history.Op{ID: ops[j].ID, Process: -1, Kind: history.KindFault, Outcome: history.OK,
						Invoke: ops[j].Invoke, Complete: ops[j].Complete, Fault: &history.Fault{Action: history.FaultOther}}
				}
			}
			return true
		}},
		{"forget the acks of a message", PropQueues, func(rng *rand.Rand, ops []history.Op) bool {
			sentOK := map[[2]int64]bool{}
			for _, op := range ops {
				if op.Kind == history.KindSend && op.Outcome == history.OK {
					sentOK[[2]int64{int64(op.Produce.Result.Partition), op.Produce.Result.Offset}] = true
				}
			}
			i := rng.IntN(len(ops))
			for ; i < len(ops) && (ops[i].Kind != history.KindAck ||
				!sentOK[[2]int64{int64(ops[i].Ack.Partition), ops[i].Ack.Offset}]); i++ {
			}
			if i == len(ops) {
				return false
			}
			a := *ops[i].Ack
			for j := range ops {
				if aa := ops[j].Ack; aa != nil && aa.Partition == a.Partition && aa.Offset == a.Offset {
					ops[j].Outcome = history.Failed
				}
			}
			return true
		}},
		{"a stale read", PropLinearizable, func(rng *rand.Rand, ops []history.Op) bool {
			for _, i := range rng.Perm(len(ops)) {
				op := &ops[i]
				if op.Kind != history.KindFetch || op.Fetch.Final || op.Fetch.Stream != "s" {
					continue
				}
				if r := op.Fetch.Result; len(r.Records) == 0 && r.HighWatermark > 0 {
					// Claim the log was one record shorter when the read
					// ran, after the append it misses had returned.
					for j := range ops {
						p := ops[j].Produce
						if p != nil && ops[j].Outcome == history.OK && p.Stream == "s" &&
							p.Result.Partition == op.Fetch.Partition && p.Result.Offset == r.HighWatermark-1 &&
							ops[j].Complete < op.Invoke {
							r.HighWatermark--
							op.Fetch.From = min(op.Fetch.From, r.HighWatermark)
							return true
						}
					}
				}
			}
			return false
		}},
	}
	for _, br := range breakers {
		t.Run(br.name, func(t *testing.T) {
			broken := 0
			for seed := range uint64(40) {
				ops := simulate(smallSim(seed))
				if !br.do(rand.New(rand.NewPCG(seed, 2)), ops) {
					continue
				}
				broken++
				r := mustCheck(t, ops, Config{LinPartitions: AllPartitions})
				if len(r.Of(br.want)) == 0 {
					t.Fatalf("seed %d: no %s violation:\n%s", seed, br.want, r)
				}
			}
			if broken < 5 {
				t.Fatalf("only %d histories could be broken", broken)
			}
		})
	}
}

// largeHistory is a simulated run of about 200k ops over 8 partitions,
// with some unknown and failed outcomes: the size of a 40 s bounded chaos
// run.
func largeHistory(tb testing.TB) []history.Op {
	tb.Helper()
	ops := simulate(simConfig{seed: 1, ops: 125_000, partitions: 8, producers: 8, readers: 2, unknown: 0.02, failed: 0.01})
	if len(ops) < 180_000 {
		tb.Fatalf("only %d ops", len(ops))
	}
	return ops
}

// TestCheckLargeHistory checks that a large valid history passes. How
// long that takes is measured by BenchmarkCheck, not here.
func TestCheckLargeHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ops := largeHistory(t)
	r := mustCheck(t, ops, Config{})
	t.Logf("%d ops; %d records; linearizability %+v", len(ops), r.Stats.Records, r.Linearizability)
	if !r.OK() {
		t.Fatalf("violations:\n%s", r)
	}
}

// BenchmarkCheck: the cost of checking a bounded chaos run's history.
// go test -run XXX -bench Check ./internal/chaos/checker/
func BenchmarkCheck(b *testing.B) {
	ops := largeHistory(b)
	b.ResetTimer()
	for b.Loop() {
		if r := mustCheck(b, ops, Config{}); !r.OK() {
			b.Fatalf("violations:\n%s", r)
		}
	}
	b.ReportMetric(float64(len(ops)), "ops/history")
}
