package report

import (
	"io"
	"testing"

	"github.com/sluicedb/sluice/bench"
)

// FuzzParse feeds arbitrary bytes to the result-file decoder: it must not
// panic, and what it accepts must be non-nil results of the current
// version that the table renders without error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"label":"a","windows":[{"second":0,"acked":5}],"publishLatency":{"p99":3,"curve":[{"p":99,"ms":3}]}}`,
		`[{"version":1,"label":"a"},{"version":1,"label":"b","seconds":1e308}]`,
		`{"version":1}{"version":1,"label":"<script>"}`,
		`{"version":2}`, `null`, `[]`, `{"version":1,"windows":[{"second":-5}]`, `{"version":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := parse(data)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r == nil || r.Version != bench.ResultVersion {
				t.Fatalf("accepted %+v", r)
			}
		}
		if err := Table(io.Discard, rs); err != nil {
			t.Fatalf("table of accepted results: %v", err)
		}
	})
}
