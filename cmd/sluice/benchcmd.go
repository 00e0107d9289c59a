package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/driver/natsdriver"
	"github.com/sluicedb/sluice/bench/driver/sluicedriver"
	"github.com/sluicedb/sluice/bench/report"
)

// The drivers of sluice bench run.
const (
	driverSluice = sluicedriver.Name
	driverNATS   = "nats-jetstream"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "run benchmark workloads, render reports, compare with NATS JetStream",
		Description: "Workloads are YAML files with the OpenMessaging Benchmark's fields (see bench/README.md\n" +
			"and bench/workloads/). Latency is measured from each record's intended send time.",
		Subcommands: []*cli.Command{benchRunCommand(), benchReportCommand(), benchCompareCommand()},
	}
}

// workloadFlags override a workload's length and rate.
func workloadFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "duration", Usage: "measure for `D` (overrides testDurationMinutes and recordCount)"},
		&cli.DurationFlag{Name: "warmup", Usage: "warm up for `D` (overrides warmupDurationMinutes)"},
		&cli.Int64Flag{Name: "records", Usage: "measure `N` records (overrides recordCount and testDurationMinutes)"},
		&cli.Float64Flag{Name: "rate", Usage: "send `R` records/s over all producers, 0 = as fast as possible (overrides producerRate)"},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second,
			Usage: "after sending, wait up to `D` for consumers to receive everything"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
	}
}

// loadWorkload reads the workload file and applies the override flags.
func loadWorkload(c *cli.Context, path string) (*bench.Workload, error) {
	w, err := bench.LoadWorkload(path)
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"duration", "warmup"} {
		if c.IsSet(f) && c.Duration(f) < 0 {
			return nil, usagef("--%s %s: want a duration >= 0", f, c.Duration(f))
		}
	}
	if c.IsSet("duration") {
		if c.Duration("duration") <= 0 {
			return nil, usagef("--duration %s: want a positive duration", c.Duration("duration"))
		}
		w.TestDurationMinutes, w.RecordCount = c.Duration("duration").Minutes(), 0
	}
	if c.IsSet("records") {
		if c.Int64("records") <= 0 {
			return nil, usagef("--records %d: want > 0", c.Int64("records"))
		}
		w.RecordCount = c.Int64("records")
	}
	if c.IsSet("warmup") {
		w.WarmupDurationMinutes = c.Duration("warmup").Minutes()
	}
	if c.IsSet("rate") {
		if r := c.Float64("rate"); !(r >= 0) || math.IsInf(r, 1) {
			return nil, usagef("--rate %g: want a number >= 0", r)
		}
		w.ProducerRate = c.Float64("rate")
	}
	if c.Duration("drain-timeout") <= 0 {
		return nil, usagef("--drain-timeout %s: want a positive duration", c.Duration("drain-timeout"))
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}

func benchRunCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run one workload against a running cluster",
		ArgsUsage: "WORKLOAD.yaml",
		Description: "--driver sluice (default) talks to the Sluice cluster at --target (default $SLUICE_SERVER or\n" +
			"127.0.0.1:7070); --driver nats-jetstream to NATS servers (default nats://127.0.0.1:4222).\n" +
			"The result is written as JSON to --out; render it with sluice bench report.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "driver", Value: driverSluice, Usage: "`NAME`: sluice or nats-jetstream"},
			&cli.StringFlag{Name: "target", Usage: "server `addresses`, comma-separated"},
			&cli.StringFlag{Name: "label", Usage: "the result's `name` in reports (default: the driver)"},
			&cli.StringFlag{Name: "out", Usage: "write the result JSON to `FILE` (default WORKLOAD-DRIVER-TIME.json)"},
			&cli.StringSliceFlag{Name: "pid", Usage: "sample CPU and memory of a local server process, `NAME=PID` (repeat)"},
		}, workloadFlags()...),
		Action: benchRun,
	}
}

func benchRun(c *cli.Context) error {
	if err := checkArgs(c, "WORKLOAD"); err != nil {
		return err
	}
	w, err := loadWorkload(c, c.Args().First())
	if err != nil {
		return err
	}
	procs, err := parsePids(c.StringSlice("pid"))
	if err != nil {
		return err
	}
	target := c.String("target")
	if target == "" {
		target = defaultTarget(c.String("driver"))
	}
	d, err := openDriver(c.Context, c.String("driver"), target)
	if err != nil {
		return err
	}
	// bench.Run closes d.
	label := c.String("label")
	if label == "" {
		label = d.Name()
	}
	res, err := runWorkload(c, w, d, label, target, procs)
	if res != nil {
		out := c.String("out")
		if out == "" {
			out = fmt.Sprintf("%s-%s-%s.json", w.Name, d.Name(), time.Now().Format("20060102-150405"))
		}
		if werr := writeResult(out, res); werr != nil {
			return werr
		}
		fmt.Fprintf(envOf(c).stdout, "result: %s\n", out)
		_ = report.Table(envOf(c).stdout, []*bench.Result{res})
	}
	return err
}

// defaultTarget is where a driver looks when --target is not given.
func defaultTarget(driver string) string {
	if driver == driverNATS {
		return "nats://127.0.0.1:4222"
	}
	if s := os.Getenv("SLUICE_SERVER"); s != "" {
		return s
	}
	return defaultServer
}

