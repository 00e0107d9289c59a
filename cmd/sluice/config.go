package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/server"
)

// envName is the environment variable of a server flag: SLUICE_DATA_DIR
// for --data-dir.
func envName(flag string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// loadConfigFile applies the TOML file of --config to the flags of c that
// neither the command line nor the environment set. Keys are flag names;
// values are strings, numbers, booleans, or arrays of them (for flags that
// repeat). An unknown key is an error, so that a typo is not ignored.
func loadConfigFile(c *cli.Context, path string) error {
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		if os.IsNotExist(err) {
			return usagef("--config %s: no such file", path)
		}
		return usagef("--config %s: %v", path, err)
	}
	known := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		known[f.Names()[0]] = f
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		f, ok := known[key]
		if !ok || key == "config" {
			return usagef("--config %s: unknown key %q (keys are the flag names of sluice server)", path, key)
		}
		if c.IsSet(key) {
			continue // the command line or the environment wins
		}
		var words []string
		switch v := values[key].(type) {
		case []any:
			if _, ok := f.(*cli.StringSliceFlag); !ok {
				return usagef("--config %s: %s takes one value, not a list", path, key)
			}
			for _, e := range v {
				w, err := configWord(e)
				if err != nil {
					return usagef("--config %s: %s: %v", path, key, err)
				}
				words = append(words, w)
			}
		default:
			w, err := configWord(v)
			if err != nil {
				return usagef("--config %s: %s: %v", path, key, err)
			}
			words = []string{w}
		}
		for _, w := range words {
			if err := c.Set(key, w); err != nil {
				return usagef("--config %s: %s = %q: %v", path, key, w, err)
			}
		}
	}
	return nil
}

// configWord renders one TOML value as a flag word.
func configWord(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}

// parseBootstrap parses the --bootstrap entries: each "ID=RAFT/CLIENT"
// (host:port addresses of the node's raft port and client API), several
// per flag separated by commas. An entry that is only an ID must be this
// node's (self), whose addresses come from its own flags.
// parseDialVia parses --dial-via: ADDR=VIA pairs of host:port addresses,
// comma-separated or repeated, each ADDR once.
func parseDialVia(entries []string) (map[string]string, error) {
	var via map[string]string
	for _, e := range entries {
		for _, item := range strings.Split(e, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			from, to, ok := strings.Cut(item, "=")
			if !ok {
				return nil, usagef("--dial-via %q: want ADDR=VIA (host:port=host:port)", item)
			}
			for _, a := range []string{from, to} {
				if !validHostPort(a) {
					return nil, usagef("--dial-via %q: %q is not host:port with a port", item, a)
				}
			}
			if via == nil {
				via = map[string]string{}
			}
			if _, dup := via[from]; dup {
				return nil, usagef("--dial-via: %s given twice", from)
			}
			via[from] = to
		}
	}
	return via, nil
}

func parseBootstrap(entries []string, self server.Peer) ([]server.Peer, error) {
	var peers []server.Peer
	seen := map[string]bool{}
	for _, e := range entries {
		for _, item := range strings.Split(e, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			p, err := parseBootstrapPeer(item, self)
			if err != nil {
				return nil, usagef("--bootstrap %q: %v", item, err)
			}
			if seen[p.ID] {
				return nil, usagef("--bootstrap: node %s listed twice", p.ID)
			}
			seen[p.ID] = true
			peers = append(peers, p)
		}
	}
	if len(peers) > 0 && !seen[self.ID] {
		return nil, usagef("--bootstrap must list this node (%s) too", self.ID)
	}
	return peers, nil
}

func parseBootstrapPeer(item string, self server.Peer) (server.Peer, error) {
	id, addrs, ok := strings.Cut(item, "=")
	if !ok {
		if item != self.ID {
			return server.Peer{}, fmt.Errorf("want ID=RAFT-HOST:PORT/CLIENT-HOST:PORT (only this node, %s, may be named alone)", self.ID)
		}
		return self, nil
	}
	raft, clientAddr, ok := strings.Cut(addrs, "/")
	switch {
	case id == "":
		return server.Peer{}, fmt.Errorf("no node id before =")
	case !ok:
		return server.Peer{}, fmt.Errorf("want ID=RAFT-HOST:PORT/CLIENT-HOST:PORT (the client address is missing)")
	}
	for _, a := range []string{raft, clientAddr} {
		if !validHostPort(a) {
			return server.Peer{}, fmt.Errorf("%q is not host:port", a)
		}
	}
	return server.Peer{ID: id, RaftAddr: raft, ClientAddr: clientAddr}, nil
}
