// Package netproxy is a fault-injecting TCP proxy for process-level chaos
// tests: real `sluice server` processes on loopback, each dialing its peers
// through a proxy per directed pair and port kind, so that a test can cut,
// silence or slow the network between them without root (no network
// namespaces, no iptables).
//
// A Proxy listens on one address and forwards every accepted connection to
// its target, copying bytes both ways. A Mesh starts one Proxy per directed
// pair of nodes and per port kind ("raft", "client"): node A reaches node B
// through proxy A->B, so cutting A->B and B->A partitions A from B.
//
// # Faults
//
// A Proxy is in one of three modes, plus an independent delay. Every change
// takes effect at once, for new and for open connections.
//
//   - FaultNone forwards bytes.
//
//   - FaultPartition (Partition) resets every open connection (RST to both
//     ends; bytes read but not yet delivered are dropped), and resets every
//     new connection as soon as it is accepted: the client's dial succeeds,
//     because the kernel completes the handshake before the proxy sees the
//     connection, and its first read or write fails with ECONNRESET or EOF.
//     This is a firewall that rejects with a TCP reset (iptables REJECT
//     --reject-with tcp-reset), not one that drops packets: failures are
//     fast and deterministic, so tests run the reconnect and re-election
//     paths without waiting out timeouts. Not accepting at all would not
//     imitate a silent drop either: the kernel would still complete up to a
//     backlog of handshakes and buffer their bytes, to hand them over late
//     after Heal; and closing the listener would give up the port.
//
//   - FaultBlackhole (Blackhole) keeps connections open but lets no byte
//     through in either direction, as a network that silently drops
//     packets: only the peers' timeouts notice. Bytes that arrive meanwhile,
//     and bytes queued behind a delay that come due meanwhile, are read and
//     dropped, never delivered later; so is a FIN or a reset. Connections
//     accepted meanwhile are held the same way and never reach the target.
//     A connection that lost anything (a byte or a FIN) in a blackhole is
//     reset at Heal: delivering the rest of its stream would hand the peer
//     a stream with a hole in it, which TCP never does (it would retransmit
//     instead, or time out), and would test the decoders, not the fault
//     tolerance. A connection that carried nothing during the blackhole
//     carries on after Heal, as an idle TCP connection outlives an outage.
//
//   - Delay (DelayJitter) holds every chunk (one read, up to 32 KiB) until
//     its arrival time plus the current delay, plus a per-chunk jitter
//     drawn uniformly from [0, jitter). A chunk is delivered no earlier than
//     that, and chunks of one direction keep their order (a writer delivers
//     them first in, first out, so jitter never reorders). Chunks already
//     queued follow a change of delay at once: Delay(0) releases them.
//     Delay applies to bytes and FINs, not to the connection handshake.
//
// Heal clears Partition and Blackhole and leaves the delay; Delay(0)
// removes the delay. A Mesh's HealAll clears both on every link.
//
// # Goroutines and locking
//
// A Proxy runs one accept goroutine, and per connection one goroutine that
// dials the target and waits for four pumps: a reader and a writer per
// direction, joined by a bounded queue (reading stops when the queue is
// full, so TCP flow control reaches the sender). Close cuts every
// connection and returns only after all of them have ended.
//
// Lock order: Proxy.mu is the only lock; a Mesh has none of its own (its
// set of links is fixed at start) and calls its proxies one at a time.
// Sockets are closed after mu is released, since closing one waits for the
// reads and writes in flight on it.
// The fault mode, the delay and every connection's cut and tainted flags
// are protected by Proxy.mu, so that a drop decision and Heal's sweep of
// tainted connections cannot interleave: either the pump taints first and
// Heal resets the connection, or Heal runs first and the pump forwards.
// Counters are typed atomics read without the lock.
package netproxy