// openDriver connects the named driver to target.
func openDriver(ctx context.Context, name, target string) (bench.Driver, error) {
	var addrs []string
	for _, a := range strings.Split(target, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, usagef("--target %q: no address", target)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch name {
	case driverSluice:
		if _, err := parseServers(target); err != nil {
			return nil, usagef("--target %q: want host:port, comma-separated", target)
		}
		return sluicedriver.New(cctx, addrs, sluicedriver.Options{})
	case driverNATS:
		// Producers publish to each partition's leader, as Sluice's
		// client does: the like-for-like setting, and NATS's faster one.
		return natsdriver.New(cctx, addrs, natsdriver.Options{LeaderConnections: true})
	default:
		return nil, usagef("--driver %q: want %s or %s", name, driverSluice, driverNATS)
	}
}

// parsePids reads --pid NAME=PID values.
func parsePids(vals []string) ([]bench.Process, error) {
	var out []bench.Process
	for _, v := range vals {
		name, pid, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(pid) // all of it: Sscanf took "12abc" as 12
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, usagef("--pid %q: want NAME=PID", v)
		}
		out = append(out, bench.Process{Name: name, PID: n})
	}
	return out, nil
}

// runWorkload runs w with a progress bar on stderr (unless --quiet).
func runWorkload(c *cli.Context, w *bench.Workload, d bench.Driver, label, target string, procs []bench.Process) (*bench.Result, error) {
	// Run closes d, whatever happens.
	cfg := bench.RunConfig{Workload: w, Driver: d, Label: label, Target: target, Processes: procs,
		DrainTimeout: c.Duration("drain-timeout")}
	var bar *progressbar.ProgressBar
	switch errw := envOf(c).stderr; {
	case c.Bool("quiet"):
	case isTerminal(errw):
		bar = newBar(errw, label+" "+w.Name)
		cfg.Progress = func(p bench.Progress) { showProgress(bar, p) }
	default:
		// Not a terminal (a log file, CI): a plain line every 10 s.
		var last time.Time
		cfg.Progress = func(p bench.Progress) {
			if now := time.Now(); now.Sub(last) >= 10*time.Second {
				last = now
				fmt.Fprintf(errw, "%s %s: %s\n", label, w.Name, progressLine(p))
			}
		}
	}
	res, err := bench.Run(c.Context, cfg)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(envOf(c).stderr)
	}
	if err != nil {
		return res, fmt.Errorf("bench %s on %s: %w", w.Name, label, err)
	}
	return res, nil
}

func newBar(w io.Writer, title string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(title),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// showProgress shows elapsed time against the run's total, the phase, the
// rate and the p99 latencies so far.
func showProgress(bar *progressbar.ProgressBar, p bench.Progress) {
	if p.Total > 0 && bar.GetMax64() != int64(p.Total/time.Millisecond) {
		bar.ChangeMax64(int64(p.Total / time.Millisecond))
	}
	bar.Describe(progressLine(p))
	_ = bar.Set64(int64(p.Elapsed / time.Millisecond))
}

// progressLine is the phase, the time in it, the rate of the last second
// and the p99 latencies so far.
func progressLine(p bench.Progress) string {
	total := "?"
	if p.Total > 0 {
		total = p.Total.Round(time.Second).String()
	}
	return fmt.Sprintf("%-7s %s/%s %9.0f rec/s  p99 publish %s  e2e %s",
		p.Phase, p.Elapsed.Round(time.Second), total, p.Rate, fmtMs(p.PublishP99), fmtMs(p.EndToEndP99))
}

func fmtMs(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g ms", ms)
}

// writeResult writes res as indented JSON, atomically.
func writeResult(path string, res *bench.Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func benchReportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "render result JSON files as a table, an HTML page and a PNG",
		ArgsUsage: "RESULT.json...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "html", Usage: "write the HTML page to `FILE` (default: the first result's name with .html)"},
			&cli.StringFlag{Name: "png", Usage: "write the charts to `FILE` (default: the first result's name with .png)"},
			&cli.StringFlag{Name: "title", Usage: "the report's `title`"},
		},
		Action: benchReport,
	}
}

func benchReport(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("%s: missing argument RESULT.json", commandPath(c))
	}
	results, err := report.Load(c.Args().Slice()...)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(c.Args().First(), filepath.Ext(c.Args().First()))
	htmlPath, pngPath := c.String("html"), c.String("png")
	if htmlPath == "" {
		htmlPath = base + ".html"
	}
	if pngPath == "" {
		pngPath = base + ".png"
	}
	opts := report.Options{Title: c.String("title")}
	if err := writeReport(htmlPath, pngPath, results, opts); err != nil {
		return err
	}
	out := envOf(c).stdout
	if err := report.Table(out, results); err != nil {
		return err
	}
	fmt.Fprintf(out, "report: %s\ncharts: %s\n", htmlPath, pngPath)
	return nil
}

// writeReport renders results to an HTML page and a PNG.
func writeReport(htmlPath, pngPath string, results []*bench.Result, opts report.Options) error {
	for _, r := range []struct {
		path   string
		render func(io.Writer, []*bench.Result, report.Options) error
	}{{htmlPath, report.HTML}, {pngPath, report.PNG}} {
		f, err := os.Create(r.path)
		if err != nil {
			return err
		}
		if err := r.render(f, results, opts); err != nil {
			_ = f.Close()
			return fmt.Errorf("%s: %w", r.path, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
