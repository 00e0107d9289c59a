package proccluster

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/client"
)

// binary is the sluice binary TestMain builds.
var binary string

func TestMain(m *testing.M) {
	os.Exit(RunTests(m, &binary, func() error { return goleak.Find() }))
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{{}, {Binary: binary}, {Binary: binary, Dir: t.TempDir(), Nodes: 10}} {
		if _, err := Start(ctx, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	// A binary that exits at once never becomes ready.
	_, err := Start(ctx, Config{Binary: "/bin/false", Dir: t.TempDir(), Nodes: 1, ReadyTimeout: 10 * time.Second})
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("Start with /bin/false = %v, want ErrNotReady", err)
	}
}

// TestKillPauseRestart: a 3-node cluster serves while a node is killed,
// and while another is paused; killed and restarted, a node is ready
// again; operations on a node that is not running are ErrNotRunning.
func TestKillPauseRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Binary: binary, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := client.New(ctx, client.Config{Servers: c.ClientAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateStream(ctx, client.StreamConfig{Name: "s", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	p, err := cl.NewProducer(client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	produce := func(what string) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		start := time.Now()
		for part := range int32(3) {
			if _, err := p.ProduceSync(pctx, client.Record{Stream: "s", Partition: part, Value: []byte(what)}); err != nil {
				t.Fatalf("produce %s: %v", what, err)
			}
		}
		t.Logf("produce to every partition, %s: %v", what, time.Since(start).Round(time.Millisecond))
	}
	produce("all up")
	if err := c.Kill(0); err != nil {
		t.Fatal(err)
	}
	if c.Running(0) {
		t.Fatal("node 0 runs after Kill")
	}
	if err := c.Kill(0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Kill of a killed node = %v", err)
	}
	if err := c.Pause(0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Pause of a killed node = %v", err)
	}
	produce("n1 killed")
	if err := c.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, 0); !errors.Is(err, ErrRunning) {
		t.Errorf("Restart of a running node = %v", err)
	}
	if err := c.Pause(1); err != nil {
		t.Fatal(err)
	}
	produce("n2 paused")
	if err := c.Resume(1); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	produce("all up again")
}
