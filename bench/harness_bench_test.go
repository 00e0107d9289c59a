package bench

import (
	"context"
	"sync"
	"testing"
)

// loopDriver is a Driver that acknowledges each record at once and hands
// it to the topic's consumers on the sending goroutine: what is left to
// measure is the harness itself.
type loopDriver struct {
	mu       sync.Mutex
	handlers map[string][]Handler
}

func (d *loopDriver) Name() string                                       { return "loop" }
func (d *loopDriver) CreateTopic(ctx context.Context, t TopicSpec) error { return nil }
func (d *loopDriver) DeleteTopic(ctx context.Context, topic string) error {
	return nil
}
func (d *loopDriver) Close() error { return nil }

func (d *loopDriver) NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error) {
	return loopProducer{d: d, topic: topic}, nil
}

func (d *loopDriver) NewConsumer(ctx context.Context, c ConsumerSpec, h Handler) (Consumer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handlers == nil {
		d.handlers = make(map[string][]Handler)
	}
	d.handlers[c.Topic] = append(d.handlers[c.Topic], h)
	return loopConsumer{}, nil
}

type loopProducer struct {
	d     *loopDriver
	topic string
}

func (p loopProducer) Send(ctx context.Context, key, payload []byte, done func(error)) {
	done(nil)
	p.d.mu.Lock()
	hs := p.d.handlers[p.topic]
	p.d.mu.Unlock()
	for _, h := range hs {
		h(payload)
	}
}

func (loopProducer) Flush(ctx context.Context) error { return nil }
func (loopProducer) Close() error                    { return nil }

type loopConsumer struct{}

func (loopConsumer) Close() error { return nil }

// BenchmarkRunOverhead measures the harness's own cost per record, from
// pacing to the end-to-end latency being recorded, with a driver that
// costs nothing: unpaced, two producers, one subscription.
func BenchmarkRunOverhead(b *testing.B) {
	w := &Workload{MessageSize: 100, ProducersPerTopic: 2, RecordCount: int64(max(b.N, 1))}
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	res, err := Run(b.Context(), RunConfig{Workload: w, Driver: &loopDriver{}})
	if err != nil {
		b.Fatal(err)
	}
	if res.Received != res.Acked {
		b.Fatalf("received %d of %d", res.Received, res.Acked)
	}
	b.ReportMetric(float64(res.Acked)/res.Seconds, "records/s")
}
