package freeport

import "os"

// candidates returns the ports [lo, hi) below the kernel's ephemeral
// range, or ok false when that range cannot be read or leaves too few.
func candidates() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	return belowEphemeral(string(b))
}
