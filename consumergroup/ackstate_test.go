package consumergroup

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// ackModel is the obvious implementation AckState must agree with.
type ackModel struct {
	done     map[int64]bool
	receives map[int64]uint32
	floor0   int64
}

func (m *ackModel) isDone(off int64) bool { return off < m.floor0 || m.done[off] }

func TestAckStateAgainstModel(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := NewAckState(10)
		m := &ackModel{done: map[int64]bool{}, receives: map[int64]uint32{}, floor0: 10}
		for step := range 2000 {
			off := int64(rng.IntN(300))
			switch rng.IntN(4) {
			case 0:
				if got, want := s.Ack(off), !m.isDone(off); got != want {
					t.Fatalf("seed %d step %d: Ack(%d) = %v, want %v", seed, step, off, got, want)
				}
				if off >= m.floor0 {
					m.done[off] = true
				}
				delete(m.receives, off)
			case 1:
				end := off + int64(rng.IntN(20))
				s.AckRange(off, end)
				for o := max(off, m.floor0); o < end; o++ {
					m.done[o] = true
					delete(m.receives, o)
				}
			case 2:
				want := uint32(0)
				if !m.isDone(off) {
					m.receives[off]++
					want = m.receives[off]
				}
				if got := s.Receive(off); got != want {
					t.Fatalf("seed %d step %d: Receive(%d) = %d, want %d", seed, step, off, got, want)
				}
			case 3:
				want := off
				for m.isDone(want) {
					want++
				}
				if got := s.NextPending(off); got != want {
					t.Fatalf("seed %d step %d: NextPending(%d) = %d, want %d", seed, step, off, got, want)
				}
			}
			checkAckInvariants(t, s)
		}
		for off := int64(0); off < 330; off++ {
			if s.Done(off) != m.isDone(off) || s.ReceiveCount(off) != m.receives[off] {
				t.Fatalf("seed %d: offset %d: done %v receives %d, want %v %d", seed, off, s.Done(off), s.ReceiveCount(off), m.isDone(off), m.receives[off])
			}
		}
		// The encoding round trips.
		got, rest, err := DecodeAckState(append(s.AppendBinary(nil), 9))
		if err != nil || len(rest) != 1 || !bytes.Equal(got.AppendBinary(nil), s.AppendBinary(nil)) {
			t.Fatalf("seed %d: round trip: %v, rest %d", seed, err, len(rest))
		}
	}
}

func checkAckInvariants(t *testing.T, s *AckState) {
	t.Helper()
	prev := s.floor
	for i, r := range s.ranges {
		if r.start <= prev || r.end <= r.start {
			t.Fatalf("range %d [%d, %d) after %d (floor %d)", i, r.start, r.end, prev, s.floor)
		}
		prev = r.end
	}
	for off, c := range s.receives {
		if c == 0 || s.Done(off) {
			t.Fatalf("receive count %d of offset %d (done %v)", c, off, s.Done(off))
		}
	}
}

// TestAckStateBoundedByInFlight: a million messages, each received and
// then acknowledged in random order within a window of in-flight
// messages, leave a floor and nothing else, and the state never grows
// past the window.
func TestAckStateBoundedByInFlight(t *testing.T) {
	const n, window = 1_000_000, 1000
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewAckState(0)
	var inFlight []int64
	maxRanges, maxBytes := 0, 0
	for next := int64(0); next < n || len(inFlight) > 0; {
		if next < n && (len(inFlight) < window && rng.IntN(2) == 0 || len(inFlight) == 0) {
			s.Receive(next)
			inFlight = append(inFlight, next)
			next++
			continue
		}
		i := rng.IntN(len(inFlight))
		s.Ack(inFlight[i])
		inFlight[i] = inFlight[len(inFlight)-1]
		inFlight = inFlight[:len(inFlight)-1]
		maxRanges = max(maxRanges, s.Ranges())
		if next%1000 == 0 {
			maxBytes = max(maxBytes, len(s.AppendBinary(nil)))
		}
	}
	if s.Floor() != n || s.Ranges() != 0 || s.Receives() != 0 {
		t.Fatalf("after acking everything: floor %d, %d ranges, %d receive counts", s.Floor(), s.Ranges(), s.Receives())
	}
	if enc := len(s.AppendBinary(nil)); enc != 17 {
		t.Errorf("final encoding %d bytes, want 17", enc)
	}
	if maxRanges > window {
		t.Errorf("%d ranges at most, more than the %d in flight", maxRanges, window)
	}
	t.Logf("1M messages: state at most %d ranges, %d bytes encoded; finally %d bytes", maxRanges, maxBytes, len(s.AppendBinary(nil)))
}

func TestDecodeAckStateCorrupt(t *testing.T) {
	s := NewAckState(5)
	s.Receive(6)
	s.Ack(8)
	good := s.AppendBinary(nil)
	for n := range len(good) {
		if _, _, err := DecodeAckState(good[:n]); !errors.Is(err, ErrInvalidAckState) {
			t.Fatalf("cut to %d bytes: %v", n, err)
		}
	}
	cases := map[string]func(b []byte){
		"version":             func(b []byte) { b[0] = 2 },
		"negative floor":      func(b []byte) { b[1] = 0xff },
		"range at the floor":  func(b []byte) { b[20] = 5 },   // start 8 -> 5
		"empty range":         func(b []byte) { b[28] = 8 },   // end 9 -> 8
		"count of done":       func(b []byte) { b[40] = 8 },   // receive of 6 -> 8
		"zero receive count":  func(b []byte) { b[44] = 0 },   // count 1 -> 0
		"huge range count":    func(b []byte) { b[9] = 0x7f }, // count
		"huge receives count": func(b []byte) { b[29] = 0x7f },
	}
	for name, mutate := range cases {
		b := bytes.Clone(good)
		mutate(b)
		if _, _, err := DecodeAckState(b); !errors.Is(err, ErrInvalidAckState) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeAckState(f *testing.F) {
	s := NewAckState(5)
	s.Receive(6)
	s.Ack(8)
	s.AckRange(20, 30)
	f.Add(s.AppendBinary(nil))
	f.Add(NewAckState(0).AppendBinary(nil))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, rest, err := DecodeAckState(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidAckState) {
				t.Fatalf("error %v", err)
			}
			return
		}
		checkAckInvariants(t, s)
		if again := s.AppendBinary(nil); !bytes.Equal(again, b[:len(b)-len(rest)]) {
			t.Fatal("re-encoding differs")
		}
	})
}
