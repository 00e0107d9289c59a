package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a local cluster of node processes on loopback until Ctrl-C",
		Description: "Data goes under --dir (default: a new temporary directory, removed on exit unless --keep),\n" +
			"one D/nX per node with its data, node.log and cmdline (the command that restarts it).\n" +
			"Client ports are 7070, 7071, ... when free. A node that exits is reported, not restarted.\n" +
			"sluice dev --dir D starts the same cluster again (ports are kept in D/dev.json).",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Aliases: []string{"n"}, Value: 3, Usage: "number of nodes"},
			&cli.StringFlag{Name: "dir", Aliases: []string{"d"}, Usage: "keep the cluster's data in `DIR`"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the temporary directory on exit"},
			&cli.IntFlag{Name: "base-port", Value: 7070, Usage: "first client `port` to try (0: free ports)"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "how long the nodes have to become ready"},
			&cli.DurationFlag{Name: "stop-timeout", Value: 15 * time.Second,
				Usage: "on Ctrl-C, how long the nodes have to stop before SIGKILL"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "the nodes' log `format`: text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "the nodes' log `level`"},
			&cli.BoolFlag{Name: "pprof", Usage: "the nodes serve Go's profiles under /debug/pprof/ on their HTTP port"},
		},
		Action: dev,
	}
}

// devCluster is a running sluice dev.
type devCluster struct {
	dir     string
	cleanup bool // remove dir on exit
	nodes   []*devNode
	exits   chan *devNode // each node's process, once it has exited
	out     io.Writer
}

func dev(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	n := c.Int("nodes")
	if n < 1 || n > 99 {
		return usagef("dev: --nodes %d: want 1 to 99", n)
	}
	if p := c.Int("base-port"); p < 0 || p > 65536-n {
		return usagef("dev: --base-port %d: want 0 (free ports) or 1 to %d", p, 65536-n)
	}
	for _, f := range []string{"timeout", "stop-timeout"} {
		if d := c.Duration(f); d <= 0 {
			return usagef("dev: --%s %s: want a positive duration", f, d)
		}
	}
	// The nodes get --log-format and --log-level: check them as sluice
	// server does, rather than start nodes that refuse them (dev has no
	// --log-file, so no file is opened).
	if _, _, err := newLogger(c, io.Discard); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("dev: cannot find this executable to start the nodes: %w", err)
	}
	dc, err := newDevCluster(devOptions{
		nodes: c.Int("nodes"), nodesSet: c.IsSet("nodes"), dir: c.String("dir"), keep: c.Bool("keep"),
		basePort: c.Int("base-port"), logFormat: c.String("log-format"), logLevel: c.String("log-level"),
		pprof: c.Bool("pprof"), out: envOf(c).stdout,
	}, exe)
	if err != nil {
		return err
	}
	defer dc.removeDir()
	start := time.Now()
	if err := dc.startNodes(); err != nil {
		dc.stop(c.Duration("stop-timeout"))
		return err
	}
	if err := dc.waitReady(c.Context, c.Duration("timeout")); err != nil {
		dc.stop(c.Duration("stop-timeout"))
		if c.Context.Err() != nil {
			return errInterrupted
		}
		return err
	}
	dc.printReady(time.Since(start), c.Int("base-port"))
	dc.watch(c.Context)
	fmt.Fprintln(dc.out, "sluice dev: stopping")
	if killed := dc.stop(c.Duration("stop-timeout")); len(killed) > 0 {
		return fmt.Errorf("dev: node(s) %s did not stop within --stop-timeout %s and were killed",
			strings.Join(killed, ", "), c.Duration("stop-timeout"))
	}
	fmt.Fprintln(dc.out, "sluice dev: stopped")
	return nil
}

// devOptions describe a dev cluster (sluice dev's flags; sluice bench
// compare starts one too).
type devOptions struct {
	nodes               int
	nodesSet            bool // --nodes was given: a saved cluster must have as many
	dir                 string
	keep                bool
	basePort            int
	logFormat, logLevel string
	pprof               bool
	out                 io.Writer
}

// newDevCluster prepares the directory, the addresses and the command
// lines of the nodes.
func newDevCluster(o devOptions, exe string) (*devCluster, error) {
	dc := &devCluster{dir: o.dir, out: o.out}
	if dc.dir == "" {
		d, err := os.MkdirTemp("", "sluice-dev-")
		if err != nil {
			return nil, err
		}
		dc.dir, dc.cleanup = d, !o.keep
	} else if err := os.MkdirAll(dc.dir, 0o755); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dc.dir)
	if err != nil {
		return nil, err
	}
	dc.dir = abs
	addrs, err := dc.addresses(o)
	if err != nil {
		dc.removeDir()
		return nil, err
	}
	var boot []string
	for _, a := range addrs {
		boot = append(boot, a.ID+"="+a.Raft+"/"+a.Client)
	}
	for _, a := range addrs {
		n := &devNode{devAddrs: a, dir: filepath.Join(dc.dir, a.ID)}
		n.logPath = filepath.Join(n.dir, "node.log")
		n.args = n.serverArgs(exe, strings.Join(boot, ","), o.logFormat, o.logLevel)
		if o.pprof {
			n.args = append(n.args, "--pprof")
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			dc.removeDir()
			return nil, err
		}
		dc.nodes = append(dc.nodes, n)
	}
	dc.exits = make(chan *devNode, len(dc.nodes))
	return dc, nil
}

