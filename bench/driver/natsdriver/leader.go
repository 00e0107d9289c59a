package natsdriver

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
)

// serverURLs maps each server the driver's connection knows of (given or
// discovered) to its URL, by connecting to each once and asking its name.
// It is computed once per driver, by the first producer that needs it.
func (d *Driver) serverURLs(ctx context.Context) (map[string]string, error) {
	d.leaders.Lock()
	defer d.leaders.Unlock()
	if d.leaders.urls != nil {
		return d.leaders.urls, nil
	}
	urls := make(map[string]string)
	for _, u := range d.nc.Servers() {
		nc, err := d.connect(ctx, "probe", u, nats.NoReconnect(), nats.IgnoreDiscoveredServers())
		if err != nil {
			return nil, err
		}
		urls[nc.ConnectedServerName()] = u
		nc.Close()
	}
	d.leaders.urls = urls
	return urls, nil
}

// leaderRoutes returns, for a producer of topic's n partitions, the URL
// lists to connect to (each led by one partition leader's URL, then the
// others, for failover) and which of them each partition publishes
// through. Partitions whose leader is unknown (a standalone server has no
// cluster info) share a connection to the first server known.
func (d *Driver) leaderRoutes(ctx context.Context, topic string, n int) (urls []string, route []int, err error) {
	byName, err := d.serverURLs(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := d.nc.Servers()
	index := map[string]int{}
	route = make([]int, n)
	for i := range n {
		s, err := d.js.Stream(ctx, streamName(topic, i))
		if err != nil {
			return nil, nil, fmt.Errorf("natsdriver: stream %s: %w", streamName(topic, i), err)
		}
		leaderURL := ""
		if info := s.CachedInfo(); info.Cluster != nil {
			leaderURL = byName[info.Cluster.Leader]
		}
		j, ok := index[leaderURL]
		if !ok {
			j = len(urls)
			index[leaderURL] = j
			list := []string{}
			if leaderURL != "" {
				list = append(list, leaderURL)
			}
			for _, u := range all {
				if u != leaderURL {
					list = append(list, u)
				}
			}
			urls = append(urls, strings.Join(list, ","))
		}
		route[i] = j
	}
	return urls, route, nil
}
