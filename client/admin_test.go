package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api/sluicev1"
)

func TestAdmin(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc, nil)
	ctx := testCtx(t)

	info, err := c.Cluster(ctx)
	if err != nil || len(info.Nodes) != 3 || info.MetadataLeaderID != "n1" || info.AnsweredBy == "" {
		t.Fatalf("Cluster: %+v, %v", info, err)
	}
	s, err := c.CreateStream(ctx, StreamConfig{Name: "orders", Partitions: 4, ReplicationFactor: 3,
		Retention: 48 * time.Hour, RetentionBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "orders" || len(s.Partitions) != 4 || s.Retention != 48*time.Hour || s.RetentionBytes != 1<<30 ||
		s.Partitions[3].LeaderAddr == "" || s.Partitions[0].HashKeyStart != [16]byte{} {
		t.Errorf("CreateStream: %+v", s)
	}
	if _, err := c.CreateStream(ctx, StreamConfig{Name: "orders", Partitions: 1}); !errors.Is(err, ErrStreamExists) {
		t.Errorf("second CreateStream: %v", err)
	}
	if _, err := c.CreateStream(ctx, StreamConfig{Name: "bad"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("CreateStream with no partitions: %v", err)
	}

	p := newTestProducer(t, c, ProducerConfig{})
	if _, err := p.ProduceSync(ctx, Record{Stream: "orders", Partition: 1, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeStream(ctx, "orders")
	if err != nil || d.Partitions[1].HighWatermark != 1 || d.Partitions[1].LogStartOffset != 0 {
		t.Errorf("DescribeStream: %+v, %v", d, err)
	}
	list, err := c.ListStreams(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "orders" {
		t.Errorf("ListStreams: %+v, %v", list, err)
	}
	a, err := c.AlterStream(ctx, "orders", SetRetention(0), SetRetentionBytes(5000))
	if err != nil || a.Retention != 0 || a.RetentionBytes != 5000 {
		t.Errorf("AlterStream: %+v, %v", a, err)
	}
	if err := c.DeleteStream(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeStream(ctx, "orders"); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("DescribeStream after delete: %v", err)
	}
	if err := c.DeleteStream(ctx, "orders"); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("second DeleteStream: %v", err)
	}
}

// TestAdminRetries checks that an admin request is retried through an
// election and moves past a node that does not answer.
func TestAdminRetries(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 3)
	c := newTestClient(t, fc, nil)
	fc.setHook(func(call fakeCall) fault {
		if call.Method == "CreateStream" && call.N < 2 {
			return fault{Before: sluicev1.ErrorCode_ERROR_CODE_NO_LEADER}
		}
		return fault{}
	})
	if _, err := c.CreateStream(testCtx(t), StreamConfig{Name: "s", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if n := fc.calls("CreateStream"); n != 3 {
		t.Errorf("%d CreateStream calls, want 3", n)
	}
	fc.nodes[0].stop()
	fc.nodes[1].stop()
	if _, err := c.DescribeStream(testCtx(t), "s"); err != nil {
		t.Errorf("DescribeStream with two nodes down: %v", err)
	}
}

// TestUnreachable checks the error of a cluster none of whose servers
// answers: ErrUnreachable, on one line, naming the addresses.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	var addrs []string
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, lis.Addr().String())
		lis.Close() // nothing listens there now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(ctx, Config{Servers: addrs, DialTimeout: time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("New: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, addrs[0]) || !strings.Contains(msg, addrs[1]) {
		t.Errorf("message %q", msg)
	}
	for _, cfg := range []Config{{}, {Servers: []string{"no-port"}}} {
		if _, err := New(ctx, cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// TestClientClosed checks that calls after Close fail with ErrClosed.
func TestClientClosed(t *testing.T) {
	t.Parallel()
	fc := newFakeCluster(t, 1)
	c := newTestClient(t, fc, nil)
	c.Close()
	c.Close()
	if _, err := c.ListStreams(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("ListStreams after Close: %v", err)
	}
}

// TestCreateOutcomeUnknown: a create whose answer is lost (OUTCOME_UNKNOWN,
// the metadata leader lost its leadership while committing) is done if the
// name then exists with the settings asked for; otherwise it is sent again,
// and a name taken with other settings is still ErrStreamExists /
// ErrQueueExists.
func TestCreateOutcomeUnknown(t *testing.T) {
	t.Parallel()
	unknown := sluicev1.ErrorCode_ERROR_CODE_OUTCOME_UNKNOWN
	stream := StreamConfig{Name: "s", Partitions: 2, Retention: time.Hour, RetentionBytes: 1 << 20}
	queue := QueueConfig{Name: "q", Stream: "s", MaxReceives: 3, Filter: `{ "key": [ {"prefix": "eu-"} ], "headers.t": ["a"] }`}
	for _, tc := range []struct {
		name     string
		existing *StreamConfig // created before, by someone else
		queue    bool          // create queue (over an existing stream s) instead of stream
		faults   map[int]fault // by call number of the create
		calls    int           // create calls wanted
		want     error         // nil: created with the settings asked for
	}{
		{name: "stream/committed-then-lost", faults: map[int]fault{0: {After: unknown}}, calls: 1},
		{name: "stream/lost-before-commit", faults: map[int]fault{0: {Before: unknown}}, calls: 2},
		{name: "stream/lost-twice-then-exists", faults: map[int]fault{0: {Before: unknown}, 1: {After: unknown}}, calls: 2},
		{name: "stream/always-lost", faults: map[int]fault{0: {Before: unknown}, 1: {Before: unknown}, 2: {Before: unknown},
			3: {Before: unknown}, 4: {Before: unknown}, 5: {Before: unknown}, 6: {Before: unknown}, 7: {Before: unknown}},
			calls: maxAdminAttempts, want: ErrOutcomeUnknown},
		{name: "stream/exists-with-other-settings", existing: &StreamConfig{Name: "s", Partitions: 3},
			faults: map[int]fault{0: {Before: unknown}}, calls: 2, want: ErrStreamExists},
		{name: "stream/exists-same-settings-no-unknown", existing: &stream, calls: 1, want: ErrStreamExists},
		{name: "queue/committed-then-lost", queue: true, faults: map[int]fault{0: {After: unknown}}, calls: 1},
		{name: "queue/lost-before-commit", queue: true, faults: map[int]fault{0: {Before: unknown}}, calls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 3)
			c := newTestClient(t, fc, nil)
			ctx := testCtx(t)
			if tc.existing != nil {
				if _, err := c.CreateStream(ctx, *tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			method := "CreateStream"
			if tc.queue {
				method = "CreateQueue"
				if _, err := c.CreateStream(ctx, stream); err != nil {
					t.Fatal(err)
				}
			}
			before := fc.calls(method)
			fc.setHook(func(call fakeCall) fault {
				if call.Method == method {
					return tc.faults[call.N-before]
				}
				return fault{}
			})
			var err error
			if tc.queue {
				var info QueueInfo
				info, err = c.CreateQueue(ctx, queue)
				if err == nil && (info.Name != "q" || info.MaxReceives != 3 || info.VisibilityTimeout != 30*time.Second ||
					!sameFilter(info.Filter, queue.Filter)) {
					t.Errorf("CreateQueue = %+v", info)
				}
			} else {
				var info StreamInfo
				info, err = c.CreateStream(ctx, stream)
				if err == nil && !sameStream(info, stream) {
					t.Errorf("CreateStream = %+v, want the settings of %+v", info, stream)
				}
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("create: %v, want %v", err, tc.want)
			}
			if n := fc.calls(method) - before; n != tc.calls {
				t.Errorf("%d %s calls, want %d", n, method, tc.calls)
			}
		})
	}
}

func TestSameFilter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"", "{}", true},
		{" ", "{ }", true},
		{`{"key":["a"]}`, `{ "key" : [ "a" ] }`, true},
		{`{"a":[1],"b":[2]}`, `{"b":[2],"a":[1]}`, true},
		{`{"key":["a"]}`, `{"key":["b"]}`, false},
		{`{"key":[1.0]}`, `{"key":[1]}`, false}, // the server keeps the number's text
		{`{"key":["a"]}`, "", false},
		{"not json", "not json", false},
	} {
		if got := sameFilter(tc.a, tc.b); got != tc.want {
			t.Errorf("sameFilter(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestBlindNodeDemoted: a node that answers metadata naming no leader (cut
// off from the others) is asked again only after the others, so the next
// read learns the leaders.
func TestBlindNodeDemoted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		leaders func(*testing.T, *Client) []string
	}{
		{"describe", func(t *testing.T, c *Client) []string {
			info, err := c.DescribeStream(testCtx(t), "s")
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range info.Partitions {
				out = append(out, p.LeaderID)
			}
			return out
		}},
		{"list", func(t *testing.T, c *Client) []string {
			infos, err := c.ListStreams(testCtx(t))
			if err != nil || len(infos) != 1 {
				t.Fatalf("ListStreams = %v, %v", infos, err)
			}
			var out []string
			for _, p := range infos[0].Partitions {
				out = append(out, p.LeaderID)
			}
			return out
		}},
		{"metadata", func(t *testing.T, c *Client) []string {
			if err := c.refresh(testCtx(t), "s"); err != nil {
				t.Fatal(err)
			}
			var out []string
			for p := range int32(3) {
				out = append(out, c.leaderAddr("s", p))
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 3)
			c := newTestClient(t, fc, nil)
			if _, err := c.CreateStream(testCtx(t), StreamConfig{Name: "s", Partitions: 3}); err != nil {
				t.Fatal(err)
			}
			first := c.candidates()[0]
			for _, n := range fc.nodes {
				n.blind.Store(n.addr == first)
			}
			if got := tc.leaders(t, c); slices.ContainsFunc(got, func(l string) bool { return l != "" }) {
				t.Fatalf("the blind node %s named leaders %q", first, got)
			}
			if got := tc.leaders(t, c); slices.Contains(got, "") {
				t.Fatalf("leaders %q after the blind node answered: it was asked again", got)
			}
		})
	}
}
