package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/localnats"
	"github.com/sluicedb/sluice/bench/report"
)

// compareSystem is one system sluice bench compare runs: how to start a
// local three-node cluster of it and which driver talks to it.
type compareSystem struct {
	name, label, driver string
	start               func(ctx context.Context, c *cli.Context, dir string) (*localCluster, error)
}

// localCluster is a running local cluster of some system.
type localCluster struct {
	targets []string
	procs   []bench.Process
	stop    func() error
}

var compareSystems = []compareSystem{
	{name: "sluice", label: "sluice", driver: driverSluice, start: startSluice},
	{name: "nats", label: "jetstream", driver: driverNATS, start: natsStarter(false)},
	{name: "nats-sync", label: "jetstream (fsync always)", driver: driverNATS, start: natsStarter(true)},
}

func benchCompareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "run workloads on a local 3-node Sluice and a local 3-node NATS JetStream, alternating",
		ArgsUsage: "WORKLOAD.yaml...",
		Description: "Each round starts each system afresh (loopback only, files in a temporary directory,\n" +
			"stopped afterwards) and runs the workload on it; the systems take turns going first.\n" +
			"Systems: sluice; nats (JetStream's default: fsync every 2 minutes); nats-sync\n" +
			"(sync_interval: always, fsync before the ack, as Sluice does). Results go to --out: one JSON\n" +
			"per run, and per workload an HTML report and a PNG of the median run of each system.\n" +
			"nats-server comes from --nats-server, $SLUICE_NATS_SERVER, bench/install-nats-server.sh's\n" +
			"install directory or PATH; when missing, ./bench/install-nats-server.sh is run if present.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "systems", Value: "sluice,nats,nats-sync", Usage: "the `systems` to run, comma-separated"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "runs of each workload on each system"},
			&cli.StringFlag{Name: "out", Value: "bench-results", Usage: "write results and reports under `DIR`"},
			&cli.StringFlag{Name: "nats-server", EnvVars: []string{"SLUICE_NATS_SERVER"}, Usage: "the nats-server `binary`"},
		}, workloadFlags()...),
		Action: benchCompare,
	}
}

