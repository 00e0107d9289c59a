package natsdriver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/localnats"
)

// The package's tests share one 3-node cluster, started by TestMain when
// a nats-server binary is found.
var (
	clusterURLs []string
	skipReason  string
)

func TestMain(m *testing.M) {
	code := run(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) int {
	bin, err := localnats.FindBinary()
	if err != nil {
		skipReason = err.Error()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "natsdriver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localnats.Start(ctx, localnats.Config{Binary: bin, Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = c.Stop(10 * time.Second) }()
	clusterURLs = c.URLs()
	return m.Run()
}

// urls returns the test cluster's URLs, or skips the test without one.
func urls(t testing.TB) []string {
	t.Helper()
	if clusterURLs == nil {
		t.Skipf("skipping: needs a nats-server binary: %s", skipReason)
	}
	return clusterURLs
}

// newDriver connects to the test cluster; the driver is closed when the
// test ends.
func newDriver(t *testing.T) *Driver { return newDriverOpts(t, Options{}) }

func newDriverOpts(t *testing.T, opts Options) *Driver {
	t.Helper()
	d, err := New(t.Context(), urls(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// createTopic creates a topic and deletes it (if still there) when the
// test ends, before the driver is closed.
func createTopic(t *testing.T, d *Driver, spec bench.TopicSpec) {
	t.Helper()
	if err := d.CreateTopic(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.DeleteTopic(ctx, spec.Name); err != nil && !errors.Is(err, ErrNoTopic) && !errors.Is(err, ErrClosed) {
			t.Errorf("delete topic %s: %v", spec.Name, err)
		}
	})
}

// topicName derives a topic name from the test's name.
func topicName(t *testing.T) string {
	return strings.NewReplacer("/", "_", " ", "_", ".", "_").Replace(t.Name())
}

// collector counts the payloads one subscription receives.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

func (c *collector) handle(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[string(p)]++
	c.n++
}

// wait polls until want records were received or 30 s pass, then checks
// that each of the want payloads arrived exactly once.
func (c *collector) wait(t *testing.T, name string, want []string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		if n >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: received %d of %d records after 30 s", name, n, len(want))
		}
		<-tick.C
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n != len(want) {
		t.Errorf("%s: received %d records, want %d", name, c.n, len(want))
	}
	for _, w := range want {
		if got := c.seen[w]; got != 1 {
			t.Errorf("%s: record %q received %d times, want once", name, w, got)
		}
	}
}

// send produces one record per payload (keyed by key(i) unless nil),
// flushes, and fails the test on any error.
func send(t *testing.T, p bench.Producer, payloads []string, key func(i int) []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, pl := range payloads {
		var k []byte
		if key != nil {
			k = key(i)
		}
		wg.Add(1)
		p.Send(ctx, k, []byte(pl), func(err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// payloads returns n distinct payloads with the given prefix.
func payloads(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}
