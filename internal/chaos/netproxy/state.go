package netproxy

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Stats counts a proxy's connections and bytes since Start. Bytes are
// counted when read from one end: each is then forwarded, dropped, or
// still in flight (State.InFlight).
type Stats struct {
	ConnsAccepted  int64 // accepted from clients
	ConnsForwarded int64 // connected through to the target
	ConnsRefused   int64 // reset as soon as accepted, in a partition
	ConnsHeld      int64 // accepted in a blackhole, so never forwarded
	ConnsCut       int64 // open connections reset by a fault or by Close
	DialErrors     int64 // accepted connections whose target dial failed

	BytesToTarget     int64 // delivered from clients to the target
	BytesFromTarget   int64 // delivered from the target to clients
	DroppedToTarget   int64 // read from clients and dropped
	DroppedFromTarget int64 // read from the target and dropped
}

// counters are a Proxy's live Stats.
type counters struct {
	connsAccepted, connsForwarded, connsRefused atomic.Int64
	connsHeld, connsCut, dialErrors             atomic.Int64
	forwarded, dropped                          [2]atomic.Int64 // by dir
	inFlight                                    atomic.Int64
}

func (s *counters) addForwarded(d dir, n int) { s.forwarded[d].Add(int64(n)) }
func (s *counters) addDropped(d dir, n int)   { s.dropped[d].Add(int64(n)) }

func (s *counters) snapshot() Stats {
	return Stats{
		ConnsAccepted:     s.connsAccepted.Load(),
		ConnsForwarded:    s.connsForwarded.Load(),
		ConnsRefused:      s.connsRefused.Load(),
		ConnsHeld:         s.connsHeld.Load(),
		ConnsCut:          s.connsCut.Load(),
		DialErrors:        s.dialErrors.Load(),
		BytesToTarget:     s.forwarded[toTarget].Load(),
		BytesFromTarget:   s.forwarded[fromTarget].Load(),
		DroppedToTarget:   s.dropped[toTarget].Load(),
		DroppedFromTarget: s.dropped[fromTarget].Load(),
	}
}

// State is a snapshot of a Proxy, for reports and test conditions.
type State struct {
	Name   string
	Addr   string // where clients dial
	Target string
	Closed bool
	Fault  Fault
	Delay  time.Duration
	Jitter time.Duration
	// Conns is the number of open connections.
	Conns int
	// InFlight is the number of bytes read and queued, neither delivered
	// nor dropped yet (held back by the delay, or by a slow reader).
	InFlight int64
	// LastDialError is the latest failed dial of the target (a
	// *DialError), or nil.
	LastDialError error
	Stats
}

// State returns the proxy's current state.
func (p *Proxy) State() State {
	p.mu.Lock()
	s := State{
		Name:          p.cfg.Name,
		Addr:          p.addr,
		Target:        p.mu.target,
		Closed:        p.mu.closed,
		Fault:         p.mu.fault,
		Delay:         p.mu.delay,
		Jitter:        p.mu.jitter,
		Conns:         len(p.mu.conns),
		LastDialError: p.mu.lastDialErr,
	}
	p.mu.Unlock()
	s.InFlight = p.stats.inFlight.Load()
	s.Stats = p.stats.snapshot()
	return s
}

// Faults describes the faults in force, as "healthy", "partitioned",
// "blackholed", "delay 50ms", "delay 50ms+<10ms" or a combination joined
// by ", ".
func (s State) Faults() string {
	var parts []string
	if s.Fault != FaultNone || (s.Delay == 0 && s.Jitter == 0) {
		parts = append(parts, s.Fault.String())
	}
	if s.Delay != 0 || s.Jitter != 0 {
		d := "delay " + s.Delay.String()
		if s.Jitter != 0 {
			d += "+<" + s.Jitter.String()
		}
		parts = append(parts, d)
	}
	if s.Closed {
		parts = append(parts, "closed")
	}
	return strings.Join(parts, ", ")
}

// Healthy reports whether no fault (mode or delay) is in force.
func (s State) Healthy() bool {
	return s.Fault == FaultNone && s.Delay == 0 && s.Jitter == 0
}

func (s State) String() string {
	return fmt.Sprintf("%s %s->%s: %s; %d conns, %d in flight; "+
		"conns accepted %d forwarded %d refused %d held %d cut %d dial errors %d; "+
		"bytes to target %d (dropped %d), from target %d (dropped %d)",
		s.Name, s.Addr, s.Target, s.Faults(), s.Conns, s.InFlight,
		s.ConnsAccepted, s.ConnsForwarded, s.ConnsRefused, s.ConnsHeld, s.ConnsCut, s.DialErrors,
		s.BytesToTarget, s.DroppedToTarget, s.BytesFromTarget, s.DroppedFromTarget)
}
