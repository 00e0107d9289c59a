package natsdriver

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/localnats"
)

// BenchmarkPublish publishes 100-byte records asynchronously (10000 in
// flight) to one R3 stream of a fresh 3-node cluster, with NATS's default
// sync and with sync_interval always, connected to a random server
// ("any": the figure varies with whether it leads the stream) or to the
// stream's leader. Run it for a steady figure with
//
//	go test -run '^$' -bench Publish -benchtime 10s ./bench/driver/natsdriver
func BenchmarkPublish(b *testing.B) {
	bin, err := localnats.FindBinary()
	if err != nil {
		b.Skipf("skipping: needs a nats-server binary: %v", err)
	}
	for _, tc := range []struct {
		name       string
		syncAlways bool
		leader     bool
	}{
		{"default/any", false, false},
		{"default/leader", false, true},
		{"sync_always/any", true, false},
		{"sync_always/leader", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, err := localnats.Start(ctx, localnats.Config{Binary: bin, Dir: b.TempDir(), SyncAlways: tc.syncAlways})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = c.Stop(10 * time.Second) }()
			d, err := New(ctx, c.URLs(), Options{LeaderConnections: tc.leader})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = d.Close() }()
			if err := d.CreateTopic(ctx, bench.TopicSpec{Name: "bench", Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			p, err := d.NewProducer(ctx, "bench", bench.ProducerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Close() }()
			payload := make([]byte, 100)
			var failed atomic.Int64
			var firstErr atomic.Value
			done := func(err error) {
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err)
				}
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				p.Send(ctx, nil, payload, done)
				n++
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d of %d publishes failed, the first with: %v", f, n, firstErr.Load())
			}
			b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
		})
	}
}
