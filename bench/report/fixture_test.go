package report

import (
	"math"
	"time"

	"github.com/sluicedb/sluice/bench"
)

// fixture returns a plausible result of a 60-second run (after 5 seconds
// of warm-up) labelled label. speed scales the throughput up and the
// latencies down, so that results differ.
func fixture(label string, speed float64) *bench.Result {
	const seconds = 60
	wl := bench.Workload{
		Name: "1-topic-16-partitions-1kb", Topics: 1, PartitionsPerTopic: 16,
		MessageSize: 1024, KeyDistributor: bench.NoKey, ProducersPerTopic: 4,
		ProducerRate: 50000, ConsumerPerSubscription: 4, SubscriptionsPerTopic: 1,
		TestDurationMinutes: 1, WarmupDurationMinutes: 5.0 / 60, Acks: "all",
		Compression: "none", Mode: "stream", Linger: bench.Duration(5 * time.Millisecond),
	}
	rate := 20000 * speed
	r := &bench.Result{
		Version: bench.ResultVersion, Label: label, Driver: "sluice",
		Target: "127.0.0.1:9092", Workload: wl,
		Started: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		Seconds: seconds,
	}
	for s := -5; s < seconds; s++ {
		wave := 1 + 0.08*math.Sin(float64(s)/4)
		if s == 30 {
			wave = 0.4 // a stall, as a leader election would cause
		}
		acked := int64(rate * wave)
		w := bench.Window{
			Second: s, Acked: acked, AckedBytes: acked * 1024,
			Received: acked - 100, ReceivedBytes: (acked - 100) * 1024,
			PublishP99:  4 / speed * (2 - wave),
			EndToEndP99: 6 / speed * (2 - wave),
		}
		r.Windows = append(r.Windows, w)
		if s >= 0 {
			r.Acked += w.Acked
			r.Received += w.Received
		}
	}
	r.Sent, r.SentBytes, r.ReceivedBytes = r.Acked, r.Acked*1024, r.Received*1024
	r.PublishRate = float64(r.Acked) / seconds
	r.PublishMBps = r.PublishRate * 1024 / 1e6
	r.ConsumeRate = float64(r.Received) / seconds
	r.ConsumeMBps = r.ConsumeRate * 1024 / 1e6
	r.Publish = latency(r.Acked, 1.2/speed)
	r.EndToEnd = latency(r.Received, 1.9/speed)
	r.Processes = []bench.ProcessStats{
		{Name: "node1", PID: 101, CPUSeconds: 50, CPUPercent: 83.3, MaxRSS: 180 << 20},
		{Name: "node2", PID: 102, CPUSeconds: 30, CPUPercent: 50, MaxRSS: 150 << 20},
	}
	return r
}

// latency returns a latency summary whose median is p50 ms, with the
// usual long tail, and its curve at the percentiles an HdrHistogram
// percentile distribution prints.
func latency(n int64, p50 float64) bench.Latency {
	at := func(p float64) float64 {
		x := 1 / (1 - p/100)
		return p50 * math.Pow(x/2, 0.45)
	}
	l := bench.Latency{
		Count: n, Mean: p50 * 1.3, P50: at(50), P75: at(75), P95: at(95),
		P99: at(99), P999: at(99.9), P9999: at(99.99), Max: at(99.999) * 1.5,
	}
	for p := 0.0; p < 99.999; p += (100 - p) / 4 {
		l.Curve = append(l.Curve, bench.Percentile{Percentile: p, Ms: at(p)})
	}
	l.Curve = append(l.Curve, bench.Percentile{Percentile: 100, Ms: l.Max})
	return l
}
