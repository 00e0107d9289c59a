package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/replication"
)

// withQueueStreams: n1..n3 active, streams orders (id 1) and dead (id 2).
func withQueueStreams(h *harness) {
	h.nodes(3)
	h.must(stream("orders", 2, 3))
	h.must(stream("dead", 1, 1))
}

// withQueue: withQueueStreams and queue q over orders, dead-lettering
// into dead after 5 receives (incarnation 1, created at 6000).
func withQueue(h *harness) {
	withQueueStreams(h)
	q := queue("q", "orders")
	q.DeadLetterStream, q.MaxReceives = "dead", 5
	h.must(q)
}

// storedQueue returns queue name of h's View, failing the test if there
// is none.
func storedQueue(t *testing.T, h *harness, name string) *Queue {
	t.Helper()
	q := h.f.View().Queue(name)
	if q == nil {
		t.Fatalf("queue %q not in the view", name)
	}
	return q
}

func TestApplyQueueCommands(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	with := func(fn func(c *CreateQueue)) CreateQueue {
		c := queue("q2", "orders")
		fn(&c)
		return c
	}
	// unchanged checks that a command changed nothing (no new version).
	unchanged := func(t *testing.T, h *harness, resp any) {
		if h.f.View().Version() == h.index {
			t.Fatalf("version %d: the command changed the state", h.index)
		}
		if resp.(*Queue) != storedQueue(t, h, "q") {
			t.Fatal("response is not the stored queue")
		}
	}

	tests := []struct {
		name  string
		setup func(h *harness)
		cmd   any
		err   error  // nil: success
		field string // for ErrInvalidArgument: the *ValidationError field
		check func(t *testing.T, h *harness, resp any)
	}{
		// CreateQueue.
		{name: "create", setup: withQueueStreams, cmd: queue("q", "orders"), check: func(t *testing.T, h *harness, resp any) {
			q := resp.(*Queue)
			want := Queue{Name: "q", Stream: "orders", VisibilityTimeoutMs: DefaultVisibilityTimeoutMs, Incarnation: 1, CreatedAt: 6000}
			if *q != want {
				t.Fatalf("queue %+v, want %+v", *q, want)
			}
			v := h.f.View()
			if v.Queue("q") != q || !reflect.DeepEqual(v.Queues(), []*Queue{q}) || v.nextQueueIncarnation != 2 || v.Version() != h.index {
				t.Fatalf("view: queues %v, next incarnation %d", v.Queues(), v.nextQueueIncarnation)
			}
		}},
		{name: "create with every setting", setup: withQueueStreams, cmd: CreateQueue{Name: "sub", Stream: "orders",
			VisibilityTimeoutMs: 1, MaxReceives: 7, DeadLetterStream: "dead", DelayMs: 9, FIFO: true,
			Filter: `{"key":["k"]}`, Subscription: true, Timestamp: 3},
			check: func(t *testing.T, h *harness, resp any) {
				want := Queue{Name: "sub", Stream: "orders", VisibilityTimeoutMs: 1, MaxReceives: 7, DeadLetterStream: "dead",
					DelayMs: 9, FIFO: true, Filter: `{"key":["k"]}`, Subscription: true, Incarnation: 1, CreatedAt: 3}
				if q := resp.(*Queue); *q != want {
					t.Fatalf("queue %+v, want %+v", *q, want)
				}
			}},
		{name: "create another", setup: withQueue, cmd: queue("a", "dead"), check: func(t *testing.T, h *harness, resp any) {
			if q := resp.(*Queue); q.Incarnation != 2 {
				t.Fatalf("queue %+v", q)
			}
			if qs := h.f.View().Queues(); len(qs) != 2 || qs[0].Name != "a" || qs[1].Name != "q" {
				t.Fatalf("Queues() = %v", qs)
			}
		}},
		{name: "create a queue named as a stream", setup: withQueueStreams, cmd: queue("orders", "orders")},
		{name: "create two queues over one stream", setup: withQueue, cmd: with(func(c *CreateQueue) { c.DeadLetterStream = "dead" })},
		{name: "create over a dead-letter stream", setup: withQueue, cmd: queue("q2", "dead")},
		{name: "create exists", setup: withQueue, cmd: queue("q", "dead"), err: ErrQueueExists},
		{name: "create unknown stream", setup: withQueueStreams, cmd: queue("q", "nope"), err: ErrStreamNotFound},
		{name: "create unknown dead-letter stream", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.DeadLetterStream = "nope" }), err: ErrStreamNotFound},
		{name: "create dead-letter stream is the stream", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.DeadLetterStream = "orders" }), err: ErrInvalidArgument, field: "dead-letter stream"},
		{name: "create max receives without a dead-letter stream", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.MaxReceives = 3 }), err: ErrInvalidArgument, field: "max receives"},
		{name: "create bad dead-letter stream name", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.DeadLetterStream = "a/b" }), err: ErrInvalidArgument, field: "dead-letter stream"},
		{name: "create empty name", setup: withQueueStreams, cmd: queue("", "orders"), err: ErrInvalidArgument, field: "name"},
		{name: "create name ..", setup: withQueueStreams, cmd: queue("..", "orders"), err: ErrInvalidArgument, field: "name"},
		{name: "create name with space", setup: withQueueStreams, cmd: queue("a b", "orders"), err: ErrInvalidArgument, field: "name"},
		{name: "create name of 249", setup: withQueueStreams, cmd: queue(long(MaxStreamNameLen), "orders")},
		{name: "create name of 250", setup: withQueueStreams, cmd: queue(long(MaxStreamNameLen+1), "orders"), err: ErrInvalidArgument, field: "name"},
		{name: "create empty stream", setup: withQueueStreams, cmd: queue("q", ""), err: ErrInvalidArgument, field: "stream"},
		{name: "create visibility 0", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.VisibilityTimeoutMs = 0 }),
			err: ErrInvalidArgument, field: "visibility timeout ms"},
		{name: "create visibility -1", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.VisibilityTimeoutMs = -1 }),
			err: ErrInvalidArgument, field: "visibility timeout ms"},
		{name: "create visibility 1", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.VisibilityTimeoutMs = 1 })},
		{name: "create visibility 12h", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.VisibilityTimeoutMs = MaxVisibilityTimeoutMs })},
		{name: "create visibility above 12h", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.VisibilityTimeoutMs = MaxVisibilityTimeoutMs + 1 }),
			err: ErrInvalidArgument, field: "visibility timeout ms"},
		{name: "create max receives -1", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.MaxReceives = -1 }),
			err: ErrInvalidArgument, field: "max receives"},
		{name: "create max receives 1", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.MaxReceives, c.DeadLetterStream = 1, "dead" })},
		{name: "create max receives 1000", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.MaxReceives, c.DeadLetterStream = MaxQueueReceives, "dead" })},
		{name: "create max receives 1001", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.MaxReceives = MaxQueueReceives + 1 }),
			err: ErrInvalidArgument, field: "max receives"},
		{name: "create a cursor subscription", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Cursor, c.Subscription, c.Filter = true, true, `{"key":["k"]}` })},
		{name: "create a cursor queue", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.Cursor = true }),
			err: ErrInvalidArgument, field: "cursor"},
		{name: "create a fifo cursor subscription", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Cursor, c.Subscription, c.FIFO = true, true, true }), err: ErrInvalidArgument, field: "cursor"},
		{name: "create a cursor subscription with a dead-letter stream", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) {
				c.Cursor, c.Subscription, c.MaxReceives, c.DeadLetterStream = true, true, 2, "dead"
			}),
			err: ErrInvalidArgument, field: "cursor"},
		{name: "create a delayed cursor subscription", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Cursor, c.Subscription, c.DelayMs = true, true, 5 }), err: ErrInvalidArgument, field: "cursor"},
		{name: "create delay -1", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.DelayMs = -1 }),
			err: ErrInvalidArgument, field: "delay ms"},
		{name: "create delay 15 min", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.DelayMs = MaxQueueDelayMs })},
		{name: "create delay above 15 min", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.DelayMs = MaxQueueDelayMs + 1 }),
			err: ErrInvalidArgument, field: "delay ms"},
		{name: "create negative timestamp", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.Timestamp = -1 }),
			err: ErrInvalidArgument, field: "timestamp"},
		{name: "create filter stored canonical", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Filter = " {\"key\": [\"a\"],\n \"headers.t\": [ {\"prefix\": \"x\"} ]} " }),
			check: func(t *testing.T, h *harness, resp any) {
				if got, want := resp.(*Queue).Filter, `{"headers.t":[{"prefix":"x"}],"key":["a"]}`; got != want {
					t.Fatalf("filter %q, want %q", got, want)
				}
			}},
		{name: "create filter {} is all records", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.Filter = " { } " }),
			check: func(t *testing.T, h *harness, resp any) {
				if f := resp.(*Queue).Filter; f != "" {
					t.Fatalf("filter %q, want \"\"", f)
				}
			}},
		{name: "create filter not JSON", setup: withQueueStreams, cmd: with(func(c *CreateQueue) { c.Filter = "key=a" }),
			err: consumergroup.ErrInvalidFilter, field: "filter"},
		{name: "create filter bad operator", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Filter = `{"key":[{"suffix":"a"}]}` }), err: consumergroup.ErrInvalidFilter, field: "filter"},
		{name: "create filter too long", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Filter = `{"key":["` + long(consumergroup.MaxFilterBytes) + `"]}` }),
			err: ErrInvalidArgument, field: "filter"},
		// Within the limit as written, but not once canonical: the name's
		// "<" are escaped as \u003c.
		{name: "create filter whose canonical text is too long", setup: withQueueStreams,
			cmd: with(func(c *CreateQueue) { c.Filter = `{"headers.` + strings.Repeat("<", 2000) + `":["a"]}` }),
			err: consumergroup.ErrInvalidFilter, field: "filter"},
		{name: "create again after delete takes a new incarnation", setup: func(h *harness) {
			withQueue(h)
			h.must(DeleteQueue{Name: "q"})
		}, cmd: queue("q", "dead"), check: func(t *testing.T, h *harness, resp any) {
			if q := resp.(*Queue); q.Incarnation != 2 || q.Stream != "dead" || q.DeadLetterStream != "" {
				t.Fatalf("queue %+v", q)
			}
		}},

		// AlterQueue.
		{name: "alter visibility", setup: withQueue, cmd: AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(60000))},
			check: func(t *testing.T, h *harness, resp any) {
				q := resp.(*Queue)
				want := Queue{Name: "q", Stream: "orders", VisibilityTimeoutMs: 60000, MaxReceives: 5, DeadLetterStream: "dead",
					Incarnation: 1, CreatedAt: 6000}
				if *q != want || storedQueue(t, h, "q") != q || h.f.View().Version() != h.index {
					t.Fatalf("queue %+v, want %+v", *q, want)
				}
			}},
		{name: "alter every setting", setup: withQueue, cmd: AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(1)),
			MaxReceives: new(int32(0)), DeadLetterStream: new(""), DelayMs: new(int64(MaxQueueDelayMs)),
			Filter: new(`{"key": [{"exists": true}]}`)},
			check: func(t *testing.T, h *harness, resp any) {
				want := Queue{Name: "q", Stream: "orders", VisibilityTimeoutMs: 1, DelayMs: MaxQueueDelayMs,
					Filter: `{"key":[{"exists":true}]}`, Incarnation: 1, CreatedAt: 6000}
				if q := resp.(*Queue); *q != want {
					t.Fatalf("queue %+v, want %+v", *q, want)
				}
			}},
		{name: "alter dead-letter stream", setup: func(h *harness) { withQueue(h); h.must(stream("dead2", 1, 1)) },
			cmd: AlterQueue{Name: "q", DeadLetterStream: new("dead2")}, check: func(t *testing.T, h *harness, resp any) {
				if q := resp.(*Queue); q.DeadLetterStream != "dead2" {
					t.Fatalf("queue %+v", q)
				}
				h.must(DeleteStream{Name: "dead"}) // no longer in use
			}},
		{name: "alter filter to {} clears it", setup: func(h *harness) {
			withQueue(h)
			h.must(AlterQueue{Name: "q", Filter: new(`{"key":["a"]}`)})
		}, cmd: AlterQueue{Name: "q", Filter: new("{}")}, check: func(t *testing.T, h *harness, resp any) {
			if q := resp.(*Queue); q.Filter != "" {
				t.Fatalf("filter %q", q.Filter)
			}
		}},
		{name: "alter to the same values changes nothing", setup: withQueue,
			cmd: AlterQueue{Name: "q", MaxReceives: new(int32(5)), DeadLetterStream: new("dead"), Filter: new(" {} ")}, check: unchanged},
		{name: "alter to an equal filter changes nothing", setup: func(h *harness) {
			withQueue(h)
			h.must(AlterQueue{Name: "q", Filter: new(`{"key":["a"],"headers.x":["b"]}`)})
		}, cmd: AlterQueue{Name: "q", Filter: new(`{ "headers.x" : ["b"], "key" : ["a"] }`)}, check: unchanged},
		{name: "alter nothing", setup: withQueue, cmd: AlterQueue{Name: "q"}, err: ErrInvalidArgument, field: "alter"},
		{name: "alter unknown", setup: withQueue, cmd: AlterQueue{Name: "nope", DelayMs: new(int64(1))}, err: ErrQueueNotFound},
		{name: "alter bad name", setup: withQueue, cmd: AlterQueue{Name: "", DelayMs: new(int64(1))}, err: ErrInvalidArgument, field: "name"},
		{name: "alter dead-letter stream to the stream", setup: withQueue, cmd: AlterQueue{Name: "q", DeadLetterStream: new("orders")},
			err: ErrInvalidArgument, field: "dead-letter stream"},
		{name: "alter unknown dead-letter stream", setup: withQueue, cmd: AlterQueue{Name: "q", DeadLetterStream: new("nope")},
			err: ErrStreamNotFound},
		{name: "alter bad dead-letter stream name", setup: withQueue, cmd: AlterQueue{Name: "q", DeadLetterStream: new(".")},
			err: ErrInvalidArgument, field: "dead-letter stream"},
		{name: "alter visibility 0", setup: withQueue, cmd: AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(0))},
			err: ErrInvalidArgument, field: "visibility timeout ms"},
		{name: "alter visibility above 12h", setup: withQueue, cmd: AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(MaxVisibilityTimeoutMs + 1))},
			err: ErrInvalidArgument, field: "visibility timeout ms"},
		{name: "alter max receives 1001", setup: withQueue, cmd: AlterQueue{Name: "q", MaxReceives: new(int32(MaxQueueReceives + 1))},
			err: ErrInvalidArgument, field: "max receives"},
		{name: "alter max receives -1", setup: withQueue, cmd: AlterQueue{Name: "q", MaxReceives: new(int32(-1))},
			err: ErrInvalidArgument, field: "max receives"},
		{name: "alter delay -1", setup: withQueue, cmd: AlterQueue{Name: "q", DelayMs: new(int64(-1))},
			err: ErrInvalidArgument, field: "delay ms"},
		{name: "alter delay above 15 min", setup: withQueue, cmd: AlterQueue{Name: "q", DelayMs: new(int64(MaxQueueDelayMs + 1))},
			err: ErrInvalidArgument, field: "delay ms"},
		{name: "alter filter invalid", setup: withQueue, cmd: AlterQueue{Name: "q", Filter: new(`{"value":["a"]}`)},
			err: consumergroup.ErrInvalidFilter, field: "filter"},
		{name: "alter filter too long", setup: withQueue, cmd: AlterQueue{Name: "q", Filter: new(long(consumergroup.MaxFilterBytes + 1))},
			err: ErrInvalidArgument, field: "filter"},
		// One bad change refuses the whole command.
		{name: "alter with one bad change", setup: withQueue,
			cmd: AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(5)), Filter: new("[")}, err: consumergroup.ErrInvalidFilter, field: "filter"},

		// DeleteQueue.
		{name: "delete", setup: withQueue, cmd: DeleteQueue{Name: "q"}, check: func(t *testing.T, h *harness, resp any) {
			v := h.f.View()
			if q := resp.(*Queue); q.Name != "q" || q.Incarnation != 1 || v.Queue("q") != nil || len(v.Queues()) != 0 {
				t.Fatalf("queue %+v still there: %v", q, v.Queues())
			}
			if v.nextQueueIncarnation != 2 {
				t.Fatalf("next incarnation %d, want 2", v.nextQueueIncarnation)
			}
		}},
		{name: "delete of its incarnation", setup: withQueue, cmd: DeleteQueue{Name: "q", Incarnation: 1}},
		{name: "delete of another incarnation", setup: withQueue, cmd: DeleteQueue{Name: "q", Incarnation: 2}, err: ErrQueueNotFound},
		{name: "delete an older life", setup: func(h *harness) {
			withQueue(h)
			h.must(DeleteQueue{Name: "q"})
			h.must(queue("q", "orders"))
		}, cmd: DeleteQueue{Name: "q", Incarnation: 1}, err: ErrQueueNotFound},
		{name: "delete unknown", setup: withQueue, cmd: DeleteQueue{Name: "nope"}, err: ErrQueueNotFound},
		{name: "delete bad name", setup: withQueue, cmd: DeleteQueue{Name: "a b"}, err: ErrInvalidArgument, field: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			before := h.f.View()
			resp := h.do(tt.cmd)
			err, _ := resp.(error)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Apply = %v", err)
				}
				if err := checkView(h.f.View()); err != nil {
					t.Fatal(err)
				}
				if tt.check != nil {
					tt.check(t, h, resp)
				}
				return
			}
			t.Log(err)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Apply = %v, want %v", resp, tt.err)
			}
			var fe *replication.FatalError
			if errors.As(err, &fe) {
				t.Fatalf("a refused command must not be fatal: %v", err)
			}
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("Apply = %v, want a *ValidationError on %q", err, tt.field)
				}
			}
			if h.f.View() != before {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

// TestApplyQueueKeepsStreamAndFIFO: what AlterQueue cannot change stays,
// and the old View is not modified.
func TestApplyQueueKeepsStreamAndFIFO(t *testing.T) {
	h := newHarness(t)
	withQueueStreams(h)
	c := queue("q", "orders")
	c.FIFO, c.Subscription, c.Filter = true, true, `{"key":["a"]}`
	h.must(c)
	before := h.f.View()
	old := *before.Queue("q")
	altered := h.must(AlterQueue{Name: "q", DelayMs: new(int64(10)), Filter: new("")}).(*Queue)
	if !altered.FIFO || !altered.Subscription || altered.Stream != "orders" || altered.Incarnation != 1 || altered.CreatedAt != 6000 {
		t.Fatalf("queue %+v", altered)
	}
	qs := h.f.View().Queues()
	qs[0] = nil // the slice is the caller's
	if h.f.View().Queues()[0] != altered {
		t.Fatal("Queues shares its slice")
	}
	h.must(DeleteQueue{Name: "q"})
	if q := before.Queue("q"); q == nil || *q != old || len(before.Queues()) != 1 {
		t.Fatalf("an old View changed: %+v", q)
	}
}

// TestDeleteStreamInUse: the error names every queue that delivers the
// stream or dead-letters into it, sorted.
func TestDeleteStreamInUse(t *testing.T) {
	h := newHarness(t)
	withQueue(h) // q: orders -> dead
	h.must(queue("b", "dead"))
	h.must(queue("a", "orders"))
	h.must(queue("c", "orders"))
	for stream, want := range map[string][]string{"orders": {"a", "c", "q"}, "dead": {"b", "q"}} {
		before := h.f.View()
		err, _ := h.do(DeleteStream{Name: stream}).(error)
		var ie *StreamInUseError
		if !errors.As(err, &ie) || !errors.Is(err, ErrStreamInUse) || ie.Stream != stream || !slices.Equal(ie.Queues, want) {
			t.Fatalf("DeleteStream %s = %v, want a *StreamInUseError naming %v", stream, err, want)
		}
		if h.f.View() != before {
			t.Fatal("a refused command changed the state")
		}
	}
	for _, name := range []string{"a", "b", "c", "q"} {
		h.must(DeleteQueue{Name: name})
	}
	h.must(DeleteStream{Name: "orders"})
	h.must(DeleteStream{Name: "dead"})
}

// TestQueueIncarnationsNeverReused: each create takes a new incarnation,
// across deletes, other names and a snapshot restore.
func TestQueueIncarnationsNeverReused(t *testing.T) {
	h := newHarness(t)
	withQueueStreams(h)
	seen := map[uint64]bool{}
	create := func(h *harness, name string) {
		t.Helper()
		q := h.must(queue(name, "orders")).(*Queue)
		if seen[q.Incarnation] {
			t.Fatalf("incarnation %d reused", q.Incarnation)
		}
		seen[q.Incarnation] = true
	}
	for range 3 {
		create(h, "q")
		create(h, "r")
		h.must(DeleteQueue{Name: "q"})
		h.must(DeleteQueue{Name: "r"})
	}
	create(h, "q")
	f := NewFSM()
	if err := f.Restore(bytes.NewReader(snapshotOf(t, h.f))); err != nil {
		t.Fatal(err)
	}
	r := &harness{t: t, f: f, index: h.index}
	r.must(DeleteQueue{Name: "q"})
	create(r, "q")
	if len(seen) != 8 {
		t.Fatalf("%d incarnations, want 8", len(seen))
	}
}

func TestEncodeQueueCommands(t *testing.T) {
	tests := []struct {
		name   string
		encode func() ([]byte, error)
		field  string // "": valid
	}{
		{"create", func() ([]byte, error) { return EncodeCreateQueue(queue("q", "s")) }, ""},
		{"create defaults", func() ([]byte, error) { return EncodeCreateQueue(CreateQueue{Name: "q", Stream: "s"}) }, ""},
		{"create bad name", func() ([]byte, error) { return EncodeCreateQueue(CreateQueue{Name: "q/1", Stream: "s"}) }, "name"},
		{"create no stream", func() ([]byte, error) { return EncodeCreateQueue(CreateQueue{Name: "q"}) }, "stream"},
		{"create dead-letter is stream", func() ([]byte, error) {
			return EncodeCreateQueue(CreateQueue{Name: "q", Stream: "s", DeadLetterStream: "s"})
		}, "dead-letter stream"},
		{"create bad filter", func() ([]byte, error) {
			return EncodeCreateQueue(CreateQueue{Name: "q", Stream: "s", Filter: `{"key":"a"}`})
		}, "filter"},
		{"create delay", func() ([]byte, error) {
			return EncodeCreateQueue(CreateQueue{Name: "q", Stream: "s", DelayMs: MaxQueueDelayMs + 1})
		}, "delay ms"},
		{"alter", func() ([]byte, error) { return EncodeAlterQueue(AlterQueue{Name: "q", MaxReceives: new(int32(1))}) }, ""},
		{"alter nothing", func() ([]byte, error) { return EncodeAlterQueue(AlterQueue{Name: "q"}) }, "alter"},
		{"alter bad filter", func() ([]byte, error) { return EncodeAlterQueue(AlterQueue{Name: "q", Filter: new("{")}) }, "filter"},
		{"alter visibility", func() ([]byte, error) {
			return EncodeAlterQueue(AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(0))})
		}, "visibility timeout ms"},
		{"delete", func() ([]byte, error) { return EncodeDeleteQueue(DeleteQueue{Name: "q"}) }, ""},
		{"delete bad name", func() ([]byte, error) { return EncodeDeleteQueue(DeleteQueue{}) }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.encode()
			if tt.field == "" {
				if err != nil || len(b) == 0 {
					t.Fatalf("encode = %x, %v", b, err)
				}
				if _, err := decodeCommand(b); err != nil {
					t.Fatalf("encoded command does not decode: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrInvalidArgument) || b != nil {
				t.Fatalf("encode = %x, %v; want a *ValidationError on %q", b, err, tt.field)
			}
		})
	}
}

