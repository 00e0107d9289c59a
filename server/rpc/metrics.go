package rpc

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicedb/sluice/server"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (no global state): request counters by result, latency histograms and
// byte counters of the produce and fetch paths, gRPC calls by method and
// code, and per-partition gauges read from the node at scrape time.
type metrics struct {
	reg *prometheus.Registry

	produceRequests *prometheus.CounterVec // by code
	produceLatency  prometheus.Histogram
	producedBytes   prometheus.Counter
	fetchRequests   *prometheus.CounterVec // by code
	fetchLatency    prometheus.Histogram
	fetchedBytes    prometheus.Counter
	followMessages  prometheus.Counter
	reorder         *prometheus.CounterVec // by result
	noAckLost       prometheus.Counter
	grpcRequests    *prometheus.CounterVec // by method, gRPC code
	grpcInFlight    *prometheus.GaugeVec   // by method
	groupJoins      prometheus.Counter
	offsetCommits   prometheus.Counter
	deadLettered    prometheus.Counter
}

func newMetrics(node *server.Node) (*metrics, error) {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5 ms .. ~16 s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		produceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_produce_requests_total",
			Help: "Produce requests answered by this node, by result code (OK or the error code)."}, []string{"code"}),
		produceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_produce_latency_seconds",
			Help: "Time to answer a produce request, forwarding included.", Buckets: buckets}),
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produced_bytes_total",
			Help: "Batch bytes of produce requests answered OK."}),
		fetchRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_fetch_requests_total",
			Help: "Fetch requests answered by this node, by result code (OK or the error code)."}, []string{"code"}),
		fetchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_fetch_latency_seconds",
			Help: "Time to answer a fetch request, long-poll wait included.", Buckets: buckets}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_fetched_bytes_total",
			Help: "Batch bytes sent by Fetch and Follow."}),
		followMessages: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_follow_messages_total",
			Help: "Messages sent on Follow streams."}),
		reorder: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_produce_reorder_total",
			Help: "Idempotent batches that arrived ahead of their sequence: held (waited for an earlier batch in flight " +
				"before proposing), retried (proposed again after an earlier batch landed), expired (answered " +
				"OUT_OF_ORDER_SEQUENCE after the reorder wait)."}, []string{"result"}),
		noAckLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_produce_acks_none_lost_total",
			Help: "ACKS_NONE batches accepted but not written."}),
		grpcRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_grpc_requests_total",
			Help: "gRPC calls handled, by method and gRPC status code."}, []string{"method", "grpc_code"}),
		grpcInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_grpc_requests_in_flight",
			Help: "gRPC calls being handled (streams included), by method."}, []string{"method"}),
		groupJoins: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_group_joins_total",
			Help: "Consumer group joins answered by this node's coordinator."}),
		offsetCommits: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_group_offset_commits_total",
			Help: "Partition offsets committed through this node's coordinator."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_queue_dead_lettered_total",
			Help: "Queue messages moved to their dead-letter stream by this node."}),
	}
	for _, c := range []prometheus.Collector{m.produceRequests, m.produceLatency, m.producedBytes, m.fetchRequests,
		m.fetchLatency, m.fetchedBytes, m.followMessages, m.reorder, m.noAckLost, m.grpcRequests, m.grpcInFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.groupJoins, m.offsetCommits, m.deadLettered, &partitionCollector{node: node}, &groupCollector{node: node},
		&diskCollector{node: node}} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("rpc: metrics: %w", err)
		}
	}
	return m, nil
}

// codeLabel is the result label of a request's error: OK, or the wire
// code without its prefix.
func codeLabel(err error) string {
	if err == nil {
		return "OK"
	}
	if d := detailOf(err); d != nil {
		return strings.TrimPrefix(d.GetCode().String(), "ERROR_CODE_")
	}
	return "UNSPECIFIED"
}

func (m *metrics) observeProduce(start time.Time, n int, err error) {
	m.produceRequests.WithLabelValues(codeLabel(err)).Inc()
	m.produceLatency.Observe(time.Since(start).Seconds())
	if err == nil {
		m.producedBytes.Add(float64(n))
	}
}

func (m *metrics) observeFetch(start time.Time, n int, err error) {
	m.fetchRequests.WithLabelValues(codeLabel(err)).Inc()
	m.fetchLatency.Observe(time.Since(start).Seconds())
	m.fetchedBytes.Add(float64(n))
}

func (m *metrics) observeFollow(n int, err error) {
	if err == nil {
		m.followMessages.Inc()
		m.fetchedBytes.Add(float64(n))
	}
}

// partitionCollector reads the node's open replicas at scrape time.
type partitionCollector struct{ node *server.Node }

var (
	partLabels    = []string{"partition", "stream", "index"}
	partLeader    = prometheus.NewDesc("sluice_partition_leader", "1 if this replica leads its partition's raft group, else 0 (a follower).", partLabels, nil)
	partTerm      = prometheus.NewDesc("sluice_partition_raft_term", "Current raft term (leader epoch) of the replica's group.", partLabels, nil)
	partLogBytes  = prometheus.NewDesc("sluice_partition_log_bytes", "Bytes of the replica's log on disk.", partLabels, nil)
	partHW        = prometheus.NewDesc("sluice_partition_high_watermark", "One past the last committed offset, as the replica knows it.", partLabels, nil)
	partLogStart  = prometheus.NewDesc("sluice_partition_log_start_offset", "First readable offset of the replica's log.", partLabels, nil)
	partitionDesc = []*prometheus.Desc{partLeader, partTerm, partLogBytes, partHW, partLogStart}
)

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range partitionDesc {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.node.Metadata()
	for _, id := range c.node.OpenPartitions() {
		r, g := c.node.Partition(id)
		if r == nil {
			continue
		}
		stream, index := "", ""
		if p := v.Partition(id); p != nil {
			stream, index = p.Stream, strconv.Itoa(p.Index)
		}
		leader := 0.0
		if g.IsLeader() {
			leader = 1
		}
		values := []float64{leader, float64(g.Term()), float64(r.LogBytes()), float64(r.HighWatermark()), float64(r.LogStartOffset())}
		for i, d := range partitionDesc {
			if m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, values[i], id, stream, index); err == nil {
				ch <- m
			}
		}
	}
}

// diskCollector reads the node's disk-space guard at scrape time.
type diskCollector struct{ node *server.Node }

var (
	diskFree = prometheus.NewDesc("sluice_disk_free_bytes",
		"Free bytes of the data directory's file system when last looked at (only with --min-free-space).", nil, nil)
	diskFull = prometheus.NewDesc("sluice_disk_full",
		"1 while the node refuses produce because its data directory is below --min-free-space, else 0.", nil, nil)
)

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskFree
	ch <- diskFull
}

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	if free, ok := c.node.DiskFree(); ok {
		ch <- prometheus.MustNewConstMetric(diskFree, prometheus.GaugeValue, float64(free))
	}
	full := 0.0
	if c.node.Admit() != nil {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(diskFull, prometheus.GaugeValue, full)
}
