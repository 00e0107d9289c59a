package report

import "html/template"

// pageTemplate is the HTML page. It must stay self-contained: inline
// CSS, inline SVG, no scripts and no external fonts or images. The charts
// were laid out with Liberation Sans metrics; where it is missing, the
// CSS falls back to Arimo, Arial or Helvetica, which share its metrics,
// so labels still fit.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:2em auto;max-width:1280px;padding:0 1.5em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666;margin-top:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5em 0}
th,td{padding:.2em .8em;border-bottom:1px solid #eee}
thead th{text-align:right;border-bottom:2px solid #ccc;vertical-align:bottom}
thead th:first-child,tbody th{text-align:left;font-weight:normal;color:#444}
td{text-align:right;white-space:nowrap}
table.workload td{text-align:left}
tr.section th{font-weight:600;color:#222;padding-top:.9em;background:#f7f7f7}
.ratio{color:#555;font-style:italic;border-left:1px dotted #ccc}
.better{color:#0a7d32}.worse{color:#b3261e}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1.5em 2em}
.charts figure{margin:0}
.charts svg{width:100%;height:auto}
.charts svg text{font-family:"Liberation Sans",Arimo,Arial,Helvetica,sans-serif!important}
.errors li{font-family:ui-monospace,monospace;font-size:.9em}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{if .Dates}}Runs started {{.Dates}}. {{end}}Report generated {{.Generated}}.</p>

<h2>Workload</h2>
<table class="workload">
<thead><tr><th>field</th>{{range .WorkloadHeads}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .WorkloadRows}}<tr><th>{{.Name}}</th>{{range .Cells}}<td>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>

<h2>Results</h2>
<table class="results">
<thead><tr><th>metric</th>{{range .Heads}}<th{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}{{if .Section}}<tr class="section"><th colspan="{{$.Colspan}}">{{.Section}}</th></tr>
{{else}}<tr><th>{{.Name}}</th>{{range .Cells}}<td{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}{{end}}</tbody>
</table>
{{if .Errors}}
<h2>Errors</h2>
<div class="errors">{{range .Errors}}
<p>{{.Label}}:</p>
<ul>{{range .Errors}}<li>{{.}}</li>{{end}}</ul>{{end}}
</div>
{{end}}
<h2>Charts</h2>
<div class="charts">
{{range .Charts}}<figure>{{.}}</figure>
{{end}}</div>

<h2>How to read this</h2>
<p>Each column of the table and each line of the charts is one run. From the second column on, a ratio column compares that run with the first:
for throughput, "x2.00" means twice the first run's rate; for latency and resource use, "2.00x lower" or "2.00x higher" than the first run.
Green marks the better run, red the worse, by more than 5%.</p>
<p>Latency is measured from each record's <em>intended</em> send time, as set by the target rate, not from when the producer got round to sending it.
So it includes any time a producer waited behind a slow send, and a stall is charged to every record it delayed (no coordinated omission).
Publish latency ends when the record is acknowledged; end-to-end latency ends when a consumer receives it.
A run with acks none has no publish latency.</p>
<p>The warm-up is excluded: totals, rates and percentiles cover the measured phase only, and the charts start at its first second.
Failed counts records whose send returned an error. Unreceived counts acknowledged records that a subscription had not received when the run ended;
they are counted in end-to-end latency at the time the run stopped waiting for them.
Server CPU is the sum over the local server processes (100% is one core busy), and max RSS the sum of their peaks.</p>
<p>The percentile charts use the HdrHistogram axis, on which 90%, 99%, 99.9% … are equally spaced, so the tail is visible;
the last point of each curve, at the right edge, is the maximum. Latency axes are logarithmic, and values below {{.Floor}} ms are drawn at {{.Floor}} ms.
Per-second p99 charts leave out seconds in which no record completed.</p>
</body>
</html>
`))
