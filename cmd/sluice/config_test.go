package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// serverSetupFor parses a sluice server command line (with env as the
// environment) without starting anything.
func serverSetupFor(t *testing.T, args []string, env map[string]string) (serverSetup, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := newApp(io.Discard, io.Discard)
	var got serverSetup
	findCommand(app.Commands, "server").Action = func(c *cli.Context) error {
		var err error
		got, err = readServerFlags(c)
		if err == nil {
			got.logOut.Close()
		}
		return err
	}
	err := app.RunContext(context.Background(), reorderArgs(app, append([]string{"sluice", "server"}, args...)))
	return got, err
}

func TestServerConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sluice.toml")
	err := os.WriteFile(cfgFile, []byte(`
id = "n1"
data-dir = "/from/file"
raft-addr = "127.0.0.1:9170"
client-addr = "127.0.0.1:9070"
bootstrap = ["n1", "n2=127.0.0.1:9171/127.0.0.1:9071"]
heartbeat-timeout = "250ms"
segment-bytes = "64MiB"
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// File only.
	s, err := serverSetupFor(t, []string{"--config", cfgFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.ID != "n1" || s.cfg.DataDir != "/from/file" || s.cfg.RaftAddr != "127.0.0.1:9170" ||
		s.cfg.ClientAddr != "127.0.0.1:9070" || len(s.cfg.Bootstrap) != 2 ||
		s.cfg.Bootstrap[0].RaftAddr != "127.0.0.1:9170" || s.cfg.Bootstrap[1].ClientAddr != "127.0.0.1:9071" ||
		s.cfg.Timing.HeartbeatTimeout != 250*time.Millisecond || s.cfg.SegmentBytes != 64<<20 {
		t.Fatalf("from file: %+v", s.cfg)
	}
	// The environment beats the file, and the command line beats both.
	t.Run("env", func(t *testing.T) {
		s, err := serverSetupFor(t, []string{"--config", cfgFile, "--raft-addr", "127.0.0.1:9999"},
			map[string]string{"SLUICE_DATA_DIR": "/from/env", "SLUICE_RAFT_ADDR": "127.0.0.1:8888"})
		if err != nil {
			t.Fatal(err)
		}
		if s.cfg.DataDir != "/from/env" || s.cfg.RaftAddr != "127.0.0.1:9999" || s.cfg.ID != "n1" {
			t.Fatalf("precedence: %+v", s.cfg)
		}
	})
	// SLUICE_CONFIG names the file too.
	t.Run("SLUICE_CONFIG", func(t *testing.T) {
		s, err := serverSetupFor(t, nil, map[string]string{"SLUICE_CONFIG": cfgFile})
		if err != nil || s.cfg.DataDir != "/from/file" {
			t.Fatalf("SLUICE_CONFIG: %+v, %v", s.cfg, err)
		}
	})
}

func TestServerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ file, want string }{
		"unknown key": {`data_dir = "/x"`, `unknown key "data_dir"`},
		"bad toml":    {`id = `, "--config"},
		"list":        {`id = ["a", "b"]`, "takes one value"},
		"bad value":   {"id = \"n1\"\ndata-dir = \"/x\"\nheartbeat-timeout = \"soon\"", "heartbeat-timeout"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".toml")
		if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"sluice", "server", "--config", path}, nil, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", name, code, stderr.String(), exitUsage, tc.want)
		}
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"sluice", "server", "--config", filepath.Join(dir, "missing.toml")},
		nil, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr.String())
	}
}

func TestServerClientAddrChecks(t *testing.T) {
	base := []string{"--id", "n1", "--data-dir", "/x"}
	if _, err := serverSetupFor(t, append(base, "--client-addr", "0.0.0.0:7070"), nil); err == nil ||
		!strings.Contains(err.Error(), "--advertise-client-addr") {
		t.Errorf("unspecified host: %v", err)
	}
	s, err := serverSetupFor(t, append(base, "--client-addr", "0.0.0.0:7070", "--advertise-client-addr", "h1:7070"), nil)
	if err != nil || s.cfg.ClientAddr != "h1:7070" || s.clientAddr != "0.0.0.0:7070" {
		t.Errorf("advertise: %+v, %v", s, err)
	}
}
