package checker

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

func TestWriteFailure(t *testing.T) {
	b := &hb{}
	b.produce("s/x", 0, "p1-0", history.OK, 0) // a name that is no file name
	b.produce("s/x", 0, "p1-1", history.OK, 1)
	b.fetch("s/x", 0, false, 1, recs(0, "p1-0"))
	b.fetch("s/x", 0, true, 1, recs(0, "p1-0"))
	r := mustCheck(t, b.ops, Config{Seed: 99})
	if got := types(r); !slices.Equal(got, []string{"*checker.LostWrite", "*checker.NotLinearizable"}) {
		t.Fatalf("violations %v:\n%s", got, r)
	}
	dir := filepath.Join(t.TempDir(), "run-1")
	paths, err := WriteFailure(dir, -42, b.ops, r)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
		if filepath.Dir(p) != dir {
			t.Errorf("%s is not in %s", p, dir)
		}
	}
	want := []string{"history.jsonl", "report.txt", "seed", "linearizability-s_x-0.html"}
	if !slices.Equal(names, want) {
		t.Fatalf("wrote %v, want %v", names, want)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	f, err := os.Open(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := history.ReadAll(f)
	if err != nil || !reflect.DeepEqual(back, b.ops) {
		t.Fatalf("history read back: %v\n%+v", err, back)
	}
	if got := read("seed"); got != "-42\n" {
		t.Errorf("seed %q", got)
	}
	if got := read("report.txt"); got != r.String() || !strings.Contains(got, "FAILED") {
		t.Errorf("report.txt:\n%s", got)
	}
	if got := read("linearizability-s_x-0.html"); !strings.Contains(got, "<html") {
		t.Errorf("visualization: %.200s", got)
	}

	// A passing report has no visualization to write.
	good := goodHistory()
	paths, err = WriteFailure(dir, 1, good.ops, mustCheck(t, good.ops, Config{}))
	if err != nil || len(paths) != 3 {
		t.Fatalf("paths %v, %v", paths, err)
	}
	paths, err = WriteFailure(t.TempDir(), 1, good.ops, nil)
	if err != nil || len(paths) != 2 {
		t.Fatalf("without a report: paths %v, %v", paths, err)
	}
	// A file that cannot be made.
	if _, err := WriteFailure(filepath.Join(dir, "seed"), 1, good.ops, r); err == nil {
		t.Fatal("wrote under a file")
	}
}
