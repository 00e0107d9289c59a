package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/sluicedb/sluice/bench"
)

// edgeCases are result sets the renderers must handle without error.
func edgeCases() map[string][]*bench.Result {
	cases := map[string][]*bench.Result{
		"two":  {fixture("nats-jetstream", 1), fixture("sluice", 2.3)},
		"one":  {fixture("sluice", 1)},
		"four": {fixture("a", 1), fixture("b", 0.5), fixture("c", 2), fixture("d", 4)},
		"nine": nil,
	}
	for i := range 9 {
		cases["nine"] = append(cases["nine"], fixture(fmt.Sprintf("run %d", i), float64(i+1)))
	}

	noWindows := fixture("no windows", 1)
	noWindows.Windows = nil
	warmupOnly := fixture("warm-up only", 1)
	warmupOnly.Windows = warmupOnly.Windows[:5]
	cases["no windows"] = []*bench.Result{noWindows, warmupOnly}

	acksNone := fixture("acks none", 1)
	acksNone.Workload.Acks = "none"
	acksNone.Publish = bench.Latency{}
	for i := range acksNone.Windows {
		acksNone.Windows[i].PublishP99 = 0
	}
	cases["acks none"] = []*bench.Result{fixture("acks all", 1), acksNone}
	cases["acks none alone"] = []*bench.Result{acksNone}

	emptyCurves := fixture("empty curves", 1)
	emptyCurves.Publish.Curve, emptyCurves.EndToEnd.Curve = nil, nil
	zero := fixture("zero latencies", 1)
	for _, l := range []*bench.Latency{&zero.Publish, &zero.EndToEnd} {
		*l = bench.Latency{Curve: []bench.Percentile{{Percentile: 50}, {Percentile: 100}}}
	}
	for i := range zero.Windows {
		zero.Windows[i].PublishP99, zero.Windows[i].EndToEndP99 = 0, 0
	}
	cases["no latency"] = []*bench.Result{emptyCurves, zero}
	cases["zero value"] = []*bench.Result{{Version: bench.ResultVersion}}

	// Values no JSON file can hold, from a caller building results.
	odd := fixture("odd values", 1)
	odd.PublishRate, odd.ConsumeRate, odd.Publish.P99 = math.NaN(), math.Inf(1), -3
	odd.Windows[10].Acked = -50
	odd.Windows[11].PublishP99 = math.NaN()
	odd.Windows[12].EndToEndP99 = math.Inf(1)
	odd.EndToEnd.Curve[2].Ms = math.NaN()
	odd.Publish.Curve = append(odd.Publish.Curve, bench.Percentile{Percentile: 99.9999999999999, Ms: 1e12})
	cases["odd values"] = []*bench.Result{fixture("normal", 1), odd}
	return cases
}

// hostile is a result whose strings try to inject markup.
func hostile() *bench.Result {
	r := fixture(`<script>alert("x")</script>`, 1)
	r.Driver = `"><img src="https://example.com/x.png">`
	r.Workload.Name = "name\nwith newline & <b>tags</b>"
	r.Errors = []string{`<iframe src="http://example.com">`, "plain error"}
	return r
}

func TestHTMLEdgeCases(t *testing.T) {
	t.Parallel()
	cases := edgeCases()
	cases["hostile"] = []*bench.Result{fixture("baseline", 1), hostile()}
	for name, rs := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := HTML(&buf, rs, Options{Title: "Test <report>"}); err != nil {
				t.Fatal(err)
			}
			text := checkHTML(t, buf.String())
			for _, l := range labels(rs) {
				if !strings.Contains(text, l) {
					t.Errorf("page text does not contain label %q", l)
				}
			}
			if !strings.Contains(text, "Test <report>") {
				t.Error("page text does not contain the title")
			}
		})
	}
}

// checkHTML checks that page is a well-formed, self-contained HTML page
// and returns its text content.
func checkHTML(t *testing.T, page string) string {
	t.Helper()
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("page contains a <script> tag")
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	external := regexp.MustCompile(`(?i)^\s*(https?:)?//`)
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			text.WriteString(n.Data)
		case html.ElementNode:
			switch n.Data {
			case "script", "link", "iframe", "img", "object", "embed", "base":
				t.Errorf("page has a <%s> element", n.Data)
			case "style":
				if c := n.FirstChild; c != nil && (strings.Contains(c.Data, "url(") || strings.Contains(c.Data, "@import")) {
					t.Error("page CSS loads a resource")
				}
			}
			for _, a := range n.Attr {
				switch strings.ToLower(a.Key) {
				case "src", "href", "action", "srcset", "data":
					if external.MatchString(a.Val) {
						t.Errorf("<%s %s=%q> references an external resource", n.Data, a.Key, a.Val)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)

	// The inline SVG must be well-formed XML too.
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1)
	if len(svgs) != 6 {
		t.Errorf("page has %d charts, want 6", len(svgs))
	}
	for i, s := range svgs {
		dec := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("chart %d is not well-formed XML: %v", i, err)
				break
			}
		}
	}
	return text.String()
}

func TestHTMLContainsTable(t *testing.T) {
	t.Parallel()
	rs := []*bench.Result{fixture("nats-jetstream", 1), fixture("sluice", 2.3)}
	var buf bytes.Buffer
	if err := HTML(&buf, rs, Options{}); err != nil {
		t.Fatal(err)
	}
	text := checkHTML(t, buf.String())
	for _, want := range []string{
		rate(rs[0].PublishRate), rate(rs[1].PublishRate), sig3(rs[0].Publish.P99), sig3(rs[1].EndToEnd.Max),
		"sluice / nats-jetstream", "x2.30", "2.30x lower", "1-topic-16-partitions-1kb",
		"partitionsPerTopic", "How to read this", "2026-11-27 08:00 UTC",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("page text does not contain %q", want)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := HTML(&buf, []*bench.Result{hostile()}, Options{Title: "<script>x</script>"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script", "<img", "<iframe", "<b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("page does not contain the escaped label")
	}
}

func TestPNG(t *testing.T) {
	t.Parallel()
	cases := edgeCases()
	cases["hostile"] = []*bench.Result{hostile()}
	for name, rs := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := PNG(&buf, rs, Options{}); err != nil {
				t.Fatal(err)
			}
			size := buf.Len()
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != pngWidth || b.Dy() != pngHeight {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), pngWidth, pngHeight)
			}
			if size > 200<<10 {
				t.Errorf("PNG is %d KiB, want < 200 KiB", size>>10)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	for name, rs := range map[string][]*bench.Result{
		"none": nil,
		"nil":  {fixture("a", 1), nil},
	} {
		want := ErrNoResults
		if name == "nil" {
			want = ErrNilResult
		}
		if err := HTML(io.Discard, rs, Options{}); !errors.Is(err, want) {
			t.Errorf("%s: HTML error = %v, want %v", name, err, want)
		}
		if err := PNG(io.Discard, rs, Options{}); !errors.Is(err, want) {
			t.Errorf("%s: PNG error = %v, want %v", name, err, want)
		}
		if err := Table(io.Discard, rs); !errors.Is(err, want) {
			t.Errorf("%s: Table error = %v, want %v", name, err, want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

var errWrite = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	rs := []*bench.Result{fixture("a", 1)}
	for name, err := range map[string]error{
		"HTML":  HTML(failWriter{}, rs, Options{}),
		"PNG":   PNG(failWriter{}, rs, Options{}),
		"Table": Table(failWriter{}, rs),
	} {
		if !errors.Is(err, errWrite) {
			t.Errorf("%s error = %v, want one wrapping %v", name, err, errWrite)
		}
	}
}
