package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/server"
	"github.com/sluicedb/sluice/server/rpc"
)

// Defaults of sluice server.
const (
	defaultRaftAddr        = "127.0.0.1:7170"
	defaultClientAddr      = "127.0.0.1:7070"
	defaultShutdownTimeout = 30 * time.Second
	defaultMinFreeSpace    = "512MiB"
	minSegmentBytes        = 64 << 10 // smaller segments are files for a handful of batches
)

// serverFlags are the flags of sluice server; each also reads SLUICE_<NAME>.
func serverFlags() []cli.Flag {
	str := func(name, value, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envName(name)}}
	}
	dur := func(name string, value time.Duration, usage string) cli.Flag {
		return &cli.DurationFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envName(name)}}
	}
	// Zero takes the server's default, shown as the flag's default.
	knob := func(name string, def time.Duration, usage string) cli.Flag {
		return &cli.DurationFlag{Name: name, Usage: usage, EnvVars: []string{envName(name)}, DefaultText: def.String()}
	}
	timing := replication.DefaultTiming()
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "read flags not given otherwise from this TOML `FILE` (keys are flag names)",
			EnvVars: []string{envName("config")}},
		str("id", "", "the node's `ID`: unique in the cluster, stable across restarts (required)"),
		str("data-dir", "", "`DIR` holding everything the node stores (required)"),
		str("raft-addr", defaultRaftAddr, "`host:port` of the raft port: listened on and dialled by peers"),
		str("client-addr", defaultClientAddr, "`host:port` the client API (gRPC) listens on"),
		str("advertise-client-addr", "", "`host:port` clients are told to use (default: --client-addr)"),
		str("http-addr", "", "`host:port` for /healthz, /readyz and /metrics (default: off)"),
		&cli.BoolFlag{Name: "pprof", EnvVars: []string{envName("pprof")},
			Usage: "also serve Go's profiles under /debug/pprof/ on --http-addr (for diagnosis)"},
		&cli.StringSliceFlag{Name: "bootstrap", EnvVars: []string{envName("bootstrap")},
			Usage: "start a new cluster of these nodes: `ID=RAFT/CLIENT`, comma-separated or repeated, this node " +
				"included (alone, its ID stands for itself); ignored once the node has state. Without it the node waits to be added"},
		&cli.StringSliceFlag{Name: "dial-via", EnvVars: []string{envName("dial-via")},
			Usage: "reach a peer's raft or client address `ADDR=VIA` by dialling VIA instead (a proxy in between, " +
				"as the chaos tests use to inject network faults); comma-separated or repeated"},
		str("log-format", "text", "log `format`: text or json"),
		str("log-level", "info", "log `level`: debug, info, warn or error"),
		str("log-file", "", "append the log to `FILE` instead of standard error"),
		dur("shutdown-timeout", defaultShutdownTimeout, "on SIGINT/SIGTERM, give up a clean stop after this long"),
		knob("heartbeat-timeout", timing.HeartbeatTimeout, "raft heartbeat timeout"),
		knob("election-timeout", timing.ElectionTimeout, "raft election timeout"),
		knob("leader-lease-timeout", timing.LeaderLeaseTimeout, "raft leader lease"),
		knob("commit-timeout", timing.CommitTimeout, "raft commit timeout"),
		&cli.StringFlag{Name: "segment-bytes", Usage: "roll partition segments at this `size`",
			EnvVars: []string{envName("segment-bytes")}, DefaultText: "1GiB"},
		knob("balance-interval", 5*time.Second, "how often leadership moves to preferred leaders"),
		knob("retention-interval", time.Minute, "how often leaders enforce retention"),
		str("min-free-space", defaultMinFreeSpace, "refuse produce while the data directory's file system has less than "+
			"this `size` free (reads, commits and acks go on; produce resumes when space is freed); 0: off"),
	}
}

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run a node",
		Description: "Flags come from the command line, else $SLUICE_<FLAG> (SLUICE_DATA_DIR for --data-dir),\n" +
			"else the --config TOML file, else the default. A new three-node cluster:\n" +
			"  sluice server --id n1 --data-dir /var/lib/sluice --raft-addr h1:7170 --client-addr h1:7070 \\\n" +
			"    --bootstrap n1=h1:7170/h1:7070,n2=h2:7170/h2:7070,n3=h3:7170/h3:7070\n" +
			"SIGINT or SIGTERM stops the node cleanly (a second one, at once).",
		Flags: serverFlags(),
		Before: func(c *cli.Context) error {
			if path := c.String("config"); path != "" {
				return loadConfigFile(c, path)
			}
			return nil
		},
		Action: serve,
	}
}

