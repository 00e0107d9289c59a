package localnats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// binary returns the nats-server to test with, or skips the test.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		t.Skipf("skipping: needs a nats-server binary: %v", err)
	}
	return bin
}

func TestStartStop(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		name       string
		syncAlways bool
	}{
		{"default", false},
		{"sync_always", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := Start(ctx, Config{Binary: bin, Dir: dir, SyncAlways: tc.syncAlways})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Stop(10 * time.Second) }()

			if got := len(c.URLs()); got != 3 {
				t.Fatalf("%d URLs, want 3", got)
			}
			for _, u := range c.URLs() {
				if !strings.HasPrefix(u, "nats://127.0.0.1:") {
					t.Errorf("URL %s is not on loopback", u)
				}
			}
			conf, err := os.ReadFile(filepath.Join(dir, "nats-0.conf"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(conf), "sync_interval: always"); got != tc.syncAlways {
				t.Errorf("config has sync_interval always: %v, want %v:\n%s", got, tc.syncAlways, conf)
			}

			// An R3 stream can be placed at once and takes a write.
			nc, err := nats.Connect(strings.Join(c.URLs(), ","))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			// A create whose answer is lost (seen once in CI: no answer in
			// 60 s while the race-detector step loaded the machine) is sent
			// again; creating a stream that exists with the same config
			// succeeds.
			for attempt := 1; ; attempt++ {
				actx, acancel := context.WithTimeout(ctx, 15*time.Second)
				_, err := js.CreateStream(actx, jetstream.StreamConfig{
					Name: "s", Subjects: []string{"s.>"}, Replicas: 3, Storage: jetstream.FileStorage,
				})
				acancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
					t.Fatalf("create stream, attempt %d: %v", attempt, err)
				}
				t.Logf("create stream, attempt %d: %v (again)", attempt, err)
			}
			// The new stream's leader subscribes to its subjects, and that
			// interest reaches the other servers over their routes a moment
			// later; until then a publish has no responders. Retry for up to
			// 10 s (nats.go's default is 2 tries, 250 ms apart: too short on
			// a loaded machine).
			if _, err := js.Publish(ctx, "s.1", []byte("x"),
				jetstream.WithRetryAttempts(40), jetstream.WithRetryWait(250*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			nc.Close()

			procs := c.Processes()
			if len(procs) != 3 {
				t.Fatalf("%d processes, want 3", len(procs))
			}
			for _, p := range procs {
				if err := syscall.Kill(p.PID, 0); err != nil {
					t.Fatalf("process %s (%d) is not running: %v", p.Name, p.PID, err)
				}
			}
			if err := c.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			for _, p := range procs {
				if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("process %s (%d) still there after Stop: %v", p.Name, p.PID, err)
				}
			}
			if err := c.Stop(time.Second); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

// TestStopKills checks that Stop kills a node that ignores SIGTERM and
// reports it.
func TestStopKills(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Binary: bin, Dir: t.TempDir(), Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A stopped process does not handle SIGTERM until continued, so only
	// SIGKILL ends it.
	pid := c.Processes()[0].PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err = c.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop = %v, want a node killed", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still there after Stop: %v", pid, err)
	}
}

// TestStartFailure starts a "server" that exits at once and checks that
// the error names the node and quotes its log.
func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-nats-server")
	script := "#!/bin/sh\necho 'cannot start: no JetStream for you' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Config{Binary: fake, Dir: filepath.Join(dir, "data"), StartTimeout: 10 * time.Second})
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("Start = %v, want a *StartError", err)
	}
	if !strings.Contains(se.LogTail, "no JetStream for you") || !strings.HasPrefix(se.Node, "nats-") {
		t.Errorf("StartError = %+v, want the node's log tail", se)
	}
}

func TestStartTimeout(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "silent-nats-server")
	// exec replaces the shell, so the signal reaches sleep itself.
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho started\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Config{Binary: fake, Dir: filepath.Join(dir, "data"), Nodes: 2, StartTimeout: 300 * time.Millisecond})
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want a *StartError after the deadline", err)
	}
	if se.LogTail != "started" {
		t.Errorf("log tail %q, want %q", se.LogTail, "started")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Dir: "x"},
		{Binary: "x"},
		{Binary: "x", Dir: "x", Nodes: -1},
		{Binary: "x", Dir: "a\"b"},
	} {
		if _, err := Start(context.Background(), cfg); err == nil {
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}
