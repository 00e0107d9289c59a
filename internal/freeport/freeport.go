// Package freeport picks loopback TCP ports for servers that another
// process will bind: the nodes that `sluice dev` and the process-level
// tests start.
//
// Picking a port by listening on port 0 and closing the listener leaves a
// window before the child binds it, and a port from the kernel's
// ephemeral range can be taken in that window by any outgoing connection
// (the port is then "in use" and the node fails to start; the chaos suite
// also restarts nodes on their old ports, so the window recurs). On Linux
// Reserve picks ports below the ephemeral range, which the kernel never
// hands to outgoing connections, and reserves each one for the calling
// process with an abstract unix socket named after it, so that two
// processes using this package never pick the same port. Elsewhere it
// falls back to ports the kernel picks.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// ErrExhausted reports that no free port was found.
var ErrExhausted = errors.New("freeport: no free loopback port found")

// lowest is the lowest port Reserve picks on Linux: above the ports
// well-known services and most development servers use.
const lowest = 20000

var mu struct {
	sync.Mutex
	held map[int]net.Listener // the reservation of each port Reserve handed out
}

// Reserve returns n distinct ports that nothing listens on now, on
// 127.0.0.1. Each stays reserved for this process, against other callers
// of Reserve in any process, until Release or the process exits.
func Reserve(n int) ([]int, error) {
	lo, hi, ok := candidates()
	if !ok {
		return kernelPorts(n)
	}
	out := make([]int, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n+1000 {
			Release(out...)
			return nil, fmt.Errorf("%w in %d-%d after %d tries", ErrExhausted, lo, hi-1, tries)
		}
		p := lo + rand.IntN(hi-lo)
		ok, err := reserve(p)
		if err != nil {
			// No abstract unix sockets here (a sandbox may refuse
			// them): the kernel's ports, unreserved, for the rest.
			more, kerr := kernelPorts(n - len(out))
			if kerr != nil {
				Release(out...)
				return nil, kerr
			}
			return append(out, more...), nil
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// reserve takes port p if no process holds its reservation and it can be
// bound now. The error reports that reservations cannot be made at all.
func reserve(p int) (bool, error) {
	mu.Lock()
	defer mu.Unlock()
	if mu.held[p] != nil {
		return false, nil
	}
	lock, err := net.Listen("unix", "@sluice-freeport-"+strconv.Itoa(p))
	if errors.Is(err, syscall.EADDRINUSE) {
		return false, nil // another process holds it
	}
	if err != nil {
		return false, err
	}
	probe, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		_ = lock.Close()
		return false, nil // something else listens there
	}
	_ = probe.Close()
	if mu.held == nil {
		mu.held = map[int]net.Listener{}
	}
	mu.held[p] = lock
	return true, nil
}

// Release gives up the reservations of ports (ports Reserve did not hand
// out are ignored).
func Release(ports ...int) {
	mu.Lock()
	defer mu.Unlock()
	for _, p := range ports {
		if l := mu.held[p]; l != nil {
			_ = l.Close()
			delete(mu.held, p)
		}
	}
}

// kernelPorts returns n distinct ports the kernel picks, holding each
// until all are chosen.
func kernelPorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("freeport: %w", err)
		}
		held = append(held, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// belowEphemeral parses ip_local_port_range ("32768\t60999\n").
func belowEphemeral(text string) (lo, hi int, ok bool) {
	var first, last int
	if _, err := fmt.Sscanf(text, "%d %d", &first, &last); err != nil || first > last {
		return 0, 0, false
	}
	if first-lowest < 1000 {
		return 0, 0, false
	}
	return lowest, first, true
}
