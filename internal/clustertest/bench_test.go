//go:build unix

package clustertest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/internal/batchtest"
	"github.com/sluicedb/sluice/replication"
)

// benchProducers is the number of goroutines producing concurrently
// through the leader in BenchmarkReplicate.
const benchProducers = 32

// BenchmarkReplicate measures committed-and-applied produce throughput of
// one partition with three replicas on the real disk (every raft write
// fsynced) over loopback TCP, with replication.DefaultTiming, from 32
// concurrent producers sending batches of 100-byte records to the leader.
// One op is one acknowledged batch; MB/s counts batch bytes.
//
//   - partition: the replicas are partition.Replicas (Replica.Produce).
//   - discard: the same harness with DiscardStateMachine (Group.Propose of
//     a command as long as a produce's): the cost of raft alone.
//
// The bar: partition/64KiB at least 60% of discard/64KiB and at
// least 80 MB/s. Run with -benchtime 10s -count 5 and compare medians.
//
// SLUICE_BENCH_LOG_DIR=/dev/shm (say) puts the partition logs and
// snapshots there instead of beside the raft log: a diagnostic that
// separates the segment writes' share of the disk from the rest.
func BenchmarkReplicate(b *testing.B) {
	for _, mode := range []struct {
		name    string
		discard bool
	}{{"partition", false}, {"discard", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for _, size := range []struct {
				name  string
				bytes int
			}{{"64KiB", 64 << 10}, {"1KiB", 1 << 10}} {
				b.Run(size.name, func(b *testing.B) { benchReplicate(b, mode.discard, size.bytes) })
			}
		})
	}
}

func benchReplicate(b *testing.B, discard bool, target int) {
	batch := benchBatch(b, target)
	cmd := ProduceSized(batch)
	cfg := TCPConfig{Dir: b.TempDir(), Discard: discard, PebbleLogger: panicPebbleLogger{}}
	if d := os.Getenv("SLUICE_BENCH_LOG_DIR"); d != "" {
		logDir, err := os.MkdirTemp(d, "sluice-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(logDir) })
		cfg.LogDir = logDir
	}
	c := NewTCP(b, cfg)
	const id = "bench"
	c.CreateGroups(id)
	_, m, err := c.Leader(id, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	var leader atomic.Pointer[TCPMember]
	leader.Store(m)
	produce := func(ctx context.Context, m *TCPMember) error {
		if discard {
			_, err := m.Group.Propose(ctx, cmd)
			return err
		}
		_, err := m.Replica.Produce(ctx, batch)
		return err
	}

	// One deadline for the whole run (a per-op context would add its own
	// allocations to every op).
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var (
		next, retries atomic.Int64
		errOnce       sync.Once
		firstErr      error
		wg            sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		next.Store(int64(b.N)) // the others stop after their op
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	cpu0, host0, wall0 := cpuTime(b), hostBusy(), time.Now()
	b.ResetTimer()
	for range benchProducers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				for {
					err := produce(ctx, leader.Load())
					if err == nil {
						break
					}
					if !retriable(err) {
						fail(err)
						return
					}
					// Leadership moved (or the outcome is unknown): count it,
					// find the leader, and send the batch again.
					retries.Add(1)
					_, m, lerr := c.Leader(id, 10*time.Second)
					if lerr != nil {
						fail(fmt.Errorf("%w (after %w)", lerr, err))
						return
					}
					leader.Store(m)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	// The machine may be shared: report what this process and the whole
	// host used, in cores, so that a run on a busy host can be told apart.
	wall := time.Since(wall0).Seconds()
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/wall, "proc-cores")
	if host0 >= 0 {
		b.ReportMetric((hostBusy()-host0).Seconds()/wall, "host-cores")
	}
	b.ReportMetric(float64(retries.Load()), "retries")
	c.Close()
}

// benchBatch returns a batch of 100-byte records, as many as fit in target
// bytes.
func benchBatch(tb testing.TB, target int) []byte {
	build := func(n int) []byte {
		return batchtest.Make(tb, batchtest.Spec{Records: n, ValueSize: 100, Timestamp: 1, Tag: "r"})
	}
	one, two := len(build(1)), len(build(2))
	n := max(1, (target-one)/(two-one)+1)
	for n > 1 && len(build(n)) > target {
		n--
	}
	return build(n)
}

// TestIdleCPU measures the CPU that three nodes hosting 300 idle partitions
// burn: 300 raft groups, a replica of each on every node, all in this
// process over the three muxes, on the real disk. It creates them, waits
// until every group has a ready leader, and logs the process CPU time
// (user+sys) over 30 s as a share of one core. A measurement, not a check:
// it runs only with SLUICE_IDLE_CPU=1. SLUICE_IDLE_COMMIT_TIMEOUT (a
// duration) overrides DefaultTiming's CommitTimeout, for comparison.
func TestIdleCPU(t *testing.T) {
	if os.Getenv("SLUICE_IDLE_CPU") != "1" {
		t.Skip("a measurement; set SLUICE_IDLE_CPU=1 to run it")
	}
	const (
		groups = 300
		window = 30 * time.Second
	)
	timing := replication.DefaultTiming()
	if v := os.Getenv("SLUICE_IDLE_COMMIT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SLUICE_IDLE_COMMIT_TIMEOUT: %v", err)
		}
		timing.CommitTimeout = d
	}
	c := NewTCP(t, TCPConfig{Dir: t.TempDir(), Timing: timing, PebbleLogger: panicPebbleLogger{}})
	ids := make([]string, groups)
	for i := range ids {
		ids[i] = fmt.Sprintf("topic/%d", i)
	}
	start := time.Now()
	c.CreateGroups(ids...)
	created := time.Since(start)
	if err := c.WaitLeaders(ids, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d groups created in %v; every one had a ready leader after %v",
		groups, created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	terms := func() (sum uint64, leaders map[string]int) {
		leaders = map[string]int{}
		for _, n := range c.Nodes {
			for _, id := range ids {
				m := n.Member(id)
				sum += m.Group.Term()
				if m.Group.IsLeader() {
					leaders[n.ID]++
				}
			}
		}
		return sum, leaders
	}
	termsBefore, leaders := terms()
	cpuBefore, wallBefore := cpuTime(t), time.Now()
	<-time.After(window)
	cpu, wall := cpuTime(t)-cpuBefore, time.Since(wallBefore)
	termsAfter, _ := terms()
	t.Logf("idle CPU of 3 nodes x %d replicas (CommitTimeout %v): %.1f%% of one core (%v user+sys over %v); "+
		"leaders per node %v; term increments during the window %d",
		groups, timing.CommitTimeout, 100*cpu.Seconds()/wall.Seconds(), cpu.Round(time.Millisecond),
		wall.Round(time.Millisecond), leaders, termsAfter-termsBefore)
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostBusy returns the CPU time all processes of the host spent busy so
// far (Linux /proc/stat: everything but idle and iowait), or -1 where that
// is not available.
func hostBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1
		}
		if i != 3 && i != 4 && i < 8 { // not idle, iowait, or guest (counted in user)
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}
