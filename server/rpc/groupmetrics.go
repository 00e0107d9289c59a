package rpc

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedb/sluice/server"
)

// groupCollector reads, at scrape time, the groups of the node's
// coordinator (only the metadata leader's is active: other nodes export
// no group gauges) and the committed offsets held by the partitions this
// node leads (so each partition's lag comes from exactly one node).
type groupCollector struct{ node *server.Node }

var (
	groupMembers    = prometheus.NewDesc("sluice_group_members", "Members of the consumer group (on the coordinator).", []string{"group"}, nil)
	groupGeneration = prometheus.NewDesc("sluice_group_generation", "Current generation of the consumer group (on the coordinator).", []string{"group"}, nil)
	groupRebalances = prometheus.NewDesc("sluice_group_rebalances_total", "Generations started by this node's coordinator since it started.", nil, nil)
	groupLag        = prometheus.NewDesc("sluice_group_lag", "High watermark minus the group's committed offset, on the partition's leader.",
		[]string{"group", "stream", "index"}, nil)
	groupCommitted = prometheus.NewDesc("sluice_group_committed_offset", "The group's committed offset, on the partition's leader.",
		[]string{"group", "stream", "index"}, nil)
)

func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{groupMembers, groupGeneration, groupRebalances, groupLag, groupCommitted} {
		ch <- d
	}
}

func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
			ch <- m
		}
	}
	coord := c.node.Groups()
	send(groupRebalances, prometheus.CounterValue, float64(coord.Stats().Rebalances))
	if infos, err := coord.List(); err == nil {
		for _, info := range infos {
			send(groupMembers, prometheus.GaugeValue, float64(len(info.State.Members)), info.State.Name)
			send(groupGeneration, prometheus.GaugeValue, float64(info.State.Generation), info.State.Name)
		}
	}
	v := c.node.Metadata()
	for _, id := range c.node.OpenPartitions() {
		r, g := c.node.Partition(id)
		p := v.Partition(id)
		if r == nil || p == nil || !g.Ready() {
			continue
		}
		hw := r.HighWatermark()
		for _, co := range r.CommittedOffsets() {
			if st, ok := v.Group(co.Group); !ok || st.Incarnation != co.Incarnation {
				continue // a deleted group's leftovers
			}
			index := strconv.Itoa(p.Index)
			send(groupLag, prometheus.GaugeValue, float64(max(0, hw-co.Offset)), co.Group, p.Stream, index)
			send(groupCommitted, prometheus.GaugeValue, float64(co.Offset), co.Group, p.Stream, index)
		}
	}
}
