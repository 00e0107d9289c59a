package report_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/report"
)

// TestExampleReport renders a sample report the way `sluice bench report`
// does: load result files, then write the table, the image and the page.
func TestExampleReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var paths []string
	for i, label := range []string{"nats-jetstream", "sluice"} {
		r := sample(label, float64(i+1))
		path := filepath.Join(dir, label+".json")
		if err := os.WriteFile(path, mustMarshal(t, r), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}

	results, err := report.Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(f *os.File) error{
		"table.txt":   func(f *os.File) error { return report.Table(f, results) },
		"report.png":  func(f *os.File) error { return report.PNG(f, results, report.Options{Title: "Sample"}) },
		"report.html": func(f *os.File) error { return report.HTML(f, results, report.Options{Title: "Sample"}) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", f.Name())
	}
}

// sample is a small result: ten seconds at a steady rate.
func sample(label string, speed float64) *bench.Result {
	r := &bench.Result{
		Version: bench.ResultVersion, Label: label, Driver: label,
		Workload: bench.Workload{Name: "sample", PartitionsPerTopic: 3, MessageSize: 100, Acks: "all"},
		Started:  time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Seconds: 10,
		PublishRate: 1000 * speed, ConsumeRate: 1000 * speed,
	}
	for s := range 10 {
		n := int64(1000 * speed)
		r.Windows = append(r.Windows, bench.Window{Second: s, Acked: n, Received: n, PublishP99: 5 / speed, EndToEndP99: 8 / speed})
	}
	for _, l := range []*bench.Latency{&r.Publish, &r.EndToEnd} {
		l.Count, l.P50, l.P99, l.Max = 10000*int64(speed), 1/speed, 5/speed, 20/speed
		l.Curve = []bench.Percentile{{Percentile: 0, Ms: 0.5 / speed}, {Percentile: 50, Ms: 1 / speed},
			{Percentile: 99, Ms: 5 / speed}, {Percentile: 100, Ms: 20 / speed}}
	}
	return r
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
