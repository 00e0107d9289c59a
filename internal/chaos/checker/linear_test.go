package checker

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// TestLogStateBranches checks that the model's states stay immutable when
// two branches append to one state.
func TestLogStateBranches(t *testing.T) {
	s0 := newLogState().with("a")
	s1 := s0.with("b")  // grows the shared array in place
	s2 := s0.with("c")  // must branch off
	s3 := s1.with("d")  // in place again
	s4 := newLogState() // built apart
	s4 = s4.with("a").with("b")
	for _, c := range []struct {
		s    logState
		want []history.Value
	}{{s0, []history.Value{"a"}}, {s1, []history.Value{"a", "b"}}, {s2, []history.Value{"a", "c"}},
		{s3, []history.Value{"a", "b", "d"}}} {
		if got := (*c.s.vals)[:c.s.n]; !slices.Equal(got, c.want) {
			t.Errorf("state %v, want %v", got, c.want)
		}
	}
	if !logEqual(s1, s4) || s1.hash() != s4.hash() {
		t.Error("equal logs built apart are not equal")
	}
	if logEqual(s1, s2) || logEqual(s0, s1) || s1.hash() == s2.hash() {
		t.Error("different logs are equal")
	}
	if !logEqual(newLogState(), newLogState()) {
		t.Error("empty logs differ")
	}
}

// sequential returns a history of n appends to s/0, one at a time, with a
// read of the whole log after every tenth; stale makes the read after
// append number stale miss that append.
func sequential(n, stale int) *hb {
	b := &hb{}
	var log []history.Value
	for i := range n {
		v := history.NewValue("p1", int64(i))
		b.produce("s", 0, v, history.OK, int64(i))
		log = append(log, v)
		if i%10 == 0 || i == stale {
			if i == stale {
				b.fetch("s", 0, false, int64(i), recs(0, log[:i]...))
			} else {
				b.fetch("s", 0, false, int64(len(log)), recs(0, log...))
			}
		}
	}
	b.fetch("s", 0, true, int64(len(log)), recs(0, log...))
	return b
}

func TestLinWindow(t *testing.T) {
	b := sequential(300, -1)
	r := mustCheck(t, b.ops, Config{LinMaxOps: 50})
	if !r.OK() || len(r.Linearizability) != 1 {
		t.Fatalf("violations:\n%s", r)
	}
	if l := r.Linearizability[0]; l.Result != LinOK || l.Ops+l.Omitted != len(b.ops) || l.Omitted == 0 || l.Ops > 60 {
		t.Fatalf("result %+v", l)
	}
	// A stale read inside the window is found; outside it, it is not
	// looked at.
	r = mustCheck(t, sequential(300, 25).ops, Config{LinMaxOps: 50})
	if got := types(r); !slices.Equal(got, []string{"*checker.NotLinearizable"}) {
		t.Fatalf("stale read in the window: %v\n%s", got, r)
	}
	r = mustCheck(t, sequential(300, 250).ops, Config{LinMaxOps: 50})
	if !r.OK() {
		t.Fatalf("stale read past the window:\n%s", r)
	}
	r = mustCheck(t, sequential(300, 250).ops, Config{LinMaxOps: 1000})
	if r.OK() {
		t.Fatal("stale read with the whole partition checked: no violation")
	}
}

func TestLinTimeout(t *testing.T) {
	r := mustCheck(t, sequential(5000, -1).ops, Config{LinTimeout: 1})
	if !r.OK() || len(r.Linearizability) != 1 || r.Linearizability[0].Result != LinTimeout {
		t.Fatalf("report:\n%s", r)
	}
}

func TestLinSample(t *testing.T) {
	b := &hb{}
	b.stream("s", 10)
	for p := range int32(10) {
		v := history.NewValue(fmt.Sprint("p", p), 0)
		b.produce("s", p, v, history.OK, 0)
		b.fetch("s", p, true, 1, recs(0, v))
	}
	sample := func(seed int64) []int32 {
		r := mustCheck(t, b.ops, Config{LinPartitions: 3, Seed: seed})
		var ps []int32
		for _, l := range r.Linearizability {
			if l.Result != LinOK {
				t.Errorf("%+v", l)
			}
			ps = append(ps, l.Partition)
		}
		return ps
	}
	a := sample(7)
	if len(a) != 3 || !slices.IsSorted(a) {
		t.Fatalf("sample %v", a)
	}
	if b := sample(7); !slices.Equal(a, b) {
		t.Fatalf("seed 7 sampled %v, then %v", a, b)
	}
	differs := false
	for seed := range int64(20) {
		differs = differs || !slices.Equal(sample(seed), a)
	}
	if !differs {
		t.Error("every seed samples the same partitions")
	}
	if r := mustCheck(t, b.ops, Config{LinDisabled: true}); len(r.Linearizability) != 0 {
		t.Errorf("disabled, yet %v", r.Linearizability)
	}
}

func TestVisualize(t *testing.T) {
	b := &hb{}
	b.produce("s", 0, "p1-0", history.OK, 0)
	b.fetch("s", 0, false, 0, nil)
	b.fetch("s", 0, true, 1, recs(0, "p1-0"))
	r := mustCheck(t, b.ops, Config{})
	vs := r.Of(PropLinearizable)
	if len(vs) != 1 {
		t.Fatalf("report:\n%s", r)
	}
	var buf bytes.Buffer
	if err := vs[0].(*NotLinearizable).Visualize(&buf); err != nil {
		t.Fatal(err)
	}
	if html := buf.String(); !strings.Contains(html, "<html") || !strings.Contains(html, "append(p1-0)") {
		t.Fatalf("visualization lacks the ops: %.300s", html)
	}
}
