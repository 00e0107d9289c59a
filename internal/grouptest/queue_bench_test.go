package grouptest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/client"
)

// BenchmarkQueueReceiveAck measures a queue's throughput: b.N messages
// are sent to a queue over a stream of `partitions` partitions (before
// the timer starts), then 8 consumers receive (up to 100 at a time, from
// the partitions in turn) and acknowledge every message through the gRPC
// API. Reported: messages received and acknowledged per second.
func BenchmarkQueueReceiveAck(b *testing.B) {
	for _, tc := range []struct {
		parts       int
		maxReceives int32 // > 0: receive counts are replicated
	}{{1, 0}, {8, 0}, {8, 5}} {
		b.Run(fmt.Sprintf("partitions=%d/maxReceives=%d", tc.parts, tc.maxReceives), func(b *testing.B) {
			parts := tc.parts
			f := newFixture(b, parts)
			ctx := context.Background()
			if _, err := f.cl.CreateStream(ctx, client.StreamConfig{Name: "q", Partitions: parts}); err != nil {
				b.Fatal(err)
			}
			q := &sluicev1.Queue{Name: "jobs", Stream: "q", MaxReceives: tc.maxReceives}
			if tc.maxReceives > 0 {
				if _, err := f.cl.CreateStream(ctx, client.StreamConfig{Name: "dead", Partitions: 1}); err != nil {
					b.Fatal(err)
				}
				q.DeadLetterStream = "dead"
			}
			f.stream = "q"
			f.waitPreferredLeaders()
			if _, err := f.api(0).CreateQueue(ctx, &sluicev1.CreateQueueRequest{Queue: q}); err != nil {
				b.Fatal(err)
			}
			f.produce(0, b.N)
			info, err := f.cl.DescribeStream(ctx, "q")
			if err != nil {
				b.Fatal(err)
			}
			leaders := make([]sluicev1.SluiceClient, parts)
			for i, p := range info.Partitions {
				leaders[i] = f.api(f.c.PartitionLeader(b, p.GroupID))
			}
			var done atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; done.Load() < int64(b.N); i++ {
						part := int32(i % parts)
						api := leaders[part]
						resp, err := api.ReceiveMessages(ctx, &sluicev1.ReceiveMessagesRequest{Queue: "jobs", Partition: part, Max: 100})
						if err != nil {
							b.Error(err)
							return
						}
						if len(resp.GetMessages()) == 0 {
							continue
						}
						req := &sluicev1.AckMessagesRequest{Queue: "jobs", Partition: part}
						for _, m := range resp.GetMessages() {
							req.Receipts = append(req.Receipts, m.GetReceipt())
						}
						ack, err := api.AckMessages(ctx, req)
						if err != nil {
							b.Error(err)
							return
						}
						for _, r := range ack.GetResults() {
							if r.GetError() != nil {
								b.Errorf("ack: %s", r.GetErrorMessage())
								return
							}
						}
						done.Add(int64(len(req.Receipts)))
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
