package suite

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/chaos/proccluster"
)

// The fault figures issue 8 asks for, on real processes:
//
//	go test -run XXX -bench LeaderKill -benchtime 20x ./internal/chaos/suite/
//	go test -run XXX -bench CatchUp -benchtime 1x ./internal/chaos/suite/
//
// They are benchmarks, not tests: they measure, they do not judge.

// startBench starts a 3-node cluster and a client.
func startBench(b *testing.B, ctx context.Context) (*proccluster.Cluster, *client.Client) {
	b.Helper()
	c, err := proccluster.Start(ctx, proccluster.Config{Binary: binary, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cl.Close() })
	return c, cl
}

// nodeIndex is the index of the node with id ("n1" is 0).
func nodeIndex(b testing.TB, id string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(id, "n"))
	if err != nil || i < 1 {
		b.Fatalf("node id %q", id)
	}
	return i - 1
}

// waitLeader waits until the partition has a leader; preferred: the
// preferred one (its first replica).
func waitLeader(b testing.TB, ctx context.Context, cl *client.Client, stream string, part int, preferred bool) client.PartitionInfo {
	b.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		info, err := cl.DescribeStream(ctx, stream)
		if err == nil {
			p := info.Partitions[part]
			if p.LeaderID != "" && (!preferred || p.LeaderID == p.Replicas[0]) {
				return p
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("stream %s partition %d: no (preferred) leader: %v %+v", stream, part, err, info)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// BenchmarkLeaderKillUnavailability kills the leader of a partition with
// SIGKILL b.N times while a producer writes to it without pause, and
// reports how long the partition took writes: from the kill to the first
// acknowledged produce after it (p50, p99, max). Between kills the node
// restarts and leadership returns to it.
func BenchmarkLeaderKillUnavailability(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	c, cl := startBench(b, ctx)
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "k", Partitions: 3}); err != nil {
		b.Fatal(err)
	}
	p, err := cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	type ack struct{ sent, acked time.Time }
	var mu sync.Mutex
	var acked []ack // acknowledged produces, in order
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; pctx.Err() == nil; i++ {
			sent := time.Now()
			_, err := p.ProduceSync(pctx, client.Record{Stream: "k", Partition: 0, Value: []byte(strconv.Itoa(i))})
			if err == nil {
				mu.Lock()
				acked = append(acked, ack{sent, time.Now()})
				mu.Unlock()
			}
		}
	})
	defer func() { stop(); wg.Wait() }()
	var windows []time.Duration
	b.ResetTimer()
	for range b.N {
		leader := waitLeader(b, ctx, cl, "k", 0, true)
		victim := nodeIndex(b, leader.LeaderID)
		// The preferred node leads (by its own account), and writes flow.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		for deadline := time.Now().Add(60 * time.Second); ; {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > before && replicaMetric(c.Addrs()[victim].HTTP, "sluice_partition_leader", "k") == 1 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s does not lead partition 0, or no produce was acknowledged", leader.LeaderID)
			}
			<-time.After(10 * time.Millisecond)
		}
		killed := time.Now()
		if err := c.Kill(victim); err != nil {
			b.Fatal(err)
		}
		// The first produce sent after the kill and acknowledged.
		var back time.Time
		for deadline := time.Now().Add(2 * time.Minute); back.IsZero(); {
			mu.Lock()
			for _, a := range acked[before:] {
				if !a.sent.Before(killed) {
					back = a.acked
					break
				}
			}
			mu.Unlock()
			if back.IsZero() {
				if time.Now().After(deadline) {
					b.Fatal("no produce acknowledged within 2 minutes of the kill")
				}
				<-time.After(5 * time.Millisecond)
			}
		}
		windows = append(windows, back.Sub(killed))
		b.Logf("kill %d: leader %s, writes back after %v", len(windows), leader.LeaderID, back.Sub(killed).Round(time.Millisecond))
		if err := c.Restart(ctx, victim); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(windows)
	pct := func(q float64) time.Duration { return windows[min(len(windows)-1, int(q*float64(len(windows))))] }
	b.ReportMetric(pct(0.50).Seconds()*1000, "p50-ms")
	b.ReportMetric(pct(0.99).Seconds()*1000, "p99-ms")
	b.ReportMetric(windows[len(windows)-1].Seconds()*1000, "max-ms")
}

// BenchmarkCatchUp1GiB stops a follower of a one-partition stream, writes
// 1 GiB to it, restarts the follower and reports how long its replica took
// to reach the leader's high watermark (seconds and MB/s).
func BenchmarkCatchUp1GiB(b *testing.B) {
	const total, size = 1 << 30, 64 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	c, cl := startBench(b, ctx)
	for range b.N {
		stream := fmt.Sprintf("big%d", b.N)
		if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: stream, Partitions: 1}); err != nil {
			b.Fatal(err)
		}
		leader := waitLeader(b, ctx, cl, stream, 0, true)
		follower := nodeIndex(b, leader.Replicas[1])
		if err := c.Kill(follower); err != nil {
			b.Fatal(err)
		}
		p, err := cl.NewProducer(client.ProducerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, size)
		start := time.Now()
		for i := range total / size {
			p.Produce(ctx, client.Record{Stream: stream, Partition: 0, Value: value}, func(_ client.RecordResult, err error) {
				if err != nil {
					b.Errorf("record %d: %v", i, err)
				}
			})
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		_ = p.Close(ctx)
		b.Logf("wrote 1 GiB in %v with the follower down", time.Since(start).Round(time.Millisecond))
		info, err := cl.DescribeStream(ctx, stream)
		if err != nil {
			b.Fatal(err)
		}
		hw := info.Partitions[0].HighWatermark
		b.ResetTimer()
		restarted := time.Now()
		if err := c.Restart(ctx, follower); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Minute); ; {
			if got := replicaMetric(c.Addrs()[follower].HTTP, "sluice_partition_high_watermark", stream); got >= float64(hw) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the follower did not catch up in 30 minutes")
			}
			<-time.After(50 * time.Millisecond)
		}
		took := time.Since(restarted)
		b.StopTimer()
		b.ReportMetric(took.Seconds(), "catchup-s")
		b.ReportMetric(float64(total)/took.Seconds()/1e6, "MB/s")
	}
}

// replicaMetric scrapes a node's /metrics for a gauge of its replica of
// stream's partition 0; -1 when it cannot.
func replicaMetric(httpAddr, name, stream string) float64 {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `stream="`+stream+`"`) &&
			strings.Contains(line, `index="0"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}