// serverSetup is what serve needs, read from the flags.
type serverSetup struct {
	cfg             server.Config
	clientAddr      string
	httpAddr        string
	pprof           bool
	shutdownTimeout time.Duration
	logOut          io.Closer
}

func readServerFlags(c *cli.Context) (serverSetup, error) {
	s := serverSetup{clientAddr: c.String("client-addr"), httpAddr: c.String("http-addr"),
		pprof: c.Bool("pprof"), shutdownTimeout: c.Duration("shutdown-timeout")}
	if err := checkArgs(c); err != nil {
		return s, err
	}
	cfg := server.Config{ID: c.String("id"), DataDir: c.String("data-dir"), RaftAddr: c.String("raft-addr"),
		ClientAddr: c.String("advertise-client-addr"),
		Timing: replication.Timing{HeartbeatTimeout: c.Duration("heartbeat-timeout"),
			ElectionTimeout: c.Duration("election-timeout"), LeaderLeaseTimeout: c.Duration("leader-lease-timeout"),
			CommitTimeout: c.Duration("commit-timeout")},
		BalanceInterval: c.Duration("balance-interval"), RetentionInterval: c.Duration("retention-interval"),
	}
	switch {
	case cfg.ID == "":
		return s, usagef("server: --id is required")
	case cfg.DataDir == "":
		return s, usagef("server: --data-dir is required")
	case s.pprof && s.httpAddr == "":
		return s, usagef("server: --pprof needs --http-addr")
	}
	for _, f := range []string{"raft-addr", "client-addr", "advertise-client-addr", "http-addr"} {
		if v := c.String(f); v != "" && !validHostPort(v) {
			return s, usagef("server: --%s %q: want host:port with a port 1-65535", f, v)
		}
	}
	for _, f := range []string{"heartbeat-timeout", "election-timeout", "leader-lease-timeout", "commit-timeout",
		"balance-interval", "retention-interval"} {
		if d := c.Duration(f); d < 0 {
			return s, usagef("server: --%s %s: must not be negative (0 takes the default)", f, d)
		}
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = s.clientAddr
	}
	host, port, err := net.SplitHostPort(cfg.ClientAddr)
	switch {
	case err != nil || port == "" || port == "0":
		return s, usagef("server: client address %q: want host:port with a port", cfg.ClientAddr)
	case host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
		return s, usagef("server: clients cannot dial %q: set --advertise-client-addr", cfg.ClientAddr)
	}
	if v := c.String("segment-bytes"); v != "" {
		if cfg.SegmentBytes, err = parseBytes(v); err != nil {
			return s, usagef("--segment-bytes: %v", err)
		}
		if cfg.SegmentBytes < minSegmentBytes || cfg.SegmentBytes > log.MaxSegmentBytes {
			return s, usagef("--segment-bytes %s: want %s to %s", v, formatBytes(minSegmentBytes), formatBytes(log.MaxSegmentBytes))
		}
	}
	if cfg.MinFreeBytes, err = parseBytes(c.String("min-free-space")); err != nil {
		return s, usagef("--min-free-space: %v", err)
	}
	if cfg.DialVia, err = parseDialVia(c.StringSlice("dial-via")); err != nil {
		return s, err
	}
	self := server.Peer{ID: cfg.ID, RaftAddr: cfg.RaftAddr, ClientAddr: cfg.ClientAddr}
	if cfg.Bootstrap, err = parseBootstrap(c.StringSlice("bootstrap"), self); err != nil {
		return s, err
	}
	if s.shutdownTimeout <= 0 {
		return s, usagef("--shutdown-timeout must be positive")
	}
	logger, closer, err := newLogger(c, envOf(c).stderr)
	if err != nil {
		return s, err
	}
	cfg.Logger, s.logOut = logger, closer
	s.cfg = cfg
	return s, nil
}

