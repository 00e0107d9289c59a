package localnats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/bench"
)

// Cluster is a running local nats-server cluster. Stop it when done.
type Cluster struct {
	cfg   Config
	nodes []*node
	// wg counts the goroutines that wait for the nodes' processes.
	wg sync.WaitGroup

	stopOnce sync.Once
	stopErr  error // Invariant: set once, inside stopOnce.
}

// node is one nats-server process.
type node struct {
	name    string
	ports   ports
	logPath string
	cmd     *exec.Cmd
	// done is closed once the process has exited and been reaped;
	// waitErr is written before that and read only after it.
	done    chan struct{}
	waitErr error
}

// startAttempts bounds the starts tried when a node finds one of its
// chosen ports taken by another process (see pickPorts).
const startAttempts = 3

// Start starts a cluster of cfg.Nodes nodes and waits until JetStream is
// ready on all of them (see the package doc). It blocks for at most
// cfg.StartTimeout (or until ctx is done) per attempt. On failure nothing
// is left running and the error is a *StartError when a node failed, with
// the end of that node's log.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("localnats: %w", err)
	}
	for attempt := 1; ; attempt++ {
		fresh := freshStores(cfg)
		c, err := start(ctx, cfg)
		if err == nil {
			return c, nil
		}
		var se *StartError
		if attempt == startAttempts || !errors.As(err, &se) || !strings.Contains(se.LogTail, "address already in use") {
			return nil, err
		}
		// Another process took a port between pickPorts and the bind.
		// Drop the stores this attempt created, so the next attempt's
		// nodes do not recover a half-formed cluster, and try new ports.
		for _, d := range fresh {
			if err := os.RemoveAll(d); err != nil {
				return nil, fmt.Errorf("localnats: retry after a port clash: %w", err)
			}
		}
	}
}

// freshStores returns the store directories that do not exist yet.
func freshStores(cfg Config) []string {
	var out []string
	for i := range cfg.Nodes {
		d := filepath.Join(cfg.Dir, nodeName(i))
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			out = append(out, d)
		}
	}
	return out
}

// start makes one attempt at starting the cluster.
func start(ctx context.Context, cfg Config) (*Cluster, error) {
	all, err := pickPorts(cfg.Nodes)
	if err != nil {
		return nil, err
	}
	confs, err := writeConfigs(cfg, all)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg}
	for i := range all {
		n := &node{
			name:    nodeName(i),
			ports:   all[i],
			logPath: filepath.Join(cfg.Dir, nodeName(i)+".log"),
			done:    make(chan struct{}),
		}
		if err := c.startNode(n, confs[i]); err != nil {
			_ = c.Stop(5 * time.Second)
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.waitReady(ctx, cfg.StartTimeout); err != nil {
		_ = c.Stop(5 * time.Second)
		return nil, err
	}
	return c, nil
}

// startNode starts n's process with the configuration file conf and the
// goroutine that reaps it.
func (c *Cluster) startNode(n *node, conf string) error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("localnats: %w", err)
	}
	n.cmd = exec.Command(c.cfg.Binary, "-c", conf)
	n.cmd.Dir = c.cfg.Dir
	n.cmd.Stdout = logf // An *os.File is handed to the child: no copying goroutine.
	n.cmd.Stderr = logf
	if err := n.cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("localnats: start %s (%s): %w", n.name, c.cfg.Binary, err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		n.waitErr = n.cmd.Wait()
		_ = logf.Close()
		close(n.done)
	}()
	return nil
}

// URLs returns each node's client URL, nats://127.0.0.1:<port>.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.ports.client)
	}
	return out
}

// MonitorURLs returns each node's HTTP monitoring base URL.
func (c *Cluster) MonitorURLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.monitorURL()
	}
	return out
}

// Processes returns the nodes' processes, for the harness to sample their
// CPU and memory.
func (c *Cluster) Processes() []bench.Process {
	out := make([]bench.Process, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = bench.Process{Name: n.name, PID: n.cmd.Process.Pid}
	}
	return out
}

// Stop sends SIGTERM to every node, waits up to timeout for them to exit,
// then sends SIGKILL to those left and waits for them. It returns only
// after every process has been reaped. It is idempotent: later calls wait
// for the first to finish and return its result. The error reports a node
// that had exited before Stop (it crashed) or that had to be killed.
func (c *Cluster) Stop(timeout time.Duration) error {
	c.stopOnce.Do(func() { c.stopErr = c.stop(timeout) })
	return c.stopErr
}

func (c *Cluster) stop(timeout time.Duration) error {
	var errs []error
	for _, n := range c.nodes {
		select {
		case <-n.done:
			errs = append(errs, fmt.Errorf("localnats: %s exited before Stop: %v", n.name, n.waitErr))
			continue
		default:
		}
		// The process may exit between the check and the signal; that is
		// the only way the signal fails, and the wait below covers it.
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	expired := false
	for _, n := range c.nodes {
		if !expired {
			select {
			case <-n.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-n.done:
			continue
		default:
		}
		_ = n.cmd.Process.Kill()
		<-n.done
		errs = append(errs, fmt.Errorf("localnats: %s did not exit within %s of SIGTERM: killed", n.name, timeout))
	}
	c.wg.Wait()
	return errors.Join(errs...)
}
