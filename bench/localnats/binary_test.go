package localnats

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinaryEnv(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "nats-server")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExe := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     string
		want    string
		wantErr bool
	}{
		{name: "executable", env: exe, want: exe},
		{name: "missing", env: filepath.Join(dir, "missing"), wantErr: true},
		{name: "not executable", env: notExe, wantErr: true},
		{name: "directory", env: dir, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvBinary, tc.env)
			got, err := FindBinary()
			if tc.wantErr {
				if !errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), "install-nats-server.sh") {
					t.Fatalf("FindBinary = %q, %v; want ErrNoBinary with an install hint", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FindBinary = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestFindBinaryDefaultPath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(EnvBinary, "")
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("PATH", t.TempDir())
	want := filepath.Join(cache, "sluice", "nats-server-"+Version, "nats-server")
	if p, err := DefaultBinaryPath(); err != nil || p != want {
		t.Fatalf("DefaultBinaryPath = %q, %v; want %q", p, err, want)
	}
	if _, err := FindBinary(); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("FindBinary with nothing installed = %v, want ErrNoBinary", err)
	}
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindBinary(); err != nil || got != want {
		t.Fatalf("FindBinary = %q, %v; want %q", got, err, want)
	}
}
