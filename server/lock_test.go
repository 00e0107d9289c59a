package server

import (
	"errors"
	"testing"
	"time"
)

func TestDataDirInUse(t *testing.T) {
	c := startCluster(t, 1)
	cfg := c.cfgs[0]
	cfg.RaftListener = c.listen()
	defer cfg.RaftListener.Close()
	if n, err := Start(cfg); !errors.Is(err, ErrDataDirInUse) {
		if n != nil {
			_ = n.Close()
		}
		t.Fatalf("second Start on %s: %v, want ErrDataDirInUse", cfg.DataDir, err)
	}
	// Closing the node releases the lock: it starts again on the same
	// directory, and the failed Start above left nothing behind.
	c.restart(0)
	waitFor(t, 10*time.Second, "a metadata leader after the restart", func() bool { return c.metaLeader() != nil })
	if err := c.nodes[0].CheckReady(); err != nil && !errors.Is(err, ErrNotReady) {
		t.Fatal(err)
	}
}
