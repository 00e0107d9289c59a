package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/bench"
)

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := fixture("a", 1), fixture("b", 2), fixture("c", 3)
	one := writeFile(t, dir, "one.json", mustJSON(t, a))
	list := writeFile(t, dir, "list.json", mustJSON(t, []*bench.Result{b, c}))
	lines := writeFile(t, dir, "lines.json", append(append(mustJSON(t, a), '\n'), mustJSON(t, b)...))

	rs, err := Load(one, list, lines)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Label)
	}
	if strings.Join(got, ",") != "a,b,c,a,b" {
		t.Fatalf("labels = %v, want a,b,c,a,b", got)
	}
	if rs[0].PublishRate != a.PublishRate || len(rs[0].Publish.Curve) != len(a.Publish.Curve) {
		t.Fatalf("round trip lost data: %+v", rs[0].Publish)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := fixture("old", 1)
	old.Version = bench.ResultVersion + 1
	tests := []struct {
		name     string
		data     string // written to name.json; "" for a missing file
		target   error  // matched with errors.Is, if set
		contains []string
	}{
		{name: "missing", target: os.ErrNotExist, contains: []string{"missing.json"}},
		// Offsets follow encoding/json: the bytes read when the error was found.
		{name: "syntax", data: `{"version": 1, "label": }`, contains: []string{"syntax.json", "byte offset 25"}},
		{name: "truncated", data: `{"version": 1, "label": "x"`, contains: []string{"truncated.json", "byte offset 27"}},
		{name: "type", data: "\n\n" + `{"version": "one"}`, contains: []string{"type.json", "byte offset 19"}},
		{name: "version", data: string(mustJSON(t, old)), target: ErrVersion, contains: []string{"version.json", `"old"`}},
		{name: "null", data: `[null]`, target: ErrNilResult, contains: []string{"null.json"}},
		{name: "empty", data: `[]`, target: ErrNoResults, contains: []string{"empty.json"}},
		{name: "blank", data: " \n", target: ErrNoResults, contains: []string{"blank.json"}},
		{name: "object", data: `{"name": "a workload"}`, target: ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tt.name+".json")
			if tt.data != "" {
				path = writeFile(t, dir, tt.name+".json", []byte(tt.data))
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("error %q does not match %v", err, tt.target)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLoadNoPaths(t *testing.T) {
	t.Parallel()
	if _, err := Load(); !errors.Is(err, ErrNoResults) {
		t.Fatalf("Load() error = %v, want ErrNoResults", err)
	}
}
