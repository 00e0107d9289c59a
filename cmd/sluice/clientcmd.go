package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

// defaultServer is where client commands look for the cluster.
const defaultServer = "127.0.0.1:7070"

// clientFlags are the flags of every command that talks to a cluster.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "server", Aliases: []string{"s"}, EnvVars: []string{"SLUICE_SERVER"},
			Value: defaultServer, Usage: "cluster `addresses`: host:port, comma-separated"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second,
			Usage: "give up on the cluster after this long"},
		outputFlag(),
	}, extra...)
}

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `format`: text or json"}
}

// outputFormat returns the -o flag's value, checked.
func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "text", "json":
		return o, nil
	default:
		return "", usagef("-o %q: want text or json", o)
	}
}

// parseServers splits a --server value into addresses.
func parseServers(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !validHostPort(a) {
			return nil, usagef("--server %q: %q is not host:port (with a port 1-65535)", s, a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, usagef("--server: no address given")
	}
	return out, nil
}

// validHostPort reports whether a is host:port with a port number in
// 1..65535 (the host may be empty: this machine).
func validHostPort(a string) bool {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	return err == nil && p > 0
}

// connect returns a client of the cluster named by --server. The caller
// closes it.
func connect(ctx context.Context, c *cli.Context) (*client.Client, error) {
	servers, err := parseServers(c.String("server"))
	if err != nil {
		return nil, err
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return nil, usagef("--timeout %s: want a positive duration", timeout)
	}
	return client.New(ctx, client.Config{Servers: servers, DialTimeout: min(timeout, client.DefaultDialTimeout),
		RequestTimeout: min(timeout, client.DefaultRequestTimeout)})
}

// adminCall runs fn with a client and a context bounded by --timeout.
func adminCall(c *cli.Context, fn func(ctx context.Context, cl *client.Client) error) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	cl, err := connect(ctx, c)
	if err != nil {
		return interrupted(c.Context, err)
	}
	defer cl.Close()
	return interrupted(c.Context, fn(ctx, cl))
}

// interrupted replaces err by errInterrupted when parent (the command's
// context) ended: a signal stopped the command.
func interrupted(parent context.Context, err error) error {
	if err != nil && parent.Err() != nil {
		return errInterrupted
	}
	return err
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table writes aligned columns for people.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }
