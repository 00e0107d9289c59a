package report

import (
	"cmp"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sluicedb/sluice/bench"
)

// MinLatencyMs is the floor latencies are clamped to on the log-scale
// charts, which cannot show 0.
const MinLatencyMs = 0.001

// sans is the font of all chart text; gonum's default is a serif.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// maxPercentileX bounds the percentile axis at 99.9999999%.
const maxPercentileX = 1e9

// chartKind says how a chart's axes are laid out.
type chartKind int

const (
	// rateOverTime: x is the second of the measured phase, y records/s
	// on a linear scale from 0.
	rateOverTime chartKind = iota
	// latencyOverTime: x is the second, y milliseconds on a log scale.
	latencyOverTime
	// latencyByPercentile: x is the percentile on the HdrHistogram
	// scale, y milliseconds on a log scale.
	latencyByPercentile
)

// chart is one chart before it is drawn: its text, and a series of
// points per result (nil where the result has no data for it).
type chart struct {
	title, xLabel, yLabel string
	kind                  chartKind
	series                []plotter.XYs
}

// charts returns the report's charts in the order of the PNG grid, two
// rows of three: the top row is about publishing, the bottom row about
// receiving, and each column pairs a publish chart with its receive
// counterpart.
func charts(results []*bench.Result) []chart {
	overTime := func(title, yLabel string, kind chartKind, v func(w bench.Window) float64) chart {
		c := chart{title: title, xLabel: "second of the run", yLabel: yLabel, kind: kind}
		for _, r := range results {
			c.series = append(c.series, windowSeries(r.Windows, kind, v))
		}
		return c
	}
	byPercentile := func(title string, l func(r *bench.Result) bench.Latency) chart {
		c := chart{title: title, xLabel: "percentile", yLabel: "latency (ms)", kind: latencyByPercentile}
		for _, r := range results {
			c.series = append(c.series, percentileSeries(l(r).Curve))
		}
		clampEdge(c.series)
		return c
	}
	return []chart{
		overTime("Acknowledged records/s", "records/s", rateOverTime,
			func(w bench.Window) float64 { return float64(w.Acked) }),
		byPercentile("Publish latency by percentile",
			func(r *bench.Result) bench.Latency { return r.Publish }),
		overTime("Publish latency p99 per second", "p99 latency (ms)", latencyOverTime,
			func(w bench.Window) float64 { return w.PublishP99 }),
		overTime("Received records/s", "records/s", rateOverTime,
			func(w bench.Window) float64 { return float64(w.Received) }),
		byPercentile("End-to-end latency by percentile",
			func(r *bench.Result) bench.Latency { return r.EndToEnd }),
		overTime("End-to-end latency p99 per second", "p99 latency (ms)", latencyOverTime,
			func(w bench.Window) float64 { return w.EndToEndP99 }),
	}
}

// windowSeries returns one point per measured window (Second >= 0), in
// order of time. Each window is one second, so a count is a rate. For a
// latency, windows with no value (no record completed that second) are
// left out and the rest clamped to MinLatencyMs.
func windowSeries(ws []bench.Window, kind chartKind, v func(w bench.Window) float64) plotter.XYs {
	var xys plotter.XYs
	for _, w := range ws {
		y := v(w)
		if w.Second < 0 || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		switch {
		case kind == rateOverTime:
			y = max(y, 0)
		case y <= 0:
			continue
		default:
			y = max(y, MinLatencyMs)
		}
		xys = append(xys, plotter.XY{X: float64(w.Second), Y: y})
	}
	slices.SortStableFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	return xys
}

// percentileSeries maps a latency curve onto the HdrHistogram axis,
// x = 1/(1-p/100). The point at p = 100 (the maximum) has no finite x;
// it gets x = +Inf here and clampEdge moves it to the right edge of the
// axis. Latencies are clamped to MinLatencyMs; a curve with no positive
// latency is no data.
func percentileSeries(curve []bench.Percentile) plotter.XYs {
	var xys plotter.XYs
	positive := false
	for _, pt := range curve {
		p, ms := pt.Percentile, pt.Ms
		if math.IsNaN(p) || p < 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
			continue
		}
		x := math.Inf(1)
		if p < 100 {
			x = min(1/(1-p/100), maxPercentileX)
		}
		positive = positive || ms > 0
		xys = append(xys, plotter.XY{X: x, Y: max(ms, MinLatencyMs)})
	}
	if !positive {
		return nil
	}
	slices.SortStableFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	return xys
}

