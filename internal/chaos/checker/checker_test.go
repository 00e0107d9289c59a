package checker

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// goodHistory is a small run that keeps every promise, with each feature
// in it: two partitions, unknown produces that landed and that did not, a
// failed produce, faults, a consumer group delivering one record twice, a
// queue with a redelivery, a failed ack and a dead letter, and final reads
// (one of them in two parts).
func goodHistory() *hb {
	b := &hb{}
	b.stream("s", 2)
	b.stream("qs", 1)
	b.stream("dlq", 1)
	b.queue("q", "qs", "dlq")
	b.join("g", "s")
	b.produce("s", 0, "p1-0", history.OK, 0)
	b.produce("s", 0, "p1-1", history.OK, 1)
	b.fetch("s", 0, false, 2, recs(0, "p1-0", "p1-1"))
	b.fault(history.FaultKill, "n1")
	b.produce("s", 0, "p2-0", history.Unknown, 0) // landed, at 2
	b.produce("s", 1, "p3-0", history.OK, 0)
	b.produce("s", 1, "p3-1", history.Unknown, 0) // never landed
	b.produce("s", 1, "p3-2", history.Failed, 0)
	b.fault(history.FaultRestart, "n1")
	b.produce("s", 0, "p1-2", history.OK, 3)
	b.produce("s", 1, "p3-3", history.OK, 1)
	b.fetch("s", 1, false, 2, recs(1, "p3-3"))

	b.deliver("g", "s", 0, 0, "p1-0")
	b.deliver("g", "s", 0, 1, "p1-1")
	b.commit(history.KindCommit, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 2})
	b.deliver("g", "s", 0, 1, "p1-1") // again: at-least-once
	b.deliver("g", "s", 0, 2, "p2-0")
	b.deliver("g", "s", 0, 3, "p1-2")
	b.deliver("g", "s", 1, 0, "p3-0")
	b.deliver("g", "s", 1, 1, "p3-3")
	b.commit(history.KindCommit, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 4},
		history.Offset{Stream: "s", Partition: 1, Offset: 2})

	b.send("q", "qs", "q1-0", history.OK, 0)
	b.send("q", "qs", "q1-1", history.OK, 1)
	b.send("q", "qs", "q1-2", history.OK, 2)
	b.receive("q", 0, "q1-0", 1)
	b.ack("q", 0, history.OK)
	b.receive("q", 1, "q1-1", 1) // its lease runs out
	b.receive("q", 1, "q1-1", 2)
	b.ack("q", 1, history.Failed)
	b.ack("q", 1, history.OK)
	for n := 1; n <= 3; n++ {
		b.receive("q", 2, "q1-2", n)
	}
	b.deadLetter("q", "dlq", 0, "q1-2", history.Location{Stream: "qs", Partition: 0, Offset: 2})

	b.fetch("s", 0, true, 4, recs(0, "p1-0", "p1-1"))
	b.fetch("s", 0, true, 4, recs(2, "p2-0", "p1-2"))
	b.fetch("s", 1, true, 2, recs(0, "p3-0", "p3-3"))
	b.fetch("qs", 0, true, 3, recs(0, "q1-0", "q1-1", "q1-2"))
	b.fetch("dlq", 0, true, 1, recs(0, "q1-2"))
	b.commit(history.KindOffsets, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 4},
		history.Offset{Stream: "s", Partition: 1, Offset: 2})
	return b
}

