package report

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/sluicedb/sluice/bench"
)

// The PNG's size in pixels, and the resolution that maps the charts'
// point sizes onto it.
const (
	pngWidth, pngHeight = 1600, 1000
	pngDPI              = 96
)

// The size of each chart in the HTML page, in points (vg.Length's
// unit), not counting its legend.
const svgWidth, svgHeight vg.Length = 420, 290

// Colours (Okabe and Ito's, which stay distinct for colour-blind
// readers) and dash patterns of the series, used in turn. Read-only.
var (
	seriesColors = []color.RGBA{
		{0x00, 0x72, 0xb2, 0xff}, {0xd5, 0x5e, 0x00, 0xff}, {0x00, 0x9e, 0x73, 0xff},
		{0xcc, 0x79, 0xa7, 0xff}, {0xe6, 0x9f, 0x00, 0xff}, {0x56, 0xb4, 0xe9, 0xff},
		{0x00, 0x00, 0x00, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	}
	seriesDashes = [][]vg.Length{
		nil, {6, 3}, {2, 2}, {8, 3, 2, 3}, {4, 2, 1, 2, 1, 2},
	}
)

// figure holds what every drawing of the charts needs.
type figure struct {
	labels []string
	styles []draw.LineStyle
	plots  []*plot.Plot // in the order of charts()
}

// newFigure builds the plots of results, which must be non-nil.
func newFigure(results []*bench.Result) (figure, error) {
	f := figure{labels: labels(results)}
	for i := range results {
		f.styles = append(f.styles, draw.LineStyle{
			Color:  seriesColors[i%len(seriesColors)],
			Width:  vg.Points(1.6),
			Dashes: seriesDashes[(i/len(seriesColors)+i)%len(seriesDashes)],
		})
	}
	for _, c := range charts(results) {
		p, err := newPlot(c, f.styles)
		if err != nil {
			return figure{}, fmt.Errorf("chart %q: %w", c.title, err)
		}
		f.plots = append(f.plots, p)
	}
	return f, nil
}

// textStyle is the style of text drawn outside the plots.
func textStyle(size vg.Length, c color.Color, xa text.XAlignment) text.Style {
	return text.Style{
		Color:   c,
		Font:    font.From(sans, size),
		XAlign:  xa,
		YAlign:  draw.YCenter,
		Handler: plot.DefaultTextHandler,
	}
}

// legendLayout places the legend entries in centred rows no wider than
// width.
type legendLayout struct {
	rows   [][]int     // entry indexes per row
	widths []vg.Length // entry widths, swatch and gap included
	rowW   []vg.Length // row widths
	sty    text.Style  // entry text
	swatch vg.Length   // sample line length
	lineH  vg.Length   // row height
}

// layoutLegend lays out one legend entry per label.
func layoutLegend(labels []string, width vg.Length) legendLayout {
	l := legendLayout{
		sty:    textStyle(10, color.Black, draw.XLeft),
		swatch: vg.Points(28),
		lineH:  vg.Points(15),
	}
	const gap, space = vg.Length(5), vg.Length(22)
	var cur []int
	var curW vg.Length
	for i, s := range labels {
		w := l.swatch + gap + l.sty.Width(s) + space
		l.widths = append(l.widths, w)
		if len(cur) > 0 && curW+w > width {
			// The last entry's trailing space is not part of the row.
			l.rows, l.rowW = append(l.rows, cur), append(l.rowW, curW-space)
			cur, curW = nil, 0
		}
		cur, curW = append(cur, i), curW+w
	}
	if len(cur) > 0 {
		l.rows, l.rowW = append(l.rows, cur), append(l.rowW, curW-space)
	}
	return l
}

// height is the height of the laid-out legend.
func (l legendLayout) height() vg.Length {
	return vg.Length(len(l.rows))*l.lineH + vg.Points(4)
}

// draw draws the legend at the top of c.
func (l legendLayout) draw(c draw.Canvas, f figure) {
	y := c.Max.Y - l.lineH/2
	for r, row := range l.rows {
		x := c.Min.X + (c.Max.X-c.Min.X-l.rowW[r])/2
		for _, i := range row {
			c.StrokeLine2(f.styles[i], x, y, x+l.swatch, y)
			c.FillText(l.sty, vg.Point{X: x + l.swatch + 5, Y: y}, f.labels[i])
			x += l.widths[i]
		}
		y -= l.lineH
	}
}

// PNG writes one PNG image, 1600x1000 pixels, with the report's title,
// a legend and the six charts. It returns ErrNoResults or ErrNilResult
// for bad input, an error matching ErrRender if a chart cannot be drawn,
// or the writer's error.
func PNG(w io.Writer, results []*bench.Result, opts Options) error {
	if err := check(results); err != nil {
		return err
	}
	var buf bytes.Buffer
	err := safely(func() error {
		f, err := newFigure(results)
		if err != nil {
			return err
		}
		const pt = vg.Inch / pngDPI
		img := vgimg.NewWith(vgimg.UseWH(pngWidth*pt, pngHeight*pt), vgimg.UseDPI(pngDPI))
		dc := draw.New(img)
		width := dc.Max.X - dc.Min.X

		// The heading: title, subtitle, legend.
		top := dc.Max.Y - vg.Points(16)
		dc.FillText(textStyle(16, color.Black, draw.XCenter), vg.Point{X: width / 2, Y: top}, title(results, opts))
		top -= vg.Points(18)
		dc.FillText(textStyle(10, color.Gray{Y: 80}, draw.XCenter), vg.Point{X: width / 2, Y: top}, subtitle(results))
		top -= vg.Points(12)
		legend := layoutLegend(f.labels, width-vg.Points(40))
		legend.draw(draw.Crop(dc, 0, 0, top-legend.height()-dc.Min.Y, top-dc.Max.Y), f)
		top -= legend.height() + vg.Points(4)

		// The chart titles are drawn here, above the tiles, rather than
		// by the plots: plot.Align lines up the data areas, which would
		// leave titles at different heights.
		grid := draw.Crop(dc, 0, 0, 0, top-dc.Max.Y)
		const titleH = vg.Length(20)
		plots := [][]*plot.Plot{f.plots[0:3], f.plots[3:6]}
		tiles := draw.Tiles{
			Rows: 2, Cols: 3,
			PadX: vg.Points(24), PadY: vg.Points(16) + titleH, PadTop: titleH,
			PadLeft: vg.Points(10), PadRight: vg.Points(16), PadBottom: vg.Points(8),
		}
		titleSty := textStyle(12, color.Black, draw.XCenter)
		for j := range plots {
			for i, p := range plots[j] {
				t := tiles.At(grid, i, j)
				dc.FillText(titleSty, vg.Point{X: (t.Min.X + t.Max.X) / 2, Y: t.Max.Y + titleH/2}, p.Title.Text)
				p.Title.Text = ""
			}
		}
		canvases := plot.Align(plots, tiles, grid)
		for j := range plots {
			for i, p := range plots[j] {
				p.Draw(canvases[j][i])
			}
		}
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		return enc.Encode(&buf, paletted(img.Image()))
	})
	if err != nil {
		return err
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("report: write png: %w", err)
	}
	return nil
}

// svgCharts draws each chart of f as an SVG document with its own
// legend below it, ready to inline in HTML (no XML prologue).
func svgCharts(f figure) ([]string, error) {
	var out []string
	err := safely(func() error {
		legend := layoutLegend(f.labels, svgWidth-vg.Points(20))
		for _, p := range f.plots {
			c := vgsvg.New(svgWidth, svgHeight+legend.height())
			dc := draw.New(c)
			// A small margin keeps the last tick label off the edge.
			p.Draw(draw.Crop(dc, vg.Points(2), -vg.Points(8), legend.height(), -vg.Points(4)))
			legend.draw(draw.Crop(dc, 0, 0, 0, -svgHeight), f)
			var buf bytes.Buffer
			if _, err := c.WriteTo(&buf); err != nil {
				return err
			}
			s := buf.String()
			if i := strings.Index(s, "<svg"); i >= 0 {
				s = s[i:]
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// safely runs fn, turning a panic in the plotting library into an error
// matching ErrRender. The inputs are sanitised so that this should not
// happen; it keeps a bad result from crashing the command.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrRender, r)
		}
	}()
	if err := fn(); err != nil {
		return fmt.Errorf("%w: %w", ErrRender, err)
	}
	return nil
}