// clampEdge moves the maximum of each curve (x = +Inf) to the right edge
// of the percentile axis: the first power of ten at or beyond every
// finite x, and at least 100 (the 99th percentile).
func clampEdge(series []plotter.XYs) {
	edge := percentileEdge(series)
	for _, xys := range series {
		for i := range xys {
			xys[i].X = min(xys[i].X, edge)
		}
	}
}

// percentileEdge returns the right edge of the percentile axis.
func percentileEdge(series []plotter.XYs) float64 {
	top := 1.0
	for _, xys := range series {
		for _, xy := range xys {
			if !math.IsInf(xy.X, 0) {
				top = max(top, xy.X)
			}
		}
	}
	// The tolerance keeps 1/(1-0.999) = 1000.0000000000009 at 99.9%.
	edge := math.Pow(10, math.Ceil(math.Log10(top)-1e-9))
	return min(max(edge, 100), maxPercentileX)
}

// newPlot builds the gonum plot of c, drawing series i with styles[i].
func newPlot(c chart, styles []draw.LineStyle) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.Title.TextStyle.Font = font.From(sans, 12)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text, p.Y.Label.Text = c.xLabel, c.yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 10)
		a.Tick.Label.Font = font.From(sans, 9)
		a.Tick.Length = vg.Points(4)
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 225}
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid)

	var xmax, ymax float64
	ymin := math.Inf(1)
	empty := true
	for i, xys := range c.series {
		if len(xys) == 0 {
			continue
		}
		empty = false
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.LineStyle = styles[i%len(styles)]
		p.Add(line)
		if len(xys) == 1 {
			// A line of one point draws nothing; mark the point.
			s, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle.Color = line.Color
			s.GlyphStyle.Radius = vg.Points(3)
			p.Add(s)
		}
		for _, xy := range xys {
			xmax, ymax, ymin = max(xmax, xy.X), max(ymax, xy.Y), min(ymin, xy.Y)
		}
	}
	if empty {
		return noData(p)
	}

	switch c.kind {
	case rateOverTime, latencyOverTime:
		p.X.Tick.Marker = linearTicks{}
		p.X.Min, p.X.Max = 0, max(xmax, 1)
	case latencyByPercentile:
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = percentileTicks{}
		p.X.Min, p.X.Max = 1, percentileEdge(c.series)
	}
	switch c.kind {
	case rateOverTime:
		p.Y.Tick.Marker = linearTicks{}
		p.Y.Min, p.Y.Max = 0, max(ymax*1.05, 1)
	case latencyOverTime, latencyByPercentile:
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = msTicks{}
		p.Y.Min, p.Y.Max = decadeRange(ymin, ymax)
	}
	return p, nil
}

// decadeRange returns the powers of ten around [lo, hi], at least one
// decade apart, for a log axis. lo and hi must be > 0.
func decadeRange(lo, hi float64) (float64, float64) {
	lo = math.Pow(10, math.Floor(math.Log10(max(lo, MinLatencyMs))+1e-9))
	hi = math.Pow(10, math.Ceil(math.Log10(max(hi, MinLatencyMs))-1e-9))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// noData turns p into an empty chart saying "no data".
func noData(p *plot.Plot) (*plot.Plot, error) {
	labels, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: 0.5, Y: 0.5}},
		Labels: []string{"no data"},
	})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font = font.From(sans, 14)
		labels.TextStyle[i].Color = color.Gray{Y: 120}
		labels.TextStyle[i].XAlign = draw.XCenter
		labels.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(labels)
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.X.Tick.Marker = plot.ConstantTicks{}
	p.Y.Tick.Marker = plot.ConstantTicks{}
	return p, nil
}
