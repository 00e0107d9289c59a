package bench

import (
	"runtime"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: microseconds from 1 µs to 1 hour, 3 significant
// digits (about 190 KB per histogram). Longer latencies are recorded as
// 1 hour, negative ones (clock steps) as 0.
const (
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// curvePercentiles are the points of Latency.Curve.
var curvePercentiles = []float64{0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

func newHist() *hdr.Histogram { return hdr.New(1, histHighest, histDigits) }

// micros converts a latency to histogram units, clamped to the range.
func micros(d time.Duration) int64 {
	v := int64(d / time.Microsecond)
	return max(0, min(v, histHighest))
}

// windowCounts are the events of one window.
type windowCounts struct {
	acked, ackedBytes, received, receivedBytes, failed int64
}

// shard is one stripe of the recorder. Each producer and consumer
// records into one shard, chosen by its index, so a lock is shared by a
// few clients rather than all.
type shard struct {
	mu sync.Mutex
	// The current window's histograms, for records of the measured
	// phase (M) and of the warm-up or backlog phases (O). Protected by mu.
	pubM, pubO, e2eM, e2eO *hdr.Histogram
	// Protected by mu.
	counts windowCounts
	_      [64]byte // keeps neighbouring shards' locks off one cache line
}

// recorder collects latencies and counts from many goroutines. The
// goroutine that runs the windows calls harvest once per window, which
// moves every shard's histograms into the window's and the measured
// totals; only that goroutine touches the totals.
type recorder struct {
	shards []*shard

	// Owned by the harvesting goroutine.
	pubTotal, e2eTotal *hdr.Histogram // records of the measured phase
	winPub, winE2E     *hdr.Histogram // scratch for one window
}

// newRecorder returns a recorder with a shard count suited to
// GOMAXPROCS (a power of two between 2 and 16).
func newRecorder() *recorder {
	n := 2
	for n < 2*runtime.GOMAXPROCS(0) && n < 16 {
		n *= 2
	}
	r := &recorder{
		shards:   make([]*shard, n),
		pubTotal: newHist(), e2eTotal: newHist(),
		winPub: newHist(), winE2E: newHist(),
	}
	for i := range r.shards {
		r.shards[i] = &shard{pubM: newHist(), pubO: newHist(), e2eM: newHist(), e2eO: newHist()}
	}
	return r
}

// shard returns the shard of client i.
func (r *recorder) shard(i int) *shard { return r.shards[i&(len(r.shards)-1)] }

// ack records an acknowledged record of n bytes. lat is ack time minus
// intended send time; with noLatency (acks none) only the counts are
// kept. measured: the record was sent in the measured phase.
func (s *shard) ack(lat time.Duration, n int, measured, noLatency bool) {
	v := micros(lat)
	s.mu.Lock()
	s.counts.acked++
	s.counts.ackedBytes += int64(n)
	if !noLatency {
		if measured {
			_ = s.pubM.RecordValue(v) // v is in range
		} else {
			_ = s.pubO.RecordValue(v)
		}
	}
	s.mu.Unlock()
}

// fail records a failed send.
func (s *shard) fail() {
	s.mu.Lock()
	s.counts.failed++
	s.mu.Unlock()
}

// receive records a received record of n bytes; lat is receive time
// minus intended send time.
func (s *shard) receive(lat time.Duration, n int, measured bool) {
	v := micros(lat)
	s.mu.Lock()
	s.counts.received++
	s.counts.receivedBytes += int64(n)
	if measured {
		_ = s.e2eM.RecordValue(v)
	} else {
		_ = s.e2eO.RecordValue(v)
	}
	s.mu.Unlock()
}

// harvest ends the current window: it returns the window's counts and
// p99s (over records of every phase) and adds the measured records'
// latencies to the totals. The Window's Second is left to the caller.
func (r *recorder) harvest() Window {
	var c windowCounts
	r.winPub.Reset()
	r.winE2E.Reset()
	for _, s := range r.shards {
		s.mu.Lock()
		c.acked += s.counts.acked
		c.ackedBytes += s.counts.ackedBytes
		c.received += s.counts.received
		c.receivedBytes += s.counts.receivedBytes
		c.failed += s.counts.failed
		s.counts = windowCounts{}
		// Merging under the lock costs some tens of microseconds once a
		// window; swapping in spare histograms would double the memory.
		r.pubTotal.Merge(s.pubM)
		r.e2eTotal.Merge(s.e2eM)
		for _, h := range []*hdr.Histogram{s.pubM, s.pubO} {
			r.winPub.Merge(h)
			h.Reset()
		}
		for _, h := range []*hdr.Histogram{s.e2eM, s.e2eO} {
			r.winE2E.Merge(h)
			h.Reset()
		}
		s.mu.Unlock()
	}
	return Window{
		Acked: c.acked, AckedBytes: c.ackedBytes,
		Received: c.received, ReceivedBytes: c.receivedBytes,
		Failed:      c.failed,
		PublishP99:  ms(r.winPub.ValueAtPercentile(99)),
		EndToEndP99: ms(r.winE2E.ValueAtPercentile(99)),
	}
}

// addUnreceived records n records that were never received as having
// taken at least lat end to end.
func (r *recorder) addUnreceived(lat time.Duration, n int64) {
	if n > 0 {
		_ = r.e2eTotal.RecordValues(micros(lat), n)
	}
}

// ms converts histogram units (µs) to milliseconds.
func ms(us int64) float64 { return float64(us) / 1000 }

// summarize returns the summary of h, in milliseconds.
func summarize(h *hdr.Histogram) Latency {
	n := h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	v := h.ValueAtPercentilesSlice([]float64{50, 75, 95, 99, 99.9, 99.99})
	l := Latency{
		Count: n,
		Mean:  h.Mean() / 1000,
		P50:   ms(v[0]), P75: ms(v[1]), P95: ms(v[2]), P99: ms(v[3]), P999: ms(v[4]), P9999: ms(v[5]),
		Max: ms(h.Max()),
	}
	for i, x := range h.ValueAtPercentilesSlice(curvePercentiles) {
		l.Curve = append(l.Curve, Percentile{Percentile: curvePercentiles[i], Ms: ms(x)})
	}
	return l
}
