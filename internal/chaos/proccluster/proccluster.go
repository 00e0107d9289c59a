// Package proccluster runs a cluster of real `sluice server` processes on
// loopback for the chaos tests: it starts them, kills (SIGKILL), pauses
// (SIGSTOP), resumes (SIGCONT) and restarts them, and lets each node
// reach its peers through addresses of the caller's choosing (proxies
// that inject network faults; see server.Config.DialVia).
//
// A Cluster's methods are safe for concurrent use.
package proccluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/internal/freeport"
)

// Errors.
var (
	// ErrInvalidConfig reports a Config that cannot start a cluster.
	ErrInvalidConfig = errors.New("proccluster: invalid config")
	// ErrNotRunning reports an operation on a node that is not running
	// (killed, or never started), or a Start on one that is.
	ErrNotRunning = errors.New("proccluster: node not running")
	// ErrRunning reports a Restart of a node that is running.
	ErrRunning = errors.New("proccluster: node running")
	// ErrNotReady reports a node that did not become ready in time, or
	// exited while starting.
	ErrNotReady = errors.New("proccluster: node not ready")
	// ErrClosed reports a closed cluster.
	ErrClosed = errors.New("proccluster: cluster closed")
)

// Addrs are the addresses a node listens on.
type Addrs struct {
	ID     string
	Raft   string
	Client string
	HTTP   string
}

// Config describes a cluster.
type Config struct {
	// Binary is the sluice binary to run (required).
	Binary string
	// Dir holds one directory per node: its data and node.log (required).
	Dir string
	// Nodes is the number of nodes (default 3, or len(Addrs)).
	Nodes int
	// Addrs, when set, are the nodes' addresses (from Allocate, so that
	// proxies can be set up in front of them first); else Start
	// allocates them.
	Addrs []Addrs
	// DialVia, when set, returns the --dial-via map of node i (a peer's
	// raft or client address -> the address to dial instead), given
	// every node's addresses. It is called once, at Start.
	DialVia func(i int, nodes []Addrs) map[string]string
	// Args are extra flags for every node (raft timing, say).
	Args []string
	// ReadyTimeout bounds a node's start until its /readyz answers 200
	// (default 60 s).
	ReadyTimeout time.Duration
	// StopTimeout bounds Close's wait after SIGTERM before SIGKILL
	// (default 15 s).
	StopTimeout time.Duration
}

// Cluster is a running cluster.
type Cluster struct {
	cfg   Config
	addrs []Addrs
	args  [][]string // each node's command line, without the binary

	mu     sync.Mutex
	procs  []*proc // Protected by mu; nil: not running.
	closed bool    // Protected by mu.
}

// proc is one run of a node's process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, once exited is closed
	paused bool          // protected by the cluster's mu
}

