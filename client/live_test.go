package client_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// The measurements in this file run against a live cluster, such as
// `sluice dev`: set SLUICE_BENCH_SERVER to its client addresses
// (host:port[,host:port...]). Without it they skip.
//
//	SLUICE_BENCH_SERVER=127.0.0.1:7070 go test -run XXX -bench Live -benchtime 1000000x ./client
//	SLUICE_BENCH_SERVER=127.0.0.1:7070 go test -run TestLiveLatency -v ./client

const (
	liveValueBytes = 100
	livePartitions = 6
)

func liveClient(tb testing.TB) (*client.Client, string) {
	tb.Helper()
	servers := os.Getenv("SLUICE_BENCH_SERVER")
	if servers == "" {
		tb.Skip("a measurement against a live cluster; set SLUICE_BENCH_SERVER")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Servers: strings.Split(servers, ",")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := c.CreateStream(ctx, client.StreamConfig{Name: name, Partitions: livePartitions, ReplicationFactor: 3}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.DeleteStream(ctx, name)
	})
	// Measure the steady state: wait until every partition is led by its
	// preferred leader (the node balances leadership after the groups'
	// first elections, and a transfer refuses writes while it runs).
	for settled := false; !settled; {
		if ctx.Err() != nil {
			tb.Fatalf("stream %s: partitions not led by their preferred leaders after 30 s", name)
		}
		s, err := c.DescribeStream(ctx, name)
		settled = err == nil
		for _, p := range s.Partitions {
			settled = settled && p.LeaderID != "" && p.LeaderID == p.Replicas[0]
		}
		if !settled {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return c, name
}

// BenchmarkLiveProduce produces b.N keyed 100-byte records to a stream of 6
// partitions with 3 replicas, through one batching idempotent producer
// (default linger and batch size), and reports records/s and MB/s of
// record values acknowledged.
func BenchmarkLiveProduce(b *testing.B) {
	c, stream := liveClient(b)
	p, err := c.NewProducer(client.ProducerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	value := make([]byte, liveValueBytes)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	b.SetBytes(liveValueBytes)
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		wg.Add(1)
		key := fmt.Appendf(nil, "k%d", i%10000)
		p.Produce(ctx, client.NewRecord(stream, key, value), func(_ client.RecordResult, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// TestLiveLatency produces keyed 100-byte records at a fixed 10,000
// records/s for 10 s (paced by the clock, checked every millisecond) and logs
// the p50, p99 and max of the time from Produce to its acknowledgement.
// A measurement: it checks only that every record was acknowledged and
// that the rate was held.
func TestLiveLatency(t *testing.T) {
	c, stream := liveClient(t)
	p, err := c.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const (
		rate     = 10_000
		duration = 10 * time.Second
		perTick  = 10
	)
	ctx := context.Background()
	value := make([]byte, liveValueBytes)
	total := int(rate * duration.Seconds())
	lat := make([]time.Duration, total)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	tick := time.NewTicker(time.Second * perTick / rate)
	defer tick.Stop()
	start := time.Now()
	for i := 0; i < total; {
		<-tick.C
		// Catch up with the schedule: a tick may come late or be dropped.
		due := min(total, int(time.Since(start).Seconds()*rate)+perTick)
		for i < due {
			i0 := i
			sent := time.Now()
			wg.Add(1)
			p.Produce(ctx, client.NewRecord(stream, fmt.Appendf(nil, "k%d", i%10000), value), func(_ client.RecordResult, err error) {
				lat[i0] = time.Since(sent)
				if err != nil {
					mu.Lock()
					failed = cmpErr(failed, err)
					mu.Unlock()
				}
				wg.Done()
			})
			i++
		}
	}
	sendTime := time.Since(start)
	wg.Wait()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if failed != nil {
		t.Fatal(failed)
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	achieved := float64(total) / sendTime.Seconds()
	t.Logf("%d records at %.0f records/s offered (%.0f achieved): produce latency p50 %v, p99 %v, max %v",
		total, float64(rate), achieved, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if achieved < 0.9*rate {
		t.Errorf("offered only %.0f records/s of %d: the producer pushed back", achieved, rate)
	}
}
