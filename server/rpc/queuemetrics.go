package rpc

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedb/sluice/consumergroup"
)

// queueCollector reads, at scrape time, the queues of the partitions this
// node leads and has an engine for (a queue received from or acked on
// here): each partition's figures come from exactly one node.
type queueCollector struct{ svc *service }

var (
	queueLabels   = []string{"queue", "stream", "index"}
	queuePending  = prometheus.NewDesc("sluice_queue_pending", "Messages of the queue not done (visible, in flight or delayed), on the partition's leader.", queueLabels, nil)
	queueInFlight = prometheus.NewDesc("sluice_queue_in_flight", "Leased messages of the queue, on the partition's leader.", queueLabels, nil)
	queueFloor    = prometheus.NewDesc("sluice_queue_floor", "The queue's floor: every offset below it is done.", queueLabels, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queuePending, queueInFlight, queueFloor} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.svc
	v := s.node.Metadata()
	s.engines.mu.Lock()
	entries := make(map[engineKey]*engineEntry, len(s.engines.m))
	for k, e := range s.engines.m {
		entries[k] = e
	}
	s.engines.mu.Unlock()
	for k, e := range entries {
		r, g := s.node.Partition(k.partition)
		p := v.Partition(k.partition)
		if k.redrive || r == nil || p == nil || !g.Ready() || g.Term() != e.term {
			continue
		}
		labels := []string{e.cfg.Name, p.Stream, strconv.Itoa(p.Index)}
		hw := r.HighWatermark()
		r.QueueState(stateName(&e.cfg), func(a *consumergroup.AckState) {
			sendGauge(ch, queuePending, float64(hw-a.Floor()-a.DoneAbove()), labels)
			sendGauge(ch, queueFloor, float64(a.Floor()), labels)
		})
		sendGauge(ch, queueInFlight, float64(e.eng.InFlight()), labels)
	}
}

func sendGauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels []string) {
	if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...); err == nil {
		ch <- m
	}
}