// newLogger makes the node's logger from --log-format, --log-level and
// --log-file. The closer closes the log file, if any.
func newLogger(c *cli.Context, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, nil, usagef("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	w, closer := stderr, io.Closer(nopCloser{})
	if path := c.String("log-file"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		w, closer = f, f
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := c.String("log-format"); f {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), closer, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), closer, nil
	default:
		_ = closer.Close()
		return nil, nil, usagef("--log-format %q: want text or json", f)
	}
}

func serve(c *cli.Context) error {
	s, err := readServerFlags(c)
	if err != nil {
		return err
	}
	defer s.logOut.Close()
	log := s.cfg.Logger
	node, err := server.Start(s.cfg)
	if err != nil {
		return err // ErrDataDirInUse names the directory and the process holding it
	}
	srv, err := startRPC(node, s, log)
	if err != nil {
		_ = node.Close()
		return err
	}
	log.Info("sluice server: serving", "node", s.cfg.ID, "client", srv.Addr(), "raft", node.RaftAddr(),
		"http", srv.HTTPAddr(), "data_dir", s.cfg.DataDir)
	select {
	case <-c.Context.Done():
	case <-node.Failed():
		// Damaged data: stop rather than serve it (the error says how to
		// repair).
		log.Error("sluice server: stopping: the node failed", "node", s.cfg.ID, "err", node.Err())
		return errors.Join(node.Err(), shutdown(log, s.shutdownTimeout, srv, node))
	}
	log.Info("sluice server: stopping", "node", s.cfg.ID, "timeout", s.shutdownTimeout)
	return shutdown(log, s.shutdownTimeout, srv, node)
}

// startRPC listens on the client (and HTTP) addresses and serves them.
func startRPC(node *server.Node, s serverSetup, log *slog.Logger) (*rpc.Server, error) {
	ln, err := net.Listen("tcp", s.clientAddr)
	if err != nil {
		return nil, listenError("client-addr", s.clientAddr, err)
	}
	var httpLn net.Listener
	if s.httpAddr != "" {
		if httpLn, err = net.Listen("tcp", s.httpAddr); err != nil {
			_ = ln.Close()
			return nil, listenError("http-addr", s.httpAddr, err)
		}
	}
	srv, err := rpc.Start(rpc.Config{Node: node, Listener: ln, HTTPListener: httpLn, Logger: log, Pprof: s.pprof})
	if err != nil {
		_ = ln.Close()
		if httpLn != nil {
			_ = httpLn.Close()
		}
		return nil, err
	}
	return srv, nil
}

// shutdown closes the RPC server, then the node, within timeout; a second
// SIGINT or SIGTERM gives up at once.
func shutdown(log *slog.Logger, timeout time.Duration, srv *rpc.Server, node *server.Node) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() {
		err := srv.Close()
		done <- errors.Join(err, node.Close())
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("stopping: %w", err)
		}
		log.Info("sluice server: stopped")
		return nil
	case <-t.C:
		return fmt.Errorf("stopping: not done after --shutdown-timeout %s; exiting anyway", timeout)
	case sig := <-sigs:
		return fmt.Errorf("stopping: second %s; exiting at once", sig)
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
