package consumergroup

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func msgs(keys ...string) []Message {
	out := make([]Message, len(keys))
	for i, k := range keys {
		out[i] = Message{Offset: int64(i), Key: []byte(k)}
	}
	return out
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		msgs    []Message
		setup   func(s *AckState, l *Leases)
		cfg     SelectConfig
		deliver []int64
		dlq     []int64
		next    time.Time
	}{
		{name: "in order up to max", msgs: msgs("a", "b", "c", "d"), cfg: SelectConfig{Max: 3}, deliver: []int64{0, 1, 2}},
		{name: "done skipped", msgs: msgs("a", "b", "c"), setup: func(s *AckState, _ *Leases) { s.Ack(1) },
			cfg: SelectConfig{Max: 9}, deliver: []int64{0, 2}},
		{name: "leased skipped until it expires", msgs: msgs("a", "b"),
			setup: func(_ *AckState, l *Leases) { l.Lease(0, nil, t0, time.Minute) },
			cfg:   SelectConfig{Max: 9}, deliver: []int64{1}, next: t0.Add(time.Minute)},
		{name: "expired lease visible", msgs: msgs("a", "b"),
			setup: func(_ *AckState, l *Leases) { l.Lease(0, nil, t0.Add(-time.Hour), time.Minute) },
			cfg:   SelectConfig{Max: 9}, deliver: []int64{0, 1}},
		{name: "delayed invisible until due", msgs: []Message{{Offset: 0, VisibleAt: t0.Add(time.Second)}, {Offset: 1}},
			cfg: SelectConfig{Max: 9}, deliver: []int64{1}, next: t0.Add(time.Second)},
		{name: "nack delay holds back", msgs: msgs("a", "b"),
			setup: func(_ *AckState, l *Leases) { l.Nack(l.Lease(0, nil, t0, time.Minute), t0, 5*time.Second) },
			cfg:   SelectConfig{Max: 9}, deliver: []int64{1}, next: t0.Add(5 * time.Second)},
		{name: "fifo one in flight per key", msgs: msgs("a", "a", "b", "a", "b"), cfg: SelectConfig{Max: 9, FIFO: true},
			deliver: []int64{0, 2}},
		{name: "fifo key blocked by a lease", msgs: msgs("a", "a", "b"),
			setup: func(_ *AckState, l *Leases) { l.Lease(0, []byte("a"), t0, time.Minute) },
			cfg:   SelectConfig{Max: 9, FIFO: true}, deliver: []int64{2}, next: t0.Add(time.Minute)},
		{name: "fifo next after ack", msgs: msgs("a", "a", "b"), setup: func(s *AckState, _ *Leases) { s.Ack(0) },
			cfg: SelectConfig{Max: 9, FIFO: true}, deliver: []int64{1, 2}},
		{name: "max receives dead-letters", msgs: msgs("a", "b"),
			setup: func(s *AckState, _ *Leases) { s.Receive(0); s.Receive(0); s.Receive(1) },
			cfg:   SelectConfig{Max: 9, MaxReceives: 2}, deliver: []int64{1}, dlq: []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, l := NewAckState(0), NewLeases(1)
			if tt.setup != nil {
				tt.setup(s, l)
			}
			sel := Select(tt.msgs, s, l, t0, tt.cfg)
			if !slices.Equal(sel.Deliver, tt.deliver) || !slices.Equal(sel.DeadLetter, tt.dlq) || !sel.NextVisible.Equal(tt.next) {
				t.Errorf("deliver %v dead-letter %v next %v, want %v %v %v", sel.Deliver, sel.DeadLetter, sel.NextVisible, tt.deliver, tt.dlq, tt.next)
			}
		})
	}
}

func TestLeaseReceipts(t *testing.T) {
	l := NewLeases(7)
	ls := l.Lease(42, nil, t0, 30*time.Second)
	r := Receipt{Queue: "jobs", Partition: 3, Epoch: 7, Offset: 42, Nonce: ls.Nonce}
	parsed, err := ParseReceipt(r.String())
	if err != nil || parsed != r {
		t.Fatalf("round trip: %+v %v", parsed, err)
	}
	if got, err := l.Find(r, t0.Add(time.Second)); err != nil || got != ls {
		t.Fatalf("find: %v", err)
	}
	tests := []struct {
		name string
		r    Receipt
		at   time.Time
	}{
		{"expired", r, t0.Add(30 * time.Second)},
		{"other nonce", Receipt{Queue: "jobs", Partition: 3, Epoch: 7, Offset: 42, Nonce: ls.Nonce + 1}, t0},
		{"earlier leader", Receipt{Queue: "jobs", Partition: 3, Epoch: 6, Offset: 42, Nonce: ls.Nonce}, t0},
		{"no lease", Receipt{Queue: "jobs", Partition: 3, Epoch: 7, Offset: 41, Nonce: ls.Nonce}, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Find(tt.r, tt.at); !errors.Is(err, ErrInvalidReceipt) {
				t.Errorf("%v, want ErrInvalidReceipt", err)
			}
		})
	}
	for _, bad := range []string{"", "!!!", "AQ", strings.Repeat("A", 500), Receipt{Queue: "", Offset: 1}.String()} {
		if _, err := ParseReceipt(bad); !errors.Is(err, ErrInvalidReceipt) {
			t.Errorf("ParseReceipt(%q): %v", bad, err)
		}
	}
	// Extend, nack and forget.
	l.Extend(ls, t0, time.Hour)
	if l.Visible(42, t0.Add(time.Minute)) {
		t.Error("an extended lease is visible")
	}
	l.Nack(ls, t0, 0)
	if !l.Visible(42, t0) || l.InFlight(t0) != 0 {
		t.Error("a nack without delay does not make the message visible")
	}
	l.Lease(50, nil, t0, time.Minute)
	l.Forget(51, t0)
	if l.InFlight(t0) != 0 {
		t.Error("Forget kept a lease below the floor")
	}
}

func FuzzParseReceipt(f *testing.F) {
	f.Add(Receipt{Queue: "q", Partition: 1, Epoch: 2, Offset: 3, Nonce: 4}.String())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceipt(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReceipt) {
				t.Fatal(err)
			}
			return
		}
		if again, err := ParseReceipt(r.String()); err != nil || again != r {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}