func benchCompare(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("%s: missing argument WORKLOAD.yaml", commandPath(c))
	}
	systems, err := pickSystems(c.String("systems"))
	if err != nil {
		return err
	}
	if c.Int("rounds") < 1 || c.Int("rounds") > 100 {
		return usagef("--rounds %d: want 1 to 100", c.Int("rounds"))
	}
	var workloads []*bench.Workload
	for _, path := range c.Args().Slice() {
		w, err := loadWorkload(c, path)
		if err != nil {
			return err
		}
		workloads = append(workloads, w)
	}
	if slices.ContainsFunc(systems, func(s compareSystem) bool { return s.driver == driverNATS }) {
		if err := findNATS(c); err != nil {
			return err
		}
	}
	out := envOf(c).stdout
	var failed []string
	for _, w := range workloads {
		dir := filepath.Join(c.String("out"), w.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		runs := map[string][]*bench.Result{}
		for r := range c.Int("rounds") {
			for i := range systems {
				s := systems[(i+r)%len(systems)] // each system goes first in turn
				fmt.Fprintf(out, "== %s round %d/%d: %s\n", w.Name, r+1, c.Int("rounds"), s.label)
				res, err := compareRun(c, w, s)
				if res != nil {
					path := filepath.Join(dir, fmt.Sprintf("%s-r%d.json", s.name, r+1))
					if werr := writeResult(path, res); werr != nil {
						return werr
					}
					fmt.Fprintf(out, "   %s\n", runLine(res))
				}
				if err != nil {
					if c.Context.Err() != nil {
						return errInterrupted
					}
					fmt.Fprintf(out, "   failed: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
					failed = append(failed, fmt.Sprintf("%s/%s round %d", w.Name, s.name, r+1))
					continue
				}
				runs[s.name] = append(runs[s.name], res)
			}
		}
		if err := compareReport(out, dir, w, systems, runs); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench compare: %d run(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

func pickSystems(s string) ([]compareSystem, error) {
	var out []compareSystem
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(compareSystems, func(cs compareSystem) bool { return cs.name == name })
		if i < 0 {
			return nil, usagef("--systems %q: unknown system %q (want sluice, nats, nats-sync)", s, name)
		}
		if slices.ContainsFunc(out, func(cs compareSystem) bool { return cs.name == name }) {
			return nil, usagef("--systems %q: %q twice", s, name)
		}
		out = append(out, compareSystems[i])
	}
	return out, nil
}

// findNATS sets --nats-server to the nats-server binary, installing it
// with ./bench/install-nats-server.sh when it is nowhere to be found.
func findNATS(c *cli.Context) error {
	if p := c.String("nats-server"); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return usagef("--nats-server: %v", err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return usagef("--nats-server %s: not an executable file", p)
		}
		return nil
	}
	if p, err := localnats.FindBinary(); err == nil {
		return c.Set("nats-server", p)
	} else if _, serr := os.Stat("bench/install-nats-server.sh"); serr != nil {
		return err
	}
	fmt.Fprintln(envOf(c).stdout, "installing nats-server with bench/install-nats-server.sh")
	cmd := exec.CommandContext(c.Context, "bash", "bench/install-nats-server.sh")
	cmd.Stderr = envOf(c).stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bench/install-nats-server.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return c.Set("nats-server", strings.TrimSpace(lines[len(lines)-1]))
}

// compareRun starts s in a new temporary directory, runs w on it, stops
// it and removes the directory.
func compareRun(c *cli.Context, w *bench.Workload, s compareSystem) (res *bench.Result, err error) {
	dir, err := os.MkdirTemp("", "sluice-bench-"+s.name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lc, err := s.start(c.Context, c, dir)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.label, err)
	}
	defer func() {
		if serr := lc.stop(); serr != nil && err == nil {
			err = fmt.Errorf("stop %s: %w", s.label, serr)
		}
	}()
	d, err := openDriver(c.Context, s.driver, strings.Join(lc.targets, ","))
	if err != nil {
		return nil, err
	}
	return runWorkload(c, w, d, s.label, strings.Join(lc.targets, ","), lc.procs)
}

// startSluice starts a three-node cluster of this executable's server.
func startSluice(ctx context.Context, _ *cli.Context, dir string) (*localCluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dc, err := newDevCluster(devOptions{nodes: 3, dir: dir, logFormat: "text", logLevel: "warn", out: io.Discard}, exe)
	if err != nil {
		return nil, err
	}
	stop := func() error {
		if killed := dc.stop(15 * time.Second); len(killed) > 0 {
			return fmt.Errorf("node(s) %s killed after 15 s", strings.Join(killed, ", "))
		}
		return nil
	}
	if err := dc.startNodes(); err != nil {
		_ = stop()
		return nil, err
	}
	if err := dc.waitReady(ctx, time.Minute); err != nil {
		_ = stop()
		return nil, err
	}
	lc := &localCluster{stop: stop}
	for _, n := range dc.nodes {
		lc.targets = append(lc.targets, n.Client)
		lc.procs = append(lc.procs, bench.Process{Name: "sluice " + n.ID, PID: n.cmd.Process.Pid})
	}
	return lc, nil
}

func natsStarter(syncAlways bool) func(context.Context, *cli.Context, string) (*localCluster, error) {
	return func(ctx context.Context, c *cli.Context, dir string) (*localCluster, error) {
		nc, err := localnats.Start(ctx, localnats.Config{Binary: c.String("nats-server"), Dir: dir, Nodes: 3,
			SyncAlways: syncAlways, StartTimeout: time.Minute})
		if err != nil {
			return nil, err
		}
		lc := &localCluster{targets: nc.URLs(), stop: func() error { return nc.Stop(15 * time.Second) }}
		for _, p := range nc.Processes() {
			lc.procs = append(lc.procs, bench.Process{Name: "nats " + p.Name, PID: p.PID})
		}
		return lc, nil
	}
}

// runLine is one run's headline figures.
func runLine(r *bench.Result) string {
	return fmt.Sprintf("%.0f rec/s (%.1f MB/s) publish p50 %s p99 %s; end-to-end p99 %s; failed %d, unreceived %d",
		r.PublishRate, r.PublishMBps, fmtMs(r.Publish.P50), fmtMs(r.Publish.P99), fmtMs(r.EndToEnd.P99), r.Failed, r.Unreceived)
}

// medianRun is the run of runs with the median figure that matters for
// w: throughput at an unlimited rate, publish p99 at a fixed one.
func medianRun(w *bench.Workload, runs []*bench.Result) *bench.Result {
	rs := slices.Clone(runs)
	sort.Slice(rs, func(i, j int) bool {
		if w.ProducerRate > 0 {
			return rs[i].Publish.P99 < rs[j].Publish.P99
		}
		return rs[i].PublishRate < rs[j].PublishRate
	})
	return rs[len(rs)/2]
}

// compareReport prints the table of the median runs and writes the
// workload's HTML report and PNG.
func compareReport(out io.Writer, dir string, w *bench.Workload, systems []compareSystem, runs map[string][]*bench.Result) error {
	var medians []*bench.Result
	for _, s := range systems {
		if len(runs[s.name]) == 0 {
			continue
		}
		var rates, p99s []string
		for _, r := range runs[s.name] {
			rates = append(rates, fmt.Sprintf("%.0f", r.PublishRate))
			p99s = append(p99s, fmtMs(r.Publish.P99))
		}
		fmt.Fprintf(out, "%s %s: rec/s per round %s; publish p99 per round %s\n",
			w.Name, s.label, strings.Join(rates, ", "), strings.Join(p99s, ", "))
		medians = append(medians, medianRun(w, runs[s.name]))
	}
	if len(medians) == 0 {
		return errors.New("bench compare: no run succeeded")
	}
	fmt.Fprintf(out, "\n%s: median runs\n", w.Name)
	if err := report.Table(out, medians); err != nil {
		return err
	}
	htmlPath, pngPath := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png")
	title := fmt.Sprintf("%s: %s", w.Name, strings.Join(labels(medians), " vs "))
	if err := writeReport(htmlPath, pngPath, medians, report.Options{Title: title}); err != nil {
		return err
	}
	fmt.Fprintf(out, "report: %s\ncharts: %s\n\n", htmlPath, pngPath)
	return nil
}

func labels(rs []*bench.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Label)
	}
	return out
}