// TestEncodeQueueFills: EncodeCreateQueue fills the default visibility
// timeout, and both Encode functions carry the canonical filter.
func TestEncodeQueueFills(t *testing.T) {
	b, err := EncodeCreateQueue(CreateQueue{Name: "q", Stream: "s", Filter: ` {"key": ["a"]} `, Timestamp: 7})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	want := CreateQueue{Name: "q", Stream: "s", VisibilityTimeoutMs: DefaultVisibilityTimeoutMs, Filter: `{"key":["a"]}`, Timestamp: 7}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
	b, err = EncodeAlterQueue(AlterQueue{Name: "q", Filter: new("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := decodeCommand(b); err != nil || !reflect.DeepEqual(c, AlterQueue{Name: "q", Filter: new("")}) {
		t.Fatalf("decoded %+v, %v", c, err)
	}
}

// TestEncodeApplyAgreeQueues: what an Encode function accepts, Apply
// accepts too (given the state allows it), and stores as encoded.
func TestEncodeApplyAgreeQueues(t *testing.T) {
	h := newHarness(t)
	withQueueStreams(h)
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) {
			return EncodeCreateQueue(CreateQueue{Name: "q", Stream: "orders", DeadLetterStream: "dead", MaxReceives: 3,
				Filter: `{"headers.n":[{"numeric":[">=",10,"<",20]}]}`})
		},
		func() ([]byte, error) {
			return EncodeAlterQueue(AlterQueue{Name: "q", DeadLetterStream: new(""), MaxReceives: new(int32(0)), Filter: new(`{"key":[{"anything-but":["x"]}]}`)})
		},
		func() ([]byte, error) { return EncodeDeleteQueue(DeleteQueue{Name: "q", Incarnation: 1}) },
		func() ([]byte, error) { return EncodeDeleteStream(DeleteStream{Name: "orders"}) },
	} {
		b, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		resp := h.apply(b)
		if err, ok := resp.(error); ok {
			t.Fatalf("Apply = %v", err)
		}
		if q, ok := resp.(*Queue); ok && h.f.View().Queue("q") != nil {
			c, _ := decodeCommand(b)
			var filter string
			switch c := c.(type) {
			case CreateQueue:
				filter = c.Filter
			case AlterQueue:
				filter = *c.Filter
			}
			if q.Filter != filter {
				t.Fatalf("stored filter %q, encoded %q", q.Filter, filter)
			}
		}
	}
}

func TestStreamInUseError(t *testing.T) {
	many := make([]string, 12)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	for _, e := range []*StreamInUseError{{Stream: "s", Queues: []string{"q"}}, {Stream: "s", Queues: many}} {
		err := error(e)
		if !errors.Is(err, ErrStreamInUse) || errors.Is(err, ErrStreamNotFound) || !strings.HasPrefix(err.Error(), "metadata: ") {
			t.Fatalf("%v", err)
		}
		t.Log(err)
	}
}
