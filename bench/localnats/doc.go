// Package localnats starts and stops a local nats-server cluster with
// JetStream, so that `sluice bench` and tests can compare Sluice with NATS
// JetStream on the same machine.
//
// The nats-server binary is not a Go dependency of this module: it is
// installed by bench/install-nats-server.sh (built from the Go module proxy
// at the pinned Version) and found by FindBinary.
//
// Start writes one configuration file per node under Config.Dir, binds
// every listener (client, cluster routes, HTTP monitoring) to 127.0.0.1
// with no authentication, and starts each node as a child process whose
// stdout and stderr go to <Dir>/<node>.log. It returns once every node's
// monitoring endpoint reports JetStream ready with a meta leader, and the
// meta leader sees every other node as a current peer; otherwise it stops
// what it started and returns a *StartError carrying the failing node's log
// tail.
//
// Layout of Config.Dir, per node n (nats-0, nats-1, ...):
//
//	<Dir>/<n>.conf    the node's configuration
//	<Dir>/<n>.log     its stdout and stderr
//	<Dir>/<n>/        its store_dir (nats-server keeps its data in jetstream/)
//
// Concurrency: a Cluster's methods may be called from any goroutine. Each
// node has one goroutine, owned by the Cluster, that waits for its process
// to exit; Stop signals the processes and returns only after those
// goroutines have finished, so a caller must call Stop exactly as it would
// Close. The child processes share the caller's process group, so an
// interrupt from a terminal reaches them too and no server outlives an
// interrupted benchmark.
package localnats