// Start allocates loopback ports, starts every node, and waits until
// each is ready. On error it stops what it started.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: Binary and Dir are required", ErrInvalidConfig)
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
		if len(cfg.Addrs) > 0 {
			cfg.Nodes = len(cfg.Addrs)
		}
	}
	if len(cfg.Addrs) > 0 && len(cfg.Addrs) != cfg.Nodes {
		return nil, fmt.Errorf("%w: %d addresses for %d nodes", ErrInvalidConfig, len(cfg.Addrs), cfg.Nodes)
	}
	if cfg.Nodes < 1 || cfg.Nodes > 9 {
		return nil, fmt.Errorf("%w: %d nodes (1 to 9)", ErrInvalidConfig, cfg.Nodes)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 15 * time.Second
	}
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		var err error
		if addrs, err = Allocate(cfg.Nodes); err != nil {
			return nil, err
		}
	}
	c := &Cluster{cfg: cfg, addrs: addrs, procs: make([]*proc, cfg.Nodes)}
	var boot []string
	for _, a := range addrs {
		boot = append(boot, fmt.Sprintf("%s=%s/%s", a.ID, a.Raft, a.Client))
	}
	for i, a := range addrs {
		dir := filepath.Join(cfg.Dir, a.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		args := []string{"server", "--id", a.ID, "--data-dir", filepath.Join(dir, "data"),
			"--raft-addr", a.Raft, "--client-addr", a.Client, "--http-addr", a.HTTP,
			"--bootstrap", strings.Join(boot, ","), "--log-file", filepath.Join(dir, "node.log")}
		if cfg.DialVia != nil {
			var via []string
			for from, to := range cfg.DialVia(i, addrs) {
				via = append(via, from+"="+to)
			}
			if len(via) > 0 {
				args = append(args, "--dial-via", strings.Join(via, ","))
			}
		}
		c.args = append(c.args, append(args, cfg.Args...))
	}
	for i := range addrs {
		if err := c.start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	for i := range addrs {
		if err := c.WaitReady(ctx, i); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Allocate picks free loopback ports for n nodes (IDs n1, n2, ...). On
// Linux they lie below the kernel's ephemeral range and stay reserved for
// this process (package freeport), so that no outgoing connection or
// other test takes one while a node is down between a kill and its
// restart.
func Allocate(n int) ([]Addrs, error) {
	ports, err := freeport.Reserve(3 * n)
	if err != nil {
		return nil, fmt.Errorf("proccluster: %w", err)
	}
	addr := func() string {
		p := ports[0]
		ports = ports[1:]
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	out := make([]Addrs, n)
	for i := range out {
		out[i] = Addrs{ID: fmt.Sprintf("n%d", i+1), Raft: addr(), Client: addr(), HTTP: addr()}
	}
	return out, nil
}

// Addrs returns every node's addresses, in order.
func (c *Cluster) Addrs() []Addrs { return append([]Addrs(nil), c.addrs...) }

// ClientAddrs returns every node's client address, in order.
func (c *Cluster) ClientAddrs() []string {
	out := make([]string, len(c.addrs))
	for i, a := range c.addrs {
		out[i] = a.Client
	}
	return out
}

// Dir is node i's directory (its data and node.log).
func (c *Cluster) Dir(i int) string { return filepath.Join(c.cfg.Dir, c.addrs[i].ID) }

// start runs node i's process (it must not be running).
func (c *Cluster) start(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if p := c.procs[i]; p != nil && !p.done() {
		return fmt.Errorf("%w: %s", ErrRunning, c.addrs[i].ID)
	}
	cmd := exec.Command(c.cfg.Binary, c.args[i]...)
	out, err := os.OpenFile(filepath.Join(c.Dir(i), "process.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return fmt.Errorf("proccluster: start %s: %w", c.addrs[i].ID, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Close()
		close(p.exited)
	}()
	c.procs[i] = p
	return nil
}

func (p *proc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// running returns node i's live process.
func (c *Cluster) running(i int) (*proc, error) {
	if i < 0 || i >= len(c.addrs) {
		return nil, fmt.Errorf("%w: no node %d", ErrNotRunning, i)
	}
	p := c.procs[i]
	if p == nil || p.done() {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, c.addrs[i].ID)
	}
	return p, nil
}

// PID returns node i's process id, or 0 when it is not running.
func (c *Cluster) PID(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.running(i)
	if err != nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether node i's process is alive (paused or not).
func (c *Cluster) Running(i int) bool { return c.PID(i) != 0 }

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	c.mu.Lock()
	p, err := c.running(i)
	if err == nil {
		err = p.cmd.Process.Signal(syscall.SIGKILL)
		p.paused = false
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	<-p.exited
	return nil
}

// Pause sends SIGSTOP to node i: it stops without knowing.
func (c *Cluster) Pause(i int) error { return c.signal(i, syscall.SIGSTOP, true) }

// Resume sends SIGCONT to node i.
func (c *Cluster) Resume(i int) error { return c.signal(i, syscall.SIGCONT, false) }

func (c *Cluster) signal(i int, sig syscall.Signal, paused bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("proccluster: %v to %s: %w", sig, c.addrs[i].ID, err)
	}
	p.paused = paused
	return nil
}

// Restart starts node i again (after Kill, or after it exited) with the
// same command line, and waits until it is ready.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if i < 0 || i >= len(c.addrs) {
		return fmt.Errorf("%w: no node %d", ErrNotRunning, i)
	}
	if err := c.start(i); err != nil {
		return err
	}
	return c.WaitReady(ctx, i)
}

// WaitReady waits until node i's /readyz answers 200, the node exits
// (ErrNotReady), ReadyTimeout passes (ErrNotReady) or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context, i int) error {
	c.mu.Lock()
	p, err := c.running(i)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addrs[i].HTTP+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%w: %s exited while starting (%v); see %s", ErrNotReady, c.addrs[i].ID, p.err,
				filepath.Join(c.Dir(i), "node.log"))
		case <-ctx.Done():
			return fmt.Errorf("%w: %s after %v (last: %s); see %s", ErrNotReady, c.addrs[i].ID, c.cfg.ReadyTimeout, last,
				filepath.Join(c.Dir(i), "node.log"))
		case <-tick.C:
		}
	}
}

// Close stops every node: SIGCONT to paused ones, SIGTERM, then SIGKILL
// after StopTimeout; it returns once every process has exited.
func (c *Cluster) Close() {
	c.mu.Lock()
	c.closed = true
	var live []*proc
	for _, p := range c.procs {
		if p != nil && !p.done() {
			if p.paused {
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			live = append(live, p)
		}
	}
	c.mu.Unlock()
	deadline := time.NewTimer(c.cfg.StopTimeout)
	defer deadline.Stop()
	for _, p := range live {
		select {
		case <-p.exited:
		case <-deadline.C:
			for _, q := range live {
				_ = q.cmd.Process.Signal(syscall.SIGKILL)
			}
			<-p.exited
		}
	}
	for _, p := range live {
		<-p.exited
	}
}

// BuildBinary builds the sluice command into dir and returns its path
// (for tests: `go build` of github.com/sluicedb/sluice/cmd/sluice, with
// its output on stderr).
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", bin, "github.com/sluicedb/sluice/cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("proccluster: building sluice: %w", err)
	}
	return bin, nil
}

// RunTests is for the TestMain of a test package that runs clusters: it
// builds the sluice binary into a temporary directory, sets *binary to
// it, runs the tests, and checks that no goroutine is left behind. It
// returns the exit code.
func RunTests(m interface{ Run() int }, binary *string, leaked func() error) int {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *binary, err = BuildBinary(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code == 0 && leaked != nil {
		if err := leaked(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}
