package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedb/sluice/bench"
)

// Options adjusts a report.
type Options struct {
	// Title heads the page and the image. Empty: one made from the
	// workload's name.
	Title string
}

// title returns opts.Title or a default.
func title(results []*bench.Result, opts Options) string {
	if t := clean(opts.Title, 120); t != "" {
		return t
	}
	if names := workloadNames(results); names != "" {
		return "Benchmark: " + names
	}
	return "Sluice benchmark report"
}

// subtitle says which workloads ran when, for the PNG.
func subtitle(results []*bench.Result) string {
	var parts []string
	if names := workloadNames(results); names != "" {
		parts = append(parts, "workload "+names)
	}
	if d := runDates(results); d != "" {
		parts = append(parts, "started "+d)
	}
	return strings.Join(parts, " · ")
}

// workloadNames lists the distinct workload names, in order.
func workloadNames(results []*bench.Result) string {
	var names []string
	for _, r := range results {
		n := clean(r.Workload.Name, 60)
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// cellView is one table cell of the page.
type cellView struct {
	Text  string
	Class string
}

// rowView is one table row of the page; Section rows span the table.
type rowView struct {
	Section string
	Name    string
	Cells   []cellView
}

// page is what the HTML template shows.
type page struct {
	Title, Dates, Generated string
	Floor                   string // MinLatencyMs
	Colspan                 int    // columns of the results table
	WorkloadHeads           []string
	WorkloadRows            []rowView
	Heads                   []cellView
	Rows                    []rowView
	Errors                  []errorsView
	Charts                  []template.HTML
}

// errorsView lists the errors one run reported.
type errorsView struct {
	Label  string
	Errors []string
}

// HTML writes one self-contained HTML page comparing results: the
// workloads, the side-by-side table, any errors, the charts as inline
// SVG, and a note on how to read them. The page loads nothing from
// elsewhere. It returns ErrNoResults or ErrNilResult for bad input, an
// error matching ErrRender if a chart cannot be drawn, or the writer's
// error.
func HTML(w io.Writer, results []*bench.Result, opts Options) error {
	if err := check(results); err != nil {
		return err
	}
	var f figure
	err := safely(func() error {
		var err error
		f, err = newFigure(results)
		return err
	})
	if err != nil {
		return err
	}
	svgs, err := svgCharts(f)
	if err != nil {
		return err
	}
	pg := page{
		Title:     title(results, opts),
		Dates:     runDates(results),
		Generated: time.Now().UTC().Format("2006-01-02"),
	}
	pg.WorkloadHeads, pg.WorkloadRows = workloadTable(results)
	pg.Heads, pg.Rows = comparisonView(newComparison(results))
	pg.Colspan = len(pg.Heads) + 1
	pg.Floor = msLabel(MinLatencyMs)
	for i, r := range results {
		if len(r.Errors) > 0 {
			ev := errorsView{Label: f.labels[i]}
			for _, e := range r.Errors {
				ev.Errors = append(ev.Errors, clean(e, 1000))
			}
			pg.Errors = append(pg.Errors, ev)
		}
	}
	// Pair each publish chart with its receive counterpart for the
	// page's two columns.
	for _, i := range []int{0, 3, 1, 4, 2, 5} {
		// vgsvg escapes all text it writes, so the SVG is safe to inline.
		pg.Charts = append(pg.Charts, template.HTML(svgs[i]))
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pg); err != nil {
		return fmt.Errorf("report: html template: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

// comparisonView lays the comparison out as table cells: each result
// followed by its ratio to the first.
func comparisonView(c comparison) ([]cellView, []rowView) {
	heads := c.ratioHeads()
	var hs []cellView
	for i, l := range c.labels {
		hs = append(hs, cellView{Text: l})
		if i > 0 {
			hs = append(hs, cellView{Text: heads[i-1], Class: "ratio"})
		}
	}
	var rows []rowView
	for _, rw := range c.rows {
		if rw.section != "" {
			rows = append(rows, rowView{Section: rw.section})
			continue
		}
		rv := rowView{Name: rw.name}
		for i, v := range rw.values {
			rv.Cells = append(rv.Cells, cellView{Text: v})
			if i == 0 {
				continue
			}
			class := "ratio"
			switch rw.ratios[i-1].verdict {
			case 1:
				class += " better"
			case -1:
				class += " worse"
			}
			rv.Cells = append(rv.Cells, cellView{Text: rw.ratios[i-1].text, Class: class})
		}
		rows = append(rows, rv)
	}
	return hs, rows
}

// workloadTable prints every field of each distinct workload: one column
// per workload, headed by the labels of the results that ran it.
func workloadTable(results []*bench.Result) ([]string, []rowView) {
	ls := labels(results)
	var distinct []bench.Workload
	var heads []string
	for i, r := range results {
		j := 0
		for j < len(distinct) && !reflect.DeepEqual(distinct[j], r.Workload) {
			j++
		}
		if j == len(distinct) {
			distinct = append(distinct, r.Workload)
			heads = append(heads, ls[i])
		} else {
			heads[j] += ", " + ls[i]
		}
	}
	if len(distinct) == 1 {
		heads[0] = "all results"
	}
	t := reflect.TypeFor[bench.Workload]()
	var rows []rowView
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = sf.Name
		}
		rv := rowView{Name: name}
		for _, wl := range distinct {
			rv.Cells = append(rv.Cells, cellView{Text: fieldText(reflect.ValueOf(wl).Field(i))})
		}
		rows = append(rows, rv)
	}
	return heads, rows
}

// fieldText formats one workload field.
func fieldText(v reflect.Value) string {
	if d, ok := v.Interface().(bench.Duration); ok {
		return time.Duration(d).String()
	}
	switch v.Kind() {
	case reflect.String:
		return orNA(clean(v.String(), 200))
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', 6, 64)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return count(v.Int())
	}
	return clean(fmt.Sprint(v.Interface()), 200)
}
