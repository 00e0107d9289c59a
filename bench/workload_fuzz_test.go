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
		// Headers and subscription filters.
		"messageSize: 100\nrecordCount: 5\nheaderName: kind\nheaderValues: [a, b, c]\n",
		"messageSize: 100\nrecordCount: 5\nheaderName: kind\n",
		"messageSize: 100\nrecordCount: 5\nheaderValues: [a]\n",
		"messageSize: 100\nrecordCount: 5\nheaderName: sluice-delay-ms\nheaderValues: ['1']\n",
		"messageSize: 100\nrecordCount: 5\nmode: queue\nsubscriptionFilters: ['{\"headers.kind\": [\"a\"]}', '']\n",
		"messageSize: 100\nrecordCount: 5\nsubscriptionFilters: [{headers.n: [{numeric: ['>=', 10, '<', 1e400]}]}]\n",
		"messageSize: 100\nrecordCount: 5\nsubscriptionFilters: [{1: [a]}, {a: {b: {c: [d]}}}]\n",
		"messageSize: 100\nrecordCount: 5\nsubscriptionFilters: ['{\"key\": [', ~, [x], 7]\n",
		"messageSize: 100\nrecordCount: 5\nsubscriptionsPerTopic: 2\nsubscriptionFilters: ['{}']\n",
		"subscriptionFilters: &f [*f]\n",
		"messageSize: 100\nrecordCount: 5\nmaxBacklog: 1000\n", "messageSize: 100\nrecordCount: 5\nmaxBacklog: -3\n",
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
