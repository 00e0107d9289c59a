package report

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/sluicedb/sluice/bench"
)

func TestPercentileSeries(t *testing.T) {
	t.Parallel()
	curve := []bench.Percentile{
		{Percentile: 99, Ms: 3}, {Percentile: 0, Ms: 0}, {Percentile: 90, Ms: 2},
		{Percentile: 99.9, Ms: 5}, {Percentile: 100, Ms: 9}, {Percentile: -1, Ms: 1},
		{Percentile: math.NaN(), Ms: 1}, {Percentile: 50, Ms: math.Inf(1)},
	}
	xys := percentileSeries(curve)
	series := []plotter.XYs{xys}
	clampEdge(series)
	want := plotter.XYs{{X: 1, Y: MinLatencyMs}, {X: 10, Y: 2}, {X: 100, Y: 3}, {X: 1000, Y: 5}, {X: 1000, Y: 9}}
	if len(xys) != len(want) {
		t.Fatalf("got %v, want %v", xys, want)
	}
	for i := range want {
		if math.Abs(xys[i].X-want[i].X) > 1e-6 || xys[i].Y != want[i].Y {
			t.Errorf("point %d = %v, want %v", i, xys[i], want[i])
		}
	}
	if e := percentileEdge(series); e != 1000 {
		t.Errorf("edge = %v, want 1000 (99.9%%)", e)
	}
	if got := percentileSeries([]bench.Percentile{{Percentile: 50, Ms: 0}, {Percentile: 100, Ms: 0}}); got != nil {
		t.Errorf("all-zero curve = %v, want no data", got)
	}
}

func TestWindowSeries(t *testing.T) {
	t.Parallel()
	ws := []bench.Window{
		{Second: 2, Acked: 30, PublishP99: 0},
		{Second: -1, Acked: 99, PublishP99: 7},
		{Second: 0, Acked: 10, PublishP99: 1e-9},
		{Second: 1, Acked: -5, PublishP99: 4},
	}
	acked := windowSeries(ws, rateOverTime, func(w bench.Window) float64 { return float64(w.Acked) })
	if want := (plotter.XYs{{X: 0, Y: 10}, {X: 1, Y: 0}, {X: 2, Y: 30}}); !slices.Equal(acked, want) {
		t.Errorf("acked = %v, want %v", acked, want)
	}
	p99 := windowSeries(ws, latencyOverTime, func(w bench.Window) float64 { return w.PublishP99 })
	if want := (plotter.XYs{{X: 0, Y: MinLatencyMs}, {X: 1, Y: 4}}); !slices.Equal(p99, want) {
		t.Errorf("p99 = %v, want %v", p99, want)
	}
}

// TestLogAxesPositive checks that every log-scale axis of every edge case
// has a positive range, which gonum needs (it panics otherwise).
func TestLogAxesPositive(t *testing.T) {
	t.Parallel()
	for name, rs := range edgeCases() {
		f, err := newFigure(rs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, p := range f.plots {
			for _, a := range []*plot.Axis{&p.X, &p.Y} {
				if _, ok := a.Scale.(plot.LogScale); ok && !(a.Min > 0 && a.Max > a.Min) {
					t.Errorf("%s: chart %d: log axis range [%v, %v]", name, i, a.Min, a.Max)
				}
			}
		}
	}
}

func TestDecadeRange(t *testing.T) {
	t.Parallel()
	tests := []struct{ lo, hi, wantLo, wantHi float64 }{
		{0.3, 42, 0.1, 100}, {1, 1, 1, 10}, {0, 0, MinLatencyMs, 0.01}, {5, 5, 1, 10}, {1000, 1000, 1000, 10000},
	}
	for _, tt := range tests {
		lo, hi := decadeRange(tt.lo, tt.hi)
		if math.Abs(lo-tt.wantLo) > 1e-12 || math.Abs(hi-tt.wantHi) > 1e-9 {
			t.Errorf("decadeRange(%v, %v) = %v, %v; want %v, %v", tt.lo, tt.hi, lo, hi, tt.wantLo, tt.wantHi)
		}
	}
}
