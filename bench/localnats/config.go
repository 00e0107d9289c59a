package localnats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicedb/sluice/internal/freeport"
)

// Config describes a local cluster.
type Config struct {
	// Binary is the path of nats-server (see FindBinary).
	Binary string
	// Dir holds each node's configuration file, log and JetStream store.
	// It must exist or be creatable; Start does not remove it.
	Dir string
	// Nodes is the number of servers (0: 3).
	Nodes int
	// SyncAlways sets jetstream { sync_interval: always }: each node fsyncs
	// a stream's writes before acknowledging them. When false, nodes keep
	// NATS's default (a background sync every two minutes), which is what
	// a default JetStream deployment does.
	SyncAlways bool
	// StartTimeout bounds how long Start waits for the cluster to become
	// ready (0: 30 s).
	StartTimeout time.Duration
}

// ClusterName is the name of the NATS cluster (its routes' cluster name).
const ClusterName = "sluice-bench"

// withDefaults checks c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Binary == "" {
		return c, errors.New("localnats: Config.Binary is empty (see FindBinary)")
	}
	if c.Dir == "" {
		return c, errors.New("localnats: Config.Dir is empty")
	}
	if c.Nodes < 0 {
		return c, fmt.Errorf("localnats: Config.Nodes %d: want >= 0", c.Nodes)
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("localnats: data dir: %w", err)
	}
	// The configuration format quotes strings; keep paths simple rather
	// than escape them.
	if strings.ContainsAny(dir, "\"\\\n\r") {
		return c, fmt.Errorf("localnats: data dir %q: quotes, backslashes and newlines are not supported", dir)
	}
	c.Dir = dir
	return c, nil
}

// ports are one node's listening ports on 127.0.0.1.
type ports struct {
	client, cluster, http int
}

// pickPorts picks 3*n free ports on 127.0.0.1 with package freeport: on
// Linux below the kernel's ephemeral range and reserved while this
// process runs, so that no outgoing connection and no other user of the
// package takes one before its server binds it. Elsewhere another
// process may still take a port in between; Start retries when a node
// reports its address in use.
func pickPorts(n int) ([]ports, error) {
	ps, err := freeport.Reserve(3 * n)
	if err != nil {
		return nil, fmt.Errorf("localnats: %w", err)
	}
	out := make([]ports, n)
	for i := range out {
		out[i] = ports{client: ps[3*i], cluster: ps[3*i+1], http: ps[3*i+2]}
	}
	return out, nil
}

// nodeName is the server_name of node i, also the stem of its files.
func nodeName(i int) string { return fmt.Sprintf("nats-%d", i) }

// renderConfig returns node i's configuration file. Every listener is on
// loopback; the routes list every node (a server ignores the route to
// itself), so the cluster forms whatever order the nodes start in.
func renderConfig(cfg Config, all []ports, i int) string {
	var b strings.Builder
	p := all[i]
	fmt.Fprintf(&b, "# Written by localnats for %s; regenerated on every start.\n", ClusterName)
	fmt.Fprintf(&b, "server_name: %q\n", nodeName(i))
	fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\n", p.client)
	fmt.Fprintf(&b, "http: \"127.0.0.1:%d\"\n", p.http)
	if len(all) > 1 {
		renderCluster(&b, all, i)
	}
	b.WriteString("jetstream {\n")
	fmt.Fprintf(&b, "  store_dir: \"%s\"\n", filepath.Join(cfg.Dir, nodeName(i)))
	if cfg.SyncAlways {
		b.WriteString("  sync_interval: always\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// renderCluster writes node i's cluster block. A single node has none:
// it runs JetStream standalone, without a meta group.
func renderCluster(b *strings.Builder, all []ports, i int) {
	b.WriteString("cluster {\n")
	fmt.Fprintf(b, "  name: %q\n", ClusterName)
	fmt.Fprintf(b, "  listen: \"127.0.0.1:%d\"\n", all[i].cluster)
	b.WriteString("  routes: [\n")
	for _, q := range all {
		fmt.Fprintf(b, "    \"nats-route://127.0.0.1:%d\"\n", q.cluster)
	}
	b.WriteString("  ]\n}\n")
}

// writeConfigs writes every node's configuration file and creates its
// store directory, returning the files' paths.
func writeConfigs(cfg Config, all []ports) ([]string, error) {
	paths := make([]string, len(all))
	for i := range all {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, nodeName(i)), 0o755); err != nil {
			return nil, fmt.Errorf("localnats: %w", err)
		}
		paths[i] = filepath.Join(cfg.Dir, nodeName(i)+".conf")
		if err := os.WriteFile(paths[i], []byte(renderConfig(cfg, all, i)), 0o644); err != nil {
			return nil, fmt.Errorf("localnats: %w", err)
		}
	}
	return paths, nil
}
