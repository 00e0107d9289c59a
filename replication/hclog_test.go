package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestHCLogLevels: the transport's logs keep their level, except that a
// closed connection (routine when a node or group stops) is only debug.
func TestHCLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level hclog.Level
		args  []any
		want  string
	}{
		{"error stays", hclog.Error, []any{"error", errors.New("bad msgpack")}, "level=ERROR"},
		{"warn stays", hclog.Warn, []any{"peer", "n2"}, "level=WARN"},
		{"closed connection", hclog.Error, []any{"error", fmt.Errorf("read: %w", net.ErrClosed)}, "level=DEBUG"},
		{"eof", hclog.Error, []any{"error", io.EOF}, "level=DEBUG"},
		{"info with eof", hclog.Info, []any{"error", io.EOF}, "level=DEBUG"},
		{"debug stays", hclog.Debug, nil, "level=DEBUG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "raft-net")
			l.Log(tc.level, "failed to decode incoming command", tc.args...)
			if got := buf.String(); !strings.Contains(got, tc.want) {
				t.Fatalf("logged %q, want %s", got, tc.want)
			}
		})
	}
}
