package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepairBadInput: repair refuses a missing flag, stray arguments, a
// bad -o, and a directory that is not a node's data directory, each with
// its exit code and a line naming the problem; a clean data directory is
// checked and reported as undamaged.
func TestRepairBadInput(t *testing.T) {
	notData := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data dir", []string{"repair"}, exitUsage, "--data-dir is required"},
		{"stray argument", []string{"repair", "--data-dir", notData, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad output", []string{"repair", "--data-dir", notData, "-o", "yaml"}, exitUsage, `-o "yaml"`},
		{"not a data dir", []string{"repair", "--data-dir", notData}, exitUsage, "is not a sluice data directory"},
		{"missing dir", []string{"repair", "--data-dir", filepath.Join(notData, "nope")}, exitUsage, "is not a sluice data directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"sluice"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tt.code || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and one line with %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
	if entries, err := os.ReadDir(notData); err != nil || len(entries) != 0 {
		t.Fatalf("repair wrote into a directory that is not a node's: %v, %v", entries, err)
	}
}
