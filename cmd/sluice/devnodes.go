package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/internal/freeport"
)

// devAddrs are the addresses of one node of a dev cluster, kept in
// D/dev.json so that the cluster starts again on the same ports (raft
// keeps the peers' addresses).
type devAddrs struct {
	ID     string `json:"id"`
	Client string `json:"client"`
	Raft   string `json:"raft"`
	HTTP   string `json:"http"`
}

type devState struct {
	Nodes []devAddrs `json:"nodes"`
}

const devStateFile = "dev.json"

// loadDevState reads D/dev.json; ok is false when there is none.
func loadDevState(dir string) (st devState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, devStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(b, &st); err != nil || len(st.Nodes) == 0 {
		return st, false, fmt.Errorf("%s: not a sluice dev state file (remove it, or use another --dir)",
			filepath.Join(dir, devStateFile))
	}
	return st, true, nil
}

func saveDevState(dir string, st devState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, devStateFile), append(b, '\n'), 0o644)
}

// allocateDevAddrs picks the addresses of n nodes on loopback: client
// ports basePort+i when free, else free ports; raft and HTTP ports free
// ports. Free ports come from package freeport: on Linux below the
// kernel's ephemeral range and reserved while this process runs, so that
// no outgoing connection takes one before its node binds it. Every port
// is held until all are chosen, so none is picked twice.
func allocateDevAddrs(n, basePort int) ([]devAddrs, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	free := func() (string, error) {
		ports, err := freeport.Reserve(1)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), nil
	}
	out := make([]devAddrs, n)
	for i := range out {
		a := &out[i]
		a.ID = "n" + strconv.Itoa(i+1)
		var err error
		if basePort > 0 {
			var l net.Listener
			if l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+i))); err == nil {
				held = append(held, l)
				a.Client = l.Addr().String()
			}
		}
		if basePort <= 0 || err != nil {
			if a.Client, err = free(); err != nil {
				return nil, err
			}
		}
		if a.Raft, err = free(); err != nil {
			return nil, err
		}
		if a.HTTP, err = free(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkPortsFree reports the first address of nodes that cannot be
// listened on.
func checkPortsFree(nodes []devAddrs) error {
	for _, a := range nodes {
		for _, addr := range []string{a.Client, a.Raft, a.HTTP} {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("node %s: %s is in use (is a sluice dev already running on this directory?): %w",
					a.ID, addr, syscall.EADDRINUSE)
			}
			_ = l.Close()
		}
	}
	return nil
}

// devNode is one node process of sluice dev.
type devNode struct {
	devAddrs
	dir     string // D/nX
	logPath string
	args    []string // argv, the executable first
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // set before exited is closed
}

// serverArgs returns the argv that runs the node.
func (n *devNode) serverArgs(exe, bootstrap, logFormat, logLevel string) []string {
	return []string{exe, "server", "--id", n.ID, "--data-dir", filepath.Join(n.dir, "data"),
		"--raft-addr", n.Raft, "--client-addr", n.Client, "--http-addr", n.HTTP,
		"--bootstrap", bootstrap, "--log-file", n.logPath, "--log-format", logFormat, "--log-level", logLevel}
}

// start starts the node's process; its standard output and error go to
// its log file too (a crash before logging starts lands there). Once the
// process has exited, the node is sent on exits.
func (n *devNode) start(exits chan<- *devNode) error {
	// exec: "sh D/nX/cmdline" becomes the node, so signals reach it.
	if err := os.WriteFile(filepath.Join(n.dir, "cmdline"), []byte("exec "+shellLine(n.args)+"\n"), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv(os.Environ())
	cmd.SysProcAttr = devSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
		exits <- n // buffered for every node: never blocks
	}()
	return nil
}

// alive reports whether the process has not exited.
func (n *devNode) alive() bool {
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// status describes how the process ended.
func (n *devNode) status() string {
	if n.waitErr == nil {
		return "exit status 0"
	}
	return n.waitErr.Error()
}

// ready reports whether the node's /readyz answers 200.
func (n *devNode) ready(hc *http.Client) bool {
	resp, err := hc.Get("http://" + n.HTTP + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// childEnv is the environment of a node: the SLUICE_* variables are left
// out, so that only the flags dev passes configure it.
func childEnv(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "SLUICE_") {
			out = append(out, e)
		}
	}
	return out
}

// shellLine quotes argv for sh.
func shellLine(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// logTail returns the last lines of a file, for error messages.
func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// stopNodes stops the live nodes: SIGTERM, then SIGKILL for those still
// running after timeout. It returns the ids of the nodes it had to kill.
func stopNodes(nodes []*devNode, timeout time.Duration) []string {
	for _, n := range nodes {
		if n.alive() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	expired := false
	for _, n := range nodes {
		if n.exited == nil || expired {
			continue
		}
		select {
		case <-n.exited:
		case <-deadline.C:
			expired = true
		}
	}
	var killed []string
	for _, n := range nodes {
		if n.alive() {
			killed = append(killed, n.ID)
			_ = n.cmd.Process.Kill()
		}
	}
	for _, n := range nodes {
		if n.exited != nil {
			<-n.exited
		}
	}
	return killed
}
