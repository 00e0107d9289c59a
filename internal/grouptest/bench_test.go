package grouptest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/partition"
)

// BenchmarkRebalanceAfterLeave measures the time from a member's leave
// (Close returns) to a full, stable assignment again: three members of a
// group on a 12-partition stream, one leaves, the other two must own all
// 12 partitions with the coordinator's targets matching what they own.
// Reported: the median and the worst over b.N rebalances (ms).
func BenchmarkRebalanceAfterLeave(b *testing.B) {
	for _, strategy := range []string{"cooperative-sticky", "range"} {
		b.Run(strategy, func(b *testing.B) {
			f := newFixture(b, 12)
			var samples []time.Duration
			for i := 0; i < b.N; i++ {
				tr := newTracker()
				var ms []*member
				for _, name := range []string{"a", "b", "c"} {
					ms = append(ms, f.start(name, tr, client.GroupConfig{Strategy: strategy}))
				}
				f.waitCover(ms, 30*time.Second)
				start := time.Now()
				ms[0].stop()
				f.waitCover(ms[1:], 30*time.Second)
				samples = append(samples, time.Since(start))
				for _, m := range ms[1:] {
					m.stop()
				}
			}
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "max-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkGroupCommits measures offset commits sustained by one group:
// three members own 4 of 12 partitions each and commit in a loop, each
// request carrying one partition's offset (the worst case: every commit a
// round trip to the coordinator and a raft write on the partition) or all
// of the member's partitions. Reported: partition offsets committed per
// second, and commit requests per second.
func BenchmarkGroupCommits(b *testing.B) {
	for _, perRequest := range []int{1, 4} {
		b.Run(map[int]string{1: "one-partition-per-request", 4: "all-owned-per-request"}[perRequest], func(b *testing.B) {
			f := newFixture(b, 12)
			f.produce(0, 1200)
			tr := newTracker()
			var ms []*member
			for _, name := range []string{"a", "b", "c"} {
				ms = append(ms, f.start(name, tr, client.GroupConfig{}))
			}
			f.waitCover(ms, 30*time.Second)
			hw := f.highWatermarks()
			// Several committers per member (the client runs one commit at
			// a time per member, so concurrency is per member here).
			var next atomic.Int64
			var requests atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, m := range ms {
				parts := m.g.Assignment()
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for i := 0; ; i++ {
						offs := map[sp]int64{}
						for j := 0; j < perRequest; j++ {
							p := parts[(i*perRequest+j)%len(parts)]
							offs[p] = int64(i) % (hw[p] + 1)
						}
						if next.Add(int64(len(offs))) > int64(b.N) {
							return
						}
						if err := m.g.CommitOffsets(ctx, offs); err != nil {
							b.Error(err)
							return
						}
						requests.Add(1)
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "offsets/s")
			b.ReportMetric(float64(requests.Load())/el, "requests/s")
		})
	}
}

// BenchmarkGroupCommitsConcurrent measures the server's capacity for one
// group's commits: one member owning all 12 partitions, benchCommitters
// commit requests in flight at a time through the gRPC API, sent to the
// coordinator's node, each carrying one partition's offset (spread over
// the partitions) or all 12. Reported: offsets committed per second and
// requests per second.
func BenchmarkGroupCommitsConcurrent(b *testing.B) {
	for _, perRequest := range []int{1, 12} {
		b.Run(fmt.Sprintf("partitions-per-request=%d", perRequest), func(b *testing.B) {
			f := newFixture(b, 12)
			f.produce(0, 1200)
			tr := newTracker()
			m := f.start("a", tr, client.GroupConfig{})
			f.waitCover([]*member{m}, 30*time.Second)
			// One connection per 16 committers, as members in separate
			// processes would have.
			coord := f.c.MetadataLeader(b)
			var apis []sluicev1.SluiceClient
			for range (benchCommitters + 15) / 16 {
				apis = append(apis, f.api(coord))
			}
			id, gen := m.g.MemberID(), m.g.Generation()
			var next, requests atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range benchCommitters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(int64(perRequest))
						if i > int64(b.N) {
							return
						}
						req := &sluicev1.CommitOffsetsRequest{Group: "g", MemberId: id, Generation: gen}
						for j := range perRequest {
							req.Offsets = append(req.Offsets, &sluicev1.OffsetCommit{Stream: f.stream,
								Partition: int32((int(i) + w + j) % 12), Offset: i % 50})
						}
						resp, err := apis[w%len(apis)].CommitOffsets(context.Background(), req)
						for _, r := range resp.GetResults() {
							if err == nil && r.GetError() != nil {
								err = fmt.Errorf("%s", r.GetErrorMessage())
							}
						}
						if err != nil {
							b.Error(err)
							return
						}
						requests.Add(1)
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "offsets/s")
			b.ReportMetric(float64(requests.Load())/el, "requests/s")
		})
	}
}

// benchCommitters is the commit requests in flight in
// BenchmarkGroupCommitsConcurrent.
var benchCommitters = 256

// BenchmarkPartitionCommitsDirect measures the partitions' own capacity
// for offset commits, without the API: 256 goroutines call
// partition.Replica.CommitOffset on the leaders of the 12 partitions
// directly (raft, the Pebble log with fsync, apply). Reported: offsets
// committed per second.
func BenchmarkPartitionCommitsDirect(b *testing.B) {
	f := newFixture(b, 12)
	f.produce(0, 1200)
	info, err := f.cl.DescribeStream(context.Background(), f.stream)
	if err != nil {
		b.Fatal(err)
	}
	var reps []*partition.Replica
	for _, p := range info.Partitions {
		r, _ := f.c.Node(f.c.PartitionLeader(b, p.GroupID)).Partition(p.GroupID)
		reps = append(reps, r)
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range benchCommitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				r := reps[(int(i)+w)%len(reps)]
				if _, err := r.CommitOffset(context.Background(), partition.OffsetCommit{Group: "g", Incarnation: 1, Generation: 1, Offset: i % 50}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "offsets/s")
}
