package bench

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseWorkload feeds arbitrary bytes to the workload decoder: it must
// never panic, every error must be a *WorkloadError, and a workload it
// accepts must pass Validate. The seeds are the shipped workloads and a
// few malformed documents.
func FuzzParseWorkload(f *testing.F) {
	paths, _ := filepath.Glob("workloads/*.yaml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "{}", "- a\n- b\n", "topics: [1, 2]\n", "messageSize: 100\ntestDurationMinutes: 1\n---\nx: 1\n",
		"messageSize: 9999999999999999999\n", "linger: forever\nmessageSize: 100\nrecordCount: 5\n",
		"messageSize: 100\nrecordCount: 5\nkeyDistributor: ZIPF\n", "\t: :\n", "a: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkload(data, "fuzz.yaml")
		if err != nil {
			var we *WorkloadError
			if !errors.As(err, &we) || !errors.Is(err, ErrInvalidWorkload) {
				t.Fatalf("error %v (%T) is not a *WorkloadError", err, err)
			}
			return
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("accepted a workload that Validate refuses: %v", err)
		}
	})
}