// addresses reuses the cluster's addresses from D/dev.json, or picks new
// ones and saves them.
func (dc *devCluster) addresses(o devOptions) ([]devAddrs, error) {
	st, ok, err := loadDevState(dc.dir)
	if err != nil {
		return nil, err
	}
	if ok {
		if o.nodesSet && o.nodes != len(st.Nodes) {
			return nil, usagef("dev: %s holds a cluster of %d nodes, not %d", dc.dir, len(st.Nodes), o.nodes)
		}
		return st.Nodes, checkPortsFree(st.Nodes)
	}
	addrs, err := allocateDevAddrs(o.nodes, o.basePort)
	if err != nil {
		return nil, err
	}
	return addrs, saveDevState(dc.dir, devState{Nodes: addrs})
}

func (dc *devCluster) removeDir() {
	if dc.cleanup {
		_ = os.RemoveAll(dc.dir)
		dc.cleanup = false
	}
}

// startNodes starts every node and prints its pid and command line.
func (dc *devCluster) startNodes() error {
	fmt.Fprintf(dc.out, "sluice dev: starting %d nodes in %s\n", len(dc.nodes), dc.dir)
	for _, n := range dc.nodes {
		if err := n.start(dc.exits); err != nil {
			return err
		}
		fmt.Fprintf(dc.out, "node %s pid %d client %s raft %s http %s log %s\n",
			n.ID, n.cmd.Process.Pid, n.Client, n.Raft, n.HTTP, n.logPath)
		fmt.Fprintf(dc.out, "  restart: %s\n", shellLine(n.args))
	}
	return nil
}

// waitReady waits until every node's /readyz answers 200, a node exits,
// timeout passes or ctx ends.
func (dc *devCluster) waitReady(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	ready := make([]bool, len(dc.nodes))
	for {
		all := true
		for i, n := range dc.nodes {
			if !n.alive() {
				return dc.earlyExit(n)
			}
			if !ready[i] {
				ready[i] = n.ready(hc)
			}
			all = all && ready[i]
		}
		if all && dc.clusterComplete(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			var slow []string
			for i, n := range dc.nodes {
				if !ready[i] {
					slow = append(slow, n.ID+" (log "+n.logPath+")")
				}
			}
			return fmt.Errorf("dev: not ready after --timeout %s: %s", timeout, strings.Join(slow, ", "))
		case <-tick.C:
		}
	}
}

// clusterComplete reports whether the cluster lists every node as active
// (a node answers /readyz before the metadata leader has registered all
// the bootstrap peers, and streams need them for their replicas).
func (dc *devCluster) clusterComplete(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Servers: []string{dc.nodes[0].Client}})
	if err != nil {
		return false
	}
	defer cl.Close()
	info, err := cl.Cluster(ctx)
	if err != nil || info.MetadataLeaderID == "" {
		return false
	}
	active := 0
	for _, n := range info.Nodes {
		if n.State == "active" {
			active++
		}
	}
	return active == len(dc.nodes)
}

// earlyExit is the error of a node that exited during start-up; the tail
// of its log goes to the output first.
func (dc *devCluster) earlyExit(n *devNode) error {
	if tail := logTail(n.logPath, 20); tail != "" {
		fmt.Fprintf(dc.out, "sluice dev: last lines of %s:\n%s\n", n.logPath, tail)
	}
	return fmt.Errorf("dev: node %s exited during start-up (%s); see %s", n.ID, n.status(), n.logPath)
}

func (dc *devCluster) printReady(took time.Duration, basePort int) {
	var clients, defaults []string
	for i, n := range dc.nodes {
		clients = append(clients, n.Client)
		defaults = append(defaults, "127.0.0.1:"+strconv.Itoa(basePort+i))
	}
	fmt.Fprintf(dc.out, "sluice dev: ready: %d nodes in %s, data in %s\n", len(dc.nodes), took.Round(10*time.Millisecond), dc.dir)
	if !slices.Equal(clients, defaults) || basePort != 7070 {
		fmt.Fprintf(dc.out, "export SLUICE_SERVER=%s\n", strings.Join(clients, ","))
	}
	// Under "go run" the executable is a temporary build: suggest go run.
	prog := "sluice"
	if strings.Contains(filepath.ToSlash(dc.nodes[0].args[0]), "/go-build") {
		prog = "go run ./cmd/sluice"
	}
	fmt.Fprintf(dc.out, `Try:
  %[1]s cluster status
  %[1]s stream create demo --partitions 6
  printf 'a\nb\nc\n' | %[1]s produce demo --key user-1
  %[1]s consume demo --from earliest
Ctrl-C stops the cluster.
`, prog)
}

// watch reports nodes that exit until ctx ends (or every node exited).
func (dc *devCluster) watch(ctx context.Context) {
	for left := len(dc.nodes); left > 0; left-- {
		select {
		case <-ctx.Done():
			return
		case n := <-dc.exits:
			fmt.Fprintf(dc.out, "sluice dev: node %s (pid %d) exited (%s); the other nodes keep running; log %s; restart it with: sh %s\n",
				n.ID, n.cmd.Process.Pid, n.status(), n.logPath, filepath.Join(n.dir, "cmdline"))
		}
	}
	fmt.Fprintln(dc.out, "sluice dev: every node has exited")
}

// stop stops the nodes and returns the ids of those it had to kill.
func (dc *devCluster) stop(timeout time.Duration) []string {
	return stopNodes(dc.nodes, timeout)
}
