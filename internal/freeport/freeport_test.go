package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestReserve(t *testing.T) {
	ports, err := Reserve(30)
	if err != nil {
		t.Fatal(err)
	}
	more, err := Reserve(30)
	if err != nil {
		t.Fatal(err)
	}
	defer Release(more...)
	lo, hi, ranged := candidates()
	seen := map[int]bool{}
	for _, p := range append(ports, more...) {
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if ranged && (p < lo || p >= hi) {
			t.Errorf("port %d outside %d-%d", p, lo, hi-1)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("reserved port %d cannot be bound: %v", p, err)
		}
		_ = l.Close()
	}
	if !ranged {
		t.Skip("no reservations on this system: the ports are the kernel's")
	}
	// Another process (here: another socket) cannot take a reservation
	// until it is released.
	name := "@sluice-freeport-" + strconv.Itoa(ports[0])
	if l, err := net.Listen("unix", name); err == nil {
		_ = l.Close()
		t.Fatalf("reservation of %d not held", ports[0])
	}
	Release(ports...)
	l, err := net.Listen("unix", name)
	if err != nil {
		t.Fatalf("reservation of %d still held after Release: %v", ports[0], err)
	}
	// Held elsewhere: not handed out.
	if ok, err := reserve(ports[0]); ok || err != nil {
		t.Errorf("port %d reserved while another process holds its reservation", ports[0])
	}
	_ = l.Close()
}

// TestReserveSkipsBusyPort: a port something listens on is not reserved.
func TestReserveSkipsBusyPort(t *testing.T) {
	if _, _, ok := candidates(); !ok {
		t.Skip("no reservations on this system")
	}
	ports, err := Reserve(1)
	if err != nil {
		t.Fatal(err)
	}
	p := ports[0]
	Release(p)
	busy, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if ok, err := reserve(p); ok || err != nil {
		Release(p)
		t.Fatalf("port %d reserved while something listens on it", p)
	}
}

func TestBelowEphemeral(t *testing.T) {
	for _, tc := range []struct {
		text   string
		lo, hi int
		ok     bool
	}{
		{"32768\t60999\n", lowest, 32768, true},
		{"49152 65535", lowest, 49152, true},
		{"20999 65535", 0, 0, false}, // too few below
		{"1024 65535", 0, 0, false},
		{"60999 32768", 0, 0, false},
		{"", 0, 0, false},
		{"x y", 0, 0, false},
	} {
		lo, hi, ok := belowEphemeral(tc.text)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("belowEphemeral(%q) = %d, %d, %v; want %d, %d, %v", tc.text, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}
