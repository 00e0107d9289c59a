package grouptest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
)

// Helpers of the queue and topic tests.

// waitUntil checks cond every 20 ms until it holds, and fails the test
// (from the test's goroutine only) when it does not within timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		<-tick.C
	}
}

// retryPause is a consumer's pause before it retries a failed call (a
// backoff, not a wait for a condition); false when ctx ended.
func retryPause(ctx context.Context) bool {
	tm := time.NewTimer(50 * time.Millisecond)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newClient returns a client of its own, as a consumer in another
// process would have; it is closed when the test ends.
func (f *fixture) newClient() *client.Client {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Servers: f.c.Addrs})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// leaders returns the raft group id of each partition of the fixture's
// stream and the index of the running node that leads it (waiting for
// one).
func (f *fixture) leaders() (groups []string, leaders []int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := f.cl.DescribeStream(ctx, f.stream)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range info.Partitions {
		groups = append(groups, p.GroupID)
		leaders = append(leaders, f.c.PartitionLeader(f.t, p.GroupID))
	}
	return groups, leaders
}

// queueDrained reports whether every partition's leader answered for the
// queue and none has a message pending (visible, in flight or delayed);
// the text says what is left.
func (f *fixture) queueDrained(queue string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := f.cl.DescribeQueue(ctx, queue)
	if err != nil {
		return false, err.Error()
	}
	if len(info.Partitions) == 0 {
		return false, "no partitions"
	}
	for _, p := range info.Partitions {
		if p.Pending != 0 {
			return false, fmt.Sprintf("%+v", info.Partitions)
		}
	}
	return true, fmt.Sprintf("%+v", info.Partitions)
}

// waitDrained waits until queueDrained holds.
func (f *fixture) waitDrained(queue string, timeout time.Duration) {
	f.t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if ok, last = f.queueDrained(queue); ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("queue %q still has messages pending after %v: %s", queue, timeout, last)
		}
		<-time.After(20 * time.Millisecond)
	}
}

// ackFailures returns the messages of an Ack (or Nack) that failed, by
// receipt, with their errors: err wraps one *client.MessageError per
// failed message; an error that does not (which Ack does not return) fails
// them all.
func ackFailures(err error, msgs []client.QueueMessage) map[string]error {
	out := map[string]error{}
	if err == nil {
		return out
	}
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			var me *client.MessageError
			if errors.As(e, &me) {
				out[me.Message.Receipt] = me.Err
			}
		}
	}
	if len(out) == 0 {
		for _, m := range msgs {
			out[m.Receipt] = err
		}
	}
	return out
}

// codeName names an error's class for counting: its client code, or
// "other".
func codeName(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code.String()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "context"
	}
	return "other"
}
