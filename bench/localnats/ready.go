package localnats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// pollInterval is how often Start checks whether the cluster is ready.
const pollInterval = 50 * time.Millisecond

func (n *node) monitorURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.ports.http) }

// waitReady polls the nodes' monitoring endpoints until the cluster is
// ready (see ready), a node exits, or timeout or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// No keep-alives: an idle pooled connection would leave goroutines
	// behind after Start returns.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, n := range c.nodes {
			select {
			case <-n.done:
				return &StartError{Node: n.name, LogTail: logTail(n.logPath),
					Err: fmt.Errorf("exited while starting: %v", n.waitErr)}
			default:
			}
		}
		n, err := c.ready(ctx, hc)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return &StartError{Node: n.name, LogTail: logTail(n.logPath),
				Err: fmt.Errorf("JetStream not ready (%v): %w", err, ctx.Err())}
		case <-tick.C:
		}
	}
}

// metaCluster is the part of /jsz that readiness looks at.
type metaCluster struct {
	Leader   string `json:"leader"`
	Size     int    `json:"cluster_size"`
	Replicas []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Offline bool   `json:"offline"`
	} `json:"replicas"`
}

// ready reports whether the cluster is ready: every node names the same
// meta leader in /jsz and answers /healthz?js-meta-only=true with 200
// (JetStream is enabled and the node is current with the meta leader),
// and that leader sees every other node as a current, online peer, so an
// R<Nodes> stream can be placed at once. A single node runs JetStream
// standalone and is ready when /healthz answers 200. If the cluster is not
// ready, ready returns a node that is not and why.
func (c *Cluster) ready(ctx context.Context, hc *http.Client) (*node, error) {
	if len(c.nodes) == 1 {
		n := c.nodes[0]
		_, err := get(ctx, hc, n.monitorURL()+"/healthz")
		return n, err
	}
	leader := ""
	metas := make(map[string]metaCluster, len(c.nodes))
	for _, n := range c.nodes {
		// /jsz first: a failed /healthz logs a warning on the server, and
		// most early polls fail for want of a leader.
		body, err := get(ctx, hc, n.monitorURL()+"/jsz")
		if err != nil {
			return n, err
		}
		var jsz struct {
			Meta *metaCluster `json:"meta_cluster"`
		}
		if err := json.Unmarshal(body, &jsz); err != nil {
			return n, fmt.Errorf("/jsz: %w", err)
		}
		if jsz.Meta == nil || jsz.Meta.Leader == "" {
			return n, errors.New("no meta leader yet")
		}
		if leader != "" && jsz.Meta.Leader != leader {
			return n, fmt.Errorf("meta leader %s, but another node says %s", jsz.Meta.Leader, leader)
		}
		leader = jsz.Meta.Leader
		metas[n.name] = *jsz.Meta
	}
	for _, n := range c.nodes {
		if n.name != leader {
			continue
		}
		m := metas[n.name]
		current := 0
		for _, r := range m.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if current != len(c.nodes)-1 || m.Size != len(c.nodes) {
			return n, fmt.Errorf("meta leader sees %d current peers of %d (cluster size %d)",
				current, len(c.nodes)-1, m.Size)
		}
	}
	if _, ok := metas[leader]; !ok {
		return c.nodes[0], fmt.Errorf("meta leader %q is not a node of this cluster", leader)
	}
	for _, n := range c.nodes {
		if _, err := get(ctx, hc, n.monitorURL()+"/healthz?js-meta-only=true"); err != nil {
			return n, err
		}
	}
	return nil, nil
}

// get returns the body of a 200 answer to a GET of url.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// logTailBytes bounds how much of a log StartError quotes.
const logTailBytes = 4 << 10

// logTail returns the last lines of the log file at path (whole lines, at
// most logTailBytes).
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(log: %v)", err)
	}
	off := max(fi.Size()-logTailBytes, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(log: %v)", err)
	}
	s := string(buf)
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimRight(s, "\n")
}
