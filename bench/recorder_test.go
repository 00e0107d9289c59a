package bench

import (
	"sync"
	"testing"
	"time"
)

func TestMicrosClamps(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want int64
	}{
		{-time.Second, 0},
		{999 * time.Nanosecond, 0},
		{1500 * time.Microsecond, 1500},
		{2 * time.Hour, histHighest},
	} {
		if got := micros(tc.in); got != tc.want {
			t.Errorf("micros(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestRecorderHarvest(t *testing.T) {
	r := newRecorder()
	s := r.shard(0)
	for i := 1; i <= 1000; i++ {
		s.ack(time.Duration(i)*time.Millisecond, 10, true, false)
		s.receive(time.Duration(i)*time.Millisecond, 10, true)
	}
	s.ack(time.Hour, 10, false, false) // warm-up: in the window, not the totals
	s.ack(time.Hour, 10, true, true)   // acks none: counted, no latency
	r.shard(1).fail()
	w := r.harvest()
	if w.Acked != 1002 || w.AckedBytes != 10020 || w.Received != 1000 || w.ReceivedBytes != 10000 || w.Failed != 1 {
		t.Fatalf("window counts %+v", w)
	}
	if w.PublishP99 < 990 || w.PublishP99 > 1000 || w.EndToEndP99 < 989 || w.EndToEndP99 > 991 {
		t.Fatalf("window p99s %v, %v", w.PublishP99, w.EndToEndP99)
	}
	pub := summarize(r.pubTotal)
	if pub.Count != 1000 || pub.Max > 1001 || pub.P50 < 499 || pub.P50 > 501 || pub.P999 < 998 {
		t.Fatalf("publish summary %+v", pub)
	}
	if len(pub.Curve) != len(curvePercentiles) || pub.Curve[len(pub.Curve)-1].Ms != pub.Max || pub.Curve[0].Ms > 1.001 {
		t.Fatalf("curve %+v", pub.Curve)
	}
	for i := 1; i < len(pub.Curve); i++ {
		if pub.Curve[i].Ms < pub.Curve[i-1].Ms {
			t.Fatalf("curve not monotonic: %+v", pub.Curve)
		}
	}
	if w := r.harvest(); w.Acked != 0 || w.PublishP99 != 0 {
		t.Fatalf("a second harvest found %+v", w)
	}
	r.addUnreceived(2*time.Second, 50)
	if e := summarize(r.e2eTotal); e.Count != 1050 || e.Max < 2000 || e.P99 < 1999 {
		t.Fatalf("end-to-end with unreceived %+v", e)
	}
	if e := summarize(newHist()); e.Count != 0 || e.Max != 0 || e.Curve != nil {
		t.Fatal("an empty histogram should summarise to zero")
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := newRecorder()
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := r.shard(g)
			for i := range each {
				s.ack(time.Duration(i)*time.Microsecond, 1, true, false)
				s.receive(time.Duration(i)*time.Microsecond, 1, true)
			}
		})
	}
	var acked int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		acked += r.harvest().Acked
	}
	if acked != goroutines*each || r.pubTotal.TotalCount() != goroutines*each || r.e2eTotal.TotalCount() != goroutines*each {
		t.Fatalf("acked %d, publish %d, end-to-end %d; want %d each", acked, r.pubTotal.TotalCount(), r.e2eTotal.TotalCount(), goroutines*each)
	}
}

// BenchmarkRecorder measures recording one acknowledgement and one
// receipt from many goroutines at once, as producers and consumers do.
// It should stay well under a microsecond, so that the harness is not
// what limits throughput.
func BenchmarkRecorder(b *testing.B) {
	r := newRecorder()
	var next sync.Mutex
	n := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		s := r.shard(n)
		n++
		next.Unlock()
		i := 0
		for pb.Next() {
			i++
			lat := time.Duration(i%5000) * time.Microsecond
			s.ack(lat, 100, true, false)
			s.receive(lat, 100, true)
		}
	})
}