// types returns the distinct types of the report's violations, sorted.
func types(r *Report) []string {
	var out []string
	for _, v := range r.Violations {
		if t := fmt.Sprintf("%T", v); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func mustCheck(t testing.TB, ops []history.Op, cfg Config) *Report {
	t.Helper()
	r, err := Check(ops, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoodHistory(t *testing.T) {
	b := goodHistory()
	r := mustCheck(t, b.ops, Config{LinPartitions: AllPartitions})
	if !r.OK() {
		t.Fatalf("violations:\n%s", r)
	}
	st := r.Stats
	want := Stats{Ops: len(b.ops), Faults: 2, Produces: Counts{OK: 5, Failed: 1, Unknown: 2},
		Sends: Counts{OK: 3}, UnknownLanded: 1, UnknownMissing: 1, Fetches: Counts{OK: 7}, Partitions: 4,
		Records: 10, AllowedDuplicates: 0, Groups: 1, Deliveries: 7,
		Queue: QueueStats{Receives: 6, Received: 3, Redelivered: 2, MaxReceiveCount: 3, Acks: Counts{OK: 2, Failed: 1},
			Acked: 2, DeadLettered: 1}}
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	var lin []string
	for _, l := range r.Linearizability {
		lin = append(lin, fmt.Sprintf("%s/%d %s %d", l.Stream, l.Partition, l.Result, l.Ops))
	}
	// dlq is written by the server, not by ops of the history.
	wantLin := []string{"dlq/0 skipped 0", "qs/0 ok 4", "s/0 ok 7", "s/1 ok 4"}
	if !slices.Equal(lin, wantLin) {
		t.Errorf("linearizability %q, want %q", lin, wantLin)
	}
	if r.Err() != nil {
		t.Errorf("Err = %v", r.Err())
	}
}

// badCase is a minimal history that breaks one promise.
type badCase struct {
	name  string
	build func(b *hb)
	want  []string // violation types, sorted
	check func(t *testing.T, r *Report)
}

func TestBadHistories(t *testing.T) {
	cases := []badCase{
		{name: "lost ack", want: []string{"*checker.LostWrite"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-1", history.OK, 1)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var lw *LostWrite
				if !errors.As(r.Err(), &lw) || lw.Op != 1 || lw.Offset != 1 || lw.Found != "" {
					t.Errorf("got %+v", lw)
				}
			}},
		{name: "ack at an offset holding another value", want: []string{"*checker.LostWrite"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p2-0", history.Unknown, 0)
				b.fetch("s", 0, true, 1, recs(0, "p2-0"))
			},
			check: func(t *testing.T, r *Report) {
				var lw *LostWrite
				if !errors.As(r.Err(), &lw) || lw.Found != "p2-0" || !slices.Equal(lw.OpIDs(), []int64{0, 2}) {
					t.Errorf("got %+v", lw)
				}
			}},
		{name: "duplicate of an unknown produce", want: []string{"*checker.Duplicate"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.Unknown, 0)
				b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var d *Duplicate
				if !errors.As(r.Err(), &d) || d.Op != 0 || len(d.At) != 2 {
					t.Errorf("got %+v", d)
				}
			}},
		{name: "duplicate of an ok produce, in two partitions",
			want: []string{"*checker.Duplicate", "*checker.PhantomRead"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
				b.fetch("s", 1, true, 1, recs(0, "p1-0"))
			}},
		{name: "gap in offsets", want: []string{"*checker.OffsetGap"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-2", history.OK, 2)
				b.fetch("s", 0, true, 3, []history.Record{{Offset: 0, Value: "p1-0"}, {Offset: 2, Value: "p1-2"}})
			},
			check: func(t *testing.T, r *Report) {
				if n := len(r.Of(PropOrder)); n != 2 { // the read itself, and the final log
					t.Errorf("%d gaps:\n%s", n, r)
				}
			}},
		{name: "final reads start above the log start", want: []string{"*checker.OffsetGap"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.Unknown, 0)
				b.produce("s", 0, "p1-1", history.OK, 1)
				b.fetch("s", 0, true, 2, recs(1, "p1-1"))
			},
			check: func(t *testing.T, r *Report) {
				var g *OffsetGap
				if !errors.As(r.Err(), &g) || g.Want != 0 || g.Got != -1 {
					t.Errorf("got %+v", g)
				}
			}},
		{name: "record past the high watermark", want: []string{"*checker.OffsetGap"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-1", history.Unknown, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0", "p1-1"))
			}},
		{name: "reordering", want: []string{"*checker.Reordered"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 1) // sent first, written second
				b.produce("s", 0, "p1-1", history.OK, 0)
				b.fetch("s", 0, true, 2, recs(0, "p1-1", "p1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var o *Reordered
				if !errors.As(r.Err(), &o) || o.Earlier != 1 || o.Later != 0 || o.EarlierOffset != 0 {
					t.Errorf("got %+v", o)
				}
			}},
		{name: "phantom read, never produced", want: []string{"*checker.PhantomRead"},
			build: func(b *hb) {
				b.fetch("s", 0, true, 1, recs(0, "ghost-1"))
			},
			check: func(t *testing.T, r *Report) {
				var p *PhantomRead
				if !errors.As(r.Err(), &p) || p.Read != 0 || p.Produce != -1 {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "phantom read of a failed produce", want: []string{"*checker.PhantomRead"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.Failed, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
			}},
		{name: "phantom delivery, at another offset than acked", want: []string{"*checker.PhantomRead"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-1", history.OK, 1)
				b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-1"))
				b.join("g", "s")
				b.deliver("g", "s", 0, 0, "p1-0")
				b.deliver("g", "s", 0, 1, "p1-0") // but not p1-1: the group saw the wrong record
				b.commit(history.KindOffsets, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 2})
			},
			check: func(t *testing.T, r *Report) {
				var p *PhantomRead
				if !errors.As(r.Err(), &p) || p.Read != 5 {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "phantom read from another stream", want: []string{"*checker.PhantomRead"},
			build: func(b *hb) {
				b.produce("a", 0, "p1-0", history.Unknown, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
			}},
		{name: "divergent read", want: []string{"*checker.DivergentRead"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.Unknown, 0)
				b.produce("s", 0, "p2-0", history.Unknown, 0)
				b.fetch("s", 0, false, 1, recs(0, "p1-0")) // saw p1-0, which was then lost
				b.fetch("s", 0, true, 1, recs(0, "p2-0"))
			}},
		{name: "read past the final end", want: []string{"*checker.DivergentRead"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.Unknown, 0)
				b.fetch("s", 0, false, 1, recs(0, "p1-0"))
				b.fetch("s", 0, true, 0, nil)
			}},
		{name: "group missing records", want: []string{"*checker.GroupMissed"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-1", history.OK, 1)
				b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-1"))
				b.join("g", "s")
				b.deliver("g", "s", 0, 0, "p1-0")
				b.commit(history.KindOffsets, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 2})
			},
			check: func(t *testing.T, r *Report) {
				var g *GroupMissed
				if !errors.As(r.Err(), &g) || g.Missing != 1 || !slices.Equal(g.Offsets, []int64{1}) ||
					!slices.Equal(g.Produces, []int64{1}) {
					t.Errorf("got %+v", g)
				}
			}},
		{name: "group never read a stream it joined", want: []string{"*checker.GroupCommitMismatch", "*checker.GroupMissed"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
				b.join("g", "s")
			}},
		{name: "group commit short of the end", want: []string{"*checker.GroupCommitMismatch"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.produce("s", 0, "p1-1", history.OK, 1)
				b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-1"))
				b.join("g", "s")
				b.deliver("g", "s", 0, 0, "p1-0")
				b.deliver("g", "s", 0, 1, "p1-1")
				b.commit(history.KindCommit, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 2})
				b.commit(history.KindOffsets, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 1})
			},
			check: func(t *testing.T, r *Report) {
				var g *GroupCommitMismatch
				if !errors.As(r.Err(), &g) || g.Committed != 1 || g.HighWatermark != 2 || g.Op != 7 {
					t.Errorf("got %+v", g)
				}
			}},
		{name: "group's last ok commit short of the end", want: []string{"*checker.GroupCommitMismatch"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
				b.deliver("g", "s", 0, 0, "p1-0")
				b.commit(history.KindCommit, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 1})
				b.commit(history.KindCommit, "g", history.OK, history.Offset{Stream: "s", Partition: 0, Offset: 0})
				b.commit(history.KindCommit, "g", history.Failed, history.Offset{Stream: "s", Partition: 0, Offset: 1})
			}},
		{name: "queue message never acked", want: []string{"*checker.QueueUnacked"},
			build: func(b *hb) {
				b.queue("q", "qs", "")
				b.send("q", "qs", "q1-0", history.OK, 0)
				b.receive("q", 0, "q1-0", 1)
				b.ack("q", 0, history.Failed)
				b.fetch("qs", 0, true, 1, recs(0, "q1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var u *QueueUnacked
				if !errors.As(r.Err(), &u) || u.Send != 1 || !slices.Equal(u.Receives, []int64{2}) {
					t.Errorf("got %+v", u)
				}
			}},
		{name: "queue delivery after ack", want: []string{"*checker.QueueDeliveredAfterAck"},
			build: func(b *hb) {
				b.queue("q", "qs", "")
				b.send("q", "qs", "q1-0", history.OK, 0)
				b.receive("q", 0, "q1-0", 1)
				b.ack("q", 0, history.OK)
				b.receive("q", 0, "q1-0", 2)
				b.fetch("qs", 0, true, 1, recs(0, "q1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var d *QueueDeliveredAfterAck
				if !errors.As(r.Err(), &d) || d.Ack != 3 || d.Receive != 4 {
					t.Errorf("got %+v", d)
				}
			}},
		{name: "dead letter of another queue", want: []string{"*checker.PhantomRead", "*checker.QueueUnacked"},
			build: func(b *hb) {
				b.queue("q", "qs", "dlq")
				b.queue("q2", "qs", "dlq")
				b.send("q", "qs", "q1-0", history.OK, 0)
				b.deadLetter("q2", "dlq", 0, "q1-0", history.Location{Stream: "qs", Partition: 0, Offset: 0})
				b.fetch("qs", 0, true, 1, recs(0, "q1-0"))
				b.fetch("dlq", 0, true, 1, recs(0, "q1-0"))
			}},
		{name: "non-linearizable read", want: []string{"*checker.NotLinearizable"},
			build: func(b *hb) {
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.fetch("s", 0, false, 0, nil) // began after the append returned, and missed it
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var n *NotLinearizable
				if !errors.As(r.Err(), &n) || !slices.Equal(n.Ops, []int64{1}) || n.Linearized != 1 || n.Total != 3 {
					t.Errorf("got %+v", n)
				}
			}},
		{name: "missing final read", want: []string{"*checker.MissingFinalRead"},
			build: func(b *hb) {
				b.stream("s", 2)
				b.produce("s", 0, "p1-0", history.OK, 0)
				b.fetch("s", 0, true, 1, recs(0, "p1-0"))
			},
			check: func(t *testing.T, r *Report) {
				var m *MissingFinalRead
				if !errors.As(r.Err(), &m) || m.Partition != 1 {
					t.Errorf("got %+v", m)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &hb{}
			c.build(b)
			lin := c.want[0] == "*checker.NotLinearizable"
			r := mustCheck(t, b.ops, Config{LinDisabled: !lin, LinPartitions: AllPartitions})
			if got := types(r); !slices.Equal(got, c.want) {
				t.Fatalf("violations %v, want %v:\n%s", got, c.want, r)
			}
			for _, v := range r.Violations {
				if !slices.Contains(Properties(), v.Property()) || v.Error() == "" {
					t.Errorf("%T: property %q, text %q", v, v.Property(), v.Error())
				}
				for _, id := range v.OpIDs() {
					if id < 0 || id >= int64(len(b.ops)) {
						t.Errorf("%T names op %d, not in the history", v, id)
					}
				}
			}
			if !strings.Contains(r.String(), "FAILED") {
				t.Errorf("report text:\n%s", r)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// TestGoodVariants are histories close to the bad ones that keep every
// promise.
func TestGoodVariants(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *hb)
	}{
		{"unknown produce that landed", func(b *hb) {
			b.produce("s", 0, "p1-0", history.Unknown, 0)
			b.produce("s", 0, "p1-1", history.OK, 1)
			b.fetch("s", 0, false, 2, recs(0, "p1-0", "p1-1"))
			b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-1"))
		}},
		{"unknown produce that did not land", func(b *hb) {
			b.produce("s", 0, "p1-0", history.Unknown, 0)
			b.produce("s", 0, "p1-1", history.OK, 0)
			b.fetch("s", 0, true, 1, recs(0, "p1-1"))
		}},
		{"unknown produce that landed after a read that did not see it", func(b *hb) {
			b.produce("s", 0, "p1-0", history.Unknown, 0)
			b.fetch("s", 0, false, 0, nil)
			b.fetch("s", 0, true, 1, recs(0, "p1-0"))
		}},
		{"read concurrent with an append may miss it", func(b *hb) {
			b.produce("s", 0, "p1-0", history.OK, 0)
			b.fetch("s", 0, false, 0, nil)
			b.span(1, 11, 20) // the read began before the append returned
			b.fetch("s", 0, true, 1, recs(0, "p1-0"))
		}},
		{"duplicates of a producer that is not idempotent", func(b *hb) {
			b.produce("s", 0, "p1-0", history.Unknown, 0)
			b.ops[0].Produce.Idempotent = false
			b.fetch("s", 0, true, 2, recs(0, "p1-0", "p1-0"))
		}},
		{"reordering of a producer that does not order", func(b *hb) {
			b.produce("s", 0, "p1-0", history.OK, 1)
			b.produce("s", 0, "p1-1", history.OK, 0)
			b.span(1, 12, 30) // concurrent sends
			b.ops[0].Produce.Ordered, b.ops[1].Produce.Ordered = false, false
			b.fetch("s", 0, true, 2, recs(0, "p1-1", "p1-0"))
		}},
		{"other keys in any order", func(b *hb) {
			b.produce("s", 0, "p1-0", history.OK, 1)
			b.produce("s", 0, "p1-1", history.OK, 0)
			b.span(1, 12, 30)
			b.ops[1].Produce.Key = "other"
			b.fetch("s", 0, true, 2, recs(0, "p1-1", "p1-0"))
		}},
		{"receive concurrent with the ack", func(b *hb) {
			b.queue("q", "qs", "")
			b.send("q", "qs", "q1-0", history.OK, 0)
			b.receive("q", 0, "q1-0", 1)
			b.ack("q", 0, history.OK)
			b.receive("q", 0, "q1-0", 2)
			b.span(4, 39, 60) // began before the ack (30..35) returned
			b.fetch("qs", 0, true, 1, recs(0, "q1-0"))
		}},
		{"empty partition, nothing committed", func(b *hb) {
			b.stream("s", 1)
			b.join("g", "s")
			b.fetch("s", 0, true, 0, nil)
		}},
		{"retention below the final log start", func(b *hb) {
			b.produce("s", 0, "p1-0", history.OK, 0)
			b.produce("s", 0, "p1-1", history.OK, 1)
			b.fetch("s", 0, true, 2, []history.Record{{Offset: 1, Value: "p1-1"}})
			b.ops[2].Fetch.Result.LogStart = 1
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &hb{}
			c.build(b)
			r := mustCheck(t, b.ops, Config{LinPartitions: AllPartitions})
			if !r.OK() {
				t.Fatalf("violations:\n%s", r)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	b := goodHistory()
	if _, err := Check(b.ops, Config{LinPartitions: -2}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
	for _, cfg := range []Config{{LinTimeout: -1}, {LinMaxOps: -1}, {Examples: -1}} {
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	ops := slices.Clone(b.ops)
	ops[3].Outcome = "perhaps"
	if _, err := Check(ops, Config{}); !errors.Is(err, history.ErrBadValue) {
		t.Errorf("bad op: %v", err)
	}
	ops = append(slices.Clone(b.ops), b.ops[0])
	if _, err := Check(ops, Config{}); !errors.Is(err, history.ErrDuplicateID) {
		t.Errorf("duplicate id: %v", err)
	}
}

func TestReportText(t *testing.T) {
	b := &hb{}
	for i := range 30 {
		b.produce("s", 0, history.NewValue("p", int64(i)), history.OK, int64(i))
	}
	b.fetch("s", 0, true, 0, nil)
	r := mustCheck(t, b.ops, Config{LinDisabled: true})
	if len(r.Of(PropNoLostWrites)) != 30 {
		t.Fatalf("%d lost", len(r.Of(PropNoLostWrites)))
	}
	text := r.String()
	for _, want := range []string{"checker: FAILED, 30 violations (seed 0)", "no-lost-writes   30", "... and 10 more",
		"produces: ok 30, failed 0, unknown 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}
