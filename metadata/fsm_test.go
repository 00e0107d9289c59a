package metadata

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/replication"
)

func TestApplyCommands(t *testing.T) {
	threeNodes := func(h *harness) { h.nodes(3) }
	withStream := func(h *harness) { h.nodes(3); h.must(stream("orders", 4, 3)) }
	long := func(n int) string { return strings.Repeat("a", n) }
	// withFour: n1..n4 active, orders (4 partitions, rf 3) created on n1..n3.
	withFour := func(h *harness) { withStream(h); h.must(node("n4", NodeActive)) }
	reassign := func(p string, epoch uint32, ids ...string) ReassignPartition {
		return ReassignPartition{Partition: p, Replicas: ids, Epoch: epoch}
	}

	tests := []struct {
		name  string
		setup func(h *harness)
		cmd   any
		err   error  // nil: success
		field string // for ErrInvalidArgument: the *ValidationError field
		check func(t *testing.T, h *harness, resp any)
	}{
		// RegisterNode.
		{name: "register joining", cmd: node("n1", NodeJoining), check: func(t *testing.T, h *harness, resp any) {
			n := resp.(*Node)
			if n.State != NodeJoining || n.RegisteredAt != 1000 || h.f.View().Node("n1") != n {
				t.Fatalf("node %+v", n)
			}
		}},
		{name: "register active", cmd: node("n1", NodeActive), check: func(t *testing.T, h *harness, resp any) {
			if resp.(*Node).State != NodeActive {
				t.Fatalf("node %+v", resp)
			}
		}},
		{name: "register promotes joining to active", setup: func(h *harness) { h.must(node("n1", NodeJoining)) },
			cmd: RegisterNode{ID: "n1", RaftAddr: "h:1", ClientAddr: "h:2", State: NodeActive, Timestamp: 9999},
			check: func(t *testing.T, h *harness, resp any) {
				n := resp.(*Node)
				if n.State != NodeActive || n.RegisteredAt != 1000 || n.RaftAddr != "h:1" || n.ClientAddr != "h:2" {
					t.Fatalf("node %+v", n)
				}
			}},
		{name: "register never demotes", setup: func(h *harness) { h.must(node("n1", NodeActive)) },
			cmd: node("n1", NodeJoining), check: func(t *testing.T, h *harness, resp any) {
				if resp.(*Node).State != NodeActive {
					t.Fatalf("node %+v", resp)
				}
			}},
		{name: "register same again changes nothing", setup: func(h *harness) { h.must(node("n1", NodeActive)) },
			cmd: node("n1", NodeActive), check: func(t *testing.T, h *harness, resp any) {
				if h.f.View().Version() != 1 {
					t.Fatalf("version %d, want 1", h.f.View().Version())
				}
			}},
		{name: "register reuses a removed node's address",
			setup: func(h *harness) { h.must(node("n1", NodeActive)); h.must(RemoveNode{ID: "n1"}) },
			cmd:   RegisterNode{ID: "n2", RaftAddr: "n1:7000", ClientAddr: "n1:9092", State: NodeActive}},
		{name: "register empty id", cmd: node("", NodeActive), err: ErrInvalidArgument, field: "node id"},
		{name: "register id ..", cmd: node("..", NodeActive), err: ErrInvalidArgument, field: "node id"},
		{name: "register id with slash", cmd: node("a/b", NodeActive), err: ErrInvalidArgument, field: "node id"},
		{name: "register id too long", cmd: node(long(MaxNodeIDLen+1), NodeActive), err: ErrInvalidArgument, field: "node id"},
		{name: "register raft addr without port", cmd: RegisterNode{ID: "n1", RaftAddr: "host", ClientAddr: "h:1", State: NodeActive},
			err: ErrInvalidArgument, field: "raft address"},
		{name: "register raft addr without host", cmd: RegisterNode{ID: "n1", RaftAddr: ":7000", ClientAddr: "h:1", State: NodeActive},
			err: ErrInvalidArgument, field: "raft address"},
		{name: "register raft addr port 0", cmd: RegisterNode{ID: "n1", RaftAddr: "h:0", ClientAddr: "h:1", State: NodeActive},
			err: ErrInvalidArgument, field: "raft address"},
		{name: "register raft addr port too big", cmd: RegisterNode{ID: "n1", RaftAddr: "h:65536", ClientAddr: "h:1", State: NodeActive},
			err: ErrInvalidArgument, field: "raft address"},
		{name: "register client addr empty", cmd: RegisterNode{ID: "n1", RaftAddr: "h:1", State: NodeActive},
			err: ErrInvalidArgument, field: "client address"},
		{name: "register as removed", cmd: node("n1", NodeRemoved), err: ErrInvalidArgument, field: "state"},
		{name: "register state 0", cmd: node("n1", 0), err: ErrInvalidArgument, field: "state"},
		{name: "register state 9", cmd: node("n1", 9), err: ErrInvalidArgument, field: "state"},
		{name: "register negative timestamp", cmd: RegisterNode{ID: "n1", RaftAddr: "h:1", ClientAddr: "h:2", State: NodeActive, Timestamp: -1},
			err: ErrInvalidArgument, field: "timestamp"},
		{name: "register raft addr in use", setup: threeNodes,
			cmd: RegisterNode{ID: "n9", RaftAddr: "n2:7000", ClientAddr: "n9:1", State: NodeActive}, err: ErrInvalidArgument, field: "raft address"},
		{name: "register client addr in use", setup: threeNodes,
			cmd: RegisterNode{ID: "n9", RaftAddr: "n9:1", ClientAddr: "n3:9092", State: NodeActive}, err: ErrInvalidArgument, field: "client address"},
		{name: "register removed node", setup: func(h *harness) { h.must(node("n1", NodeActive)); h.must(RemoveNode{ID: "n1"}) },
			cmd: node("n1", NodeActive), err: ErrNodeRemoved},

		// RemoveNode.
		{name: "remove", setup: withStream, cmd: RemoveNode{ID: "n2"}, check: func(t *testing.T, h *harness, resp any) {
			v := h.f.View()
			if resp.(*Node).State != NodeRemoved || v.Node("n2").State != NodeRemoved {
				t.Fatalf("node %+v", resp)
			}
			if len(v.PartitionsOnNode("n2")) != 4 {
				t.Fatalf("a removed node's replicas must stay until moved")
			}
		}},
		{name: "remove removed changes nothing", setup: func(h *harness) { h.nodes(1); h.must(RemoveNode{ID: "n1"}) },
			cmd: RemoveNode{ID: "n1"}, check: func(t *testing.T, h *harness, resp any) {
				if h.f.View().Version() != 2 {
					t.Fatalf("version %d, want 2", h.f.View().Version())
				}
			}},
		{name: "remove unknown", setup: threeNodes, cmd: RemoveNode{ID: "n9"}, err: ErrNodeNotFound},
		{name: "remove bad id", cmd: RemoveNode{ID: "n 1"}, err: ErrInvalidArgument, field: "node id"},

		// ReassignPartition.
		{name: "reassign", setup: withFour, cmd: reassign("s1-p2", 0, "n4", "n2"), check: func(t *testing.T, h *harness, resp any) {
			p := resp.(*Partition)
			v := h.f.View()
			if v.Partition("s1-p2") != p || p.Epoch != 1 || !slices.Equal(p.Replicas, []string{"n4", "n2"}) || p.Index != 2 {
				t.Fatalf("partition %+v", p)
			}
			if s := v.Stream("orders"); s.ReplicationFactor != 3 || len(s.Partitions[1].Replicas) != 3 || s.Partitions[1].Epoch != 0 {
				t.Fatalf("other partitions changed: %+v", s)
			}
			if len(v.PartitionsOnNode("n4")) != 1 {
				t.Fatal("n4 does not hold the partition")
			}
		}},
		{name: "reassign keeps the old view", setup: withFour, cmd: reassign("s1-p0", 0, "n4"), check: func(t *testing.T, h *harness, resp any) {
			if h.f.View().Stream("orders") == nil || len(h.f.View().Partition("s1-p1").Replicas) != 3 {
				t.Fatal("state lost")
			}
		}},
		{name: "reassign order only", setup: withStream, cmd: func() ReassignPartition {
			h := newHarness(t)
			withStream(h)
			r := slices.Clone(h.f.View().Partition("s1-p1").Replicas)
			slices.Reverse(r)
			return reassign("s1-p1", 0, r...)
		}(), check: func(t *testing.T, h *harness, resp any) {
			if resp.(*Partition).Epoch != 1 {
				t.Fatalf("a new preferred leader is a change: %+v", resp)
			}
		}},
		{name: "reassign to the same set changes nothing, whatever the epoch", setup: withStream,
			cmd: func() ReassignPartition {
				h := newHarness(t)
				withStream(h)
				return reassign("s1-p1", 7, h.f.View().Partition("s1-p1").Replicas...)
			}(),
			check: func(t *testing.T, h *harness, resp any) {
				if h.f.View().Version() != 4 || resp.(*Partition).Epoch != 0 {
					t.Fatalf("version %d, partition %+v", h.f.View().Version(), resp)
				}
			}},
		{name: "reassign after a reassignment", setup: func(h *harness) { withFour(h); h.must(reassign("s1-p0", 0, "n4")) },
			cmd: reassign("s1-p0", 1, "n1", "n2", "n3", "n4"), check: func(t *testing.T, h *harness, resp any) {
				if p := resp.(*Partition); p.Epoch != 2 || len(p.Replicas) != 4 {
					t.Fatalf("partition %+v", p)
				}
			}},
		{name: "reassign stale epoch", setup: func(h *harness) { withFour(h); h.must(reassign("s1-p0", 0, "n4")) },
			cmd: reassign("s1-p0", 0, "n1"), err: ErrReplicasChanged},
		{name: "reassign future epoch", setup: withFour, cmd: reassign("s1-p0", 1, "n4"), err: ErrReplicasChanged},
		{name: "reassign unknown partition", setup: withFour, cmd: reassign("s1-p4", 0, "n1"), err: ErrPartitionNotFound},
		{name: "reassign unknown stream", setup: withFour, cmd: reassign("s2-p0", 0, "n1"), err: ErrPartitionNotFound},
		{name: "reassign deleted stream", setup: func(h *harness) { withFour(h); h.must(DeleteStream{Name: "orders"}) },
			cmd: reassign("s1-p0", 0, "n1"), err: ErrPartitionNotFound},
		{name: "reassign bad partition id", setup: withFour, cmd: reassign("orders/0", 0, "n1"), err: ErrInvalidArgument, field: "partition"},
		{name: "reassign non-canonical partition id", setup: withFour, cmd: reassign("s01-p0", 0, "n1"), err: ErrInvalidArgument, field: "partition"},
		{name: "reassign empty set", setup: withFour, cmd: reassign("s1-p0", 0), err: ErrInvalidArgument, field: "replicas"},
		{name: "reassign too many", setup: withFour, cmd: reassign("s1-p0", 0, "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"),
			err: ErrInvalidArgument, field: "replicas"},
		{name: "reassign duplicate", setup: withFour, cmd: reassign("s1-p0", 0, "n1", "n4", "n1"), err: ErrInvalidArgument, field: "replicas"},
		{name: "reassign bad node id", setup: withFour, cmd: reassign("s1-p0", 0, "n 1"), err: ErrInvalidArgument, field: "replicas"},
		{name: "reassign unknown node", setup: withFour, cmd: reassign("s1-p0", 0, "n1", "n9"), err: ErrNodeNotFound},
		{name: "reassign joining node", setup: func(h *harness) { withStream(h); h.must(node("j", NodeJoining)) },
			cmd: reassign("s1-p0", 0, "n1", "j"), err: ErrNodeNotActive},
		{name: "reassign removed node", setup: func(h *harness) { withFour(h); h.must(RemoveNode{ID: "n4"}) },
			cmd: reassign("s1-p0", 0, "n4"), err: ErrNodeNotActive},
		{name: "reassign epoch exhausted", setup: func(h *harness) {
			withFour(h)
			v := *h.f.View()
			v.streams = maps.Clone(v.streams)
			s := *v.streams["orders"]
			s.Partitions = slices.Clone(s.Partitions)
			s.Partitions[0].Epoch = math.MaxUint32
			v.streams["orders"] = &s
			v.byID = map[uint64]*Stream{s.ID: &s}
			h.f.view.Store(&v)
		}, cmd: reassign("s1-p0", math.MaxUint32, "n4"), err: ErrInvalidArgument, field: "epoch"},

		// CreateStream.
		{name: "create", setup: threeNodes, cmd: stream("orders", 4, 3), check: func(t *testing.T, h *harness, resp any) {
			s := resp.(*Stream)
			if s.ID != 1 || s.Name != "orders" || len(s.Partitions) != 4 || s.ReplicationFactor != 3 || s.CreatedAt != 5000 {
				t.Fatalf("stream %+v", s)
			}
			for i, p := range s.Partitions {
				if p.ID != PartitionID(1, i) || p.Index != i || p.Stream != "orders" || len(p.Replicas) != 3 {
					t.Fatalf("partition %+v", p)
				}
			}
			if h.f.View().Stream("orders") != s {
				t.Fatal("stream not in the view")
			}
		}},
		{name: "create name of 249", setup: threeNodes, cmd: stream(long(249), 1, 1)},
		{name: "create name with ._-", setup: threeNodes, cmd: stream("a.B_c-9", 1, 1)},
		{name: "create exists", setup: withStream, cmd: stream("orders", 1, 1), err: ErrStreamExists},
		{name: "create empty name", setup: threeNodes, cmd: stream("", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name .", setup: threeNodes, cmd: stream(".", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name ..", setup: threeNodes, cmd: stream("..", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name of 250", setup: threeNodes, cmd: stream(long(250), 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name with space", setup: threeNodes, cmd: stream("a b", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name with slash", setup: threeNodes, cmd: stream("a/b", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create name not ascii", setup: threeNodes, cmd: stream("flüsse", 1, 1), err: ErrInvalidArgument, field: "name"},
		{name: "create 0 partitions", setup: threeNodes, cmd: stream("s", 0, 1), err: ErrInvalidArgument, field: "partitions"},
		{name: "create too many partitions", setup: threeNodes, cmd: stream("s", MaxPartitions+1, 1), err: ErrInvalidArgument, field: "partitions"},
		{name: "create max partitions", setup: threeNodes, cmd: stream("s", MaxPartitions, 3)},
		{name: "create rf 0", setup: threeNodes, cmd: stream("s", 1, 0), err: ErrInvalidArgument, field: "replication factor"},
		{name: "create rf 8", setup: threeNodes, cmd: stream("s", 1, 8), err: ErrInvalidArgument, field: "replication factor"},
		{name: "create rf above active nodes", setup: threeNodes, cmd: stream("s", 1, 4), err: ErrNotEnoughNodes},
		{name: "create no nodes", cmd: stream("s", 1, 1), err: ErrNotEnoughNodes},
		{name: "create joining nodes do not count", setup: func(h *harness) { h.nodes(2); h.must(node("n3", NodeJoining)) },
			cmd: stream("s", 1, 3), err: ErrNotEnoughNodes},
		{name: "create removed nodes do not count", setup: func(h *harness) { h.nodes(3); h.must(RemoveNode{ID: "n1"}) },
			cmd: stream("s", 1, 3), err: ErrNotEnoughNodes},
		{name: "create retention ms 0", setup: threeNodes, cmd: func() CreateStream { c := stream("s", 1, 1); c.RetentionMs = 0; return c }(),
			err: ErrInvalidArgument, field: "retention ms"},
		{name: "create retention ms -2", setup: threeNodes, cmd: func() CreateStream { c := stream("s", 1, 1); c.RetentionMs = -2; return c }(),
			err: ErrInvalidArgument, field: "retention ms"},
		{name: "create retention bytes 0", setup: threeNodes, cmd: func() CreateStream { c := stream("s", 1, 1); c.RetentionBytes = 0; return c }(),
			err: ErrInvalidArgument, field: "retention bytes"},
		{name: "create max record bytes 0", setup: threeNodes, cmd: func() CreateStream { c := stream("s", 1, 1); c.MaxRecordBytes = 0; return c }(),
			err: ErrInvalidArgument, field: "max record bytes"},
		{name: "create max record bytes too big", setup: threeNodes,
			cmd: func() CreateStream { c := stream("s", 1, 1); c.MaxRecordBytes = MaxRecordBytesLimit + 1; return c }(),
			err: ErrInvalidArgument, field: "max record bytes"},
		{name: "create negative timestamp", setup: threeNodes, cmd: func() CreateStream { c := stream("s", 1, 1); c.Timestamp = -1; return c }(),
			err: ErrInvalidArgument, field: "timestamp"},
		{name: "create again after delete gets new ids",
			setup: func(h *harness) { withStream(h); h.must(DeleteStream{Name: "orders"}) },
			cmd:   stream("orders", 2, 3), check: func(t *testing.T, h *harness, resp any) {
				s := resp.(*Stream)
				if s.ID != 2 || s.Partitions[0].ID != "s2-p0" || h.f.View().Partition("s1-p0") != nil {
					t.Fatalf("stream %+v", s)
				}
			}},

		// DeleteStream.
		{name: "delete", setup: withStream, cmd: DeleteStream{Name: "orders"}, check: func(t *testing.T, h *harness, resp any) {
			v := h.f.View()
			if resp.(*Stream).Name != "orders" || v.Stream("orders") != nil || len(v.Streams()) != 0 ||
				v.Partition("s1-p0") != nil || len(v.PartitionsOnNode("n1")) != 0 {
				t.Fatal("stream still there")
			}
		}},
		{name: "delete unknown", setup: withStream, cmd: DeleteStream{Name: "nope"}, err: ErrStreamNotFound},
		{name: "delete the stream of a queue", setup: func(h *harness) { withStream(h); h.must(queue("q", "orders")) },
			cmd: DeleteStream{Name: "orders"}, err: ErrStreamInUse},
		{name: "delete the dead-letter stream of a queue", setup: func(h *harness) {
			withStream(h)
			h.must(stream("dead", 1, 1))
			q := queue("q", "orders")
			q.DeadLetterStream = "dead"
			h.must(q)
		}, cmd: DeleteStream{Name: "dead"}, err: ErrStreamInUse},
		{name: "delete a stream after its queue", setup: func(h *harness) {
			withStream(h)
			h.must(queue("q", "orders"))
			h.must(DeleteQueue{Name: "q"})
		}, cmd: DeleteStream{Name: "orders"}},
		{name: "delete a stream that queues do not use", setup: func(h *harness) {
			withStream(h)
			h.must(stream("other", 1, 1))
			h.must(queue("q", "orders"))
		}, cmd: DeleteStream{Name: "other"}},
		{name: "delete bad name", cmd: DeleteStream{Name: ""}, err: ErrInvalidArgument, field: "name"},

		// AlterStream.
		{name: "alter retention", setup: withStream, cmd: AlterStream{Name: "orders", RetentionMs: 60000, RetentionBytes: Unlimited},
			check: func(t *testing.T, h *harness, resp any) {
				s := h.f.View().Stream("orders")
				if resp.(*Stream) != s || s.RetentionMs != 60000 || s.RetentionBytes != Unlimited || s.MaxRecordBytes != DefaultMaxRecordBytes {
					t.Fatalf("stream %+v", s)
				}
			}},
		{name: "alter max record bytes only", setup: withStream, cmd: AlterStream{Name: "orders", MaxRecordBytes: 512},
			check: func(t *testing.T, h *harness, resp any) {
				s := h.f.View().Stream("orders")
				if s.MaxRecordBytes != 512 || s.RetentionMs != DefaultRetentionMs {
					t.Fatalf("stream %+v", s)
				}
			}},
		{name: "alter to same values changes nothing", setup: withStream, cmd: AlterStream{Name: "orders", RetentionMs: DefaultRetentionMs},
			check: func(t *testing.T, h *harness, resp any) {
				if h.f.View().Version() != 4 {
					t.Fatalf("version %d, want 4", h.f.View().Version())
				}
			}},
		{name: "alter nothing", setup: withStream, cmd: AlterStream{Name: "orders"}, err: ErrInvalidArgument, field: "alter"},
		{name: "alter unknown", setup: withStream, cmd: AlterStream{Name: "nope", RetentionMs: 1}, err: ErrStreamNotFound},
		{name: "alter bad name", cmd: AlterStream{Name: "a\x00", RetentionMs: 1}, err: ErrInvalidArgument, field: "name"},
		{name: "alter retention ms -3", setup: withStream, cmd: AlterStream{Name: "orders", RetentionMs: -3},
			err: ErrInvalidArgument, field: "retention ms"},
		{name: "alter retention bytes -3", setup: withStream, cmd: AlterStream{Name: "orders", RetentionBytes: -3},
			err: ErrInvalidArgument, field: "retention bytes"},
		{name: "alter max record bytes -1", setup: withStream, cmd: AlterStream{Name: "orders", MaxRecordBytes: -1},
			err: ErrInvalidArgument, field: "max record bytes"},

		// AllocateProducerIDs.
		{name: "allocate", cmd: AllocateProducerIDs{Count: 10}, check: func(t *testing.T, h *harness, resp any) {
			if b := resp.(ProducerIDBlock); b != (ProducerIDBlock{First: 0, Count: 10}) || h.f.View().NextProducerID() != 10 {
				t.Fatalf("block %+v", b)
			}
		}},
		{name: "allocate after allocate", setup: func(h *harness) { h.must(AllocateProducerIDs{Count: 7}) },
			cmd: AllocateProducerIDs{Count: MaxProducerIDBlock}, check: func(t *testing.T, h *harness, resp any) {
				if b := resp.(ProducerIDBlock); b.First != 7 || b.End() != 7+MaxProducerIDBlock {
					t.Fatalf("block %+v", b)
				}
			}},
		{name: "allocate 0", cmd: AllocateProducerIDs{Count: 0}, err: ErrInvalidArgument, field: "count"},
		{name: "allocate -1", cmd: AllocateProducerIDs{Count: -1}, err: ErrInvalidArgument, field: "count"},
		{name: "allocate too many", cmd: AllocateProducerIDs{Count: MaxProducerIDBlock + 1}, err: ErrInvalidArgument, field: "count"},
		{name: "allocate exhausted", setup: func(h *harness) {
			v := *h.f.View()
			v.nextProducerID = math.MaxInt64 - 5
			h.f.view.Store(&v)
		}, cmd: AllocateProducerIDs{Count: 6}, err: ErrProducerIDsExhausted},
		{name: "allocate the last ids", setup: func(h *harness) {
			v := *h.f.View()
			v.nextProducerID = math.MaxInt64 - 5
			h.f.view.Store(&v)
		}, cmd: AllocateProducerIDs{Count: 5}},
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
			if h.f.AppliedIndex() != h.index {
				t.Fatalf("applied %d, want %d", h.f.AppliedIndex(), h.index)
			}
			err, _ := resp.(error)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Apply = %v", err)
				}
				if tt.check != nil {
					tt.check(t, h, resp)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Apply = %v, want %v", resp, tt.err)
			}
			var fe *replication.FatalError
			if errors.As(err, &fe) {
				t.Fatalf("a refused command must not be fatal: %v", err)
			}
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Fatalf("Apply = %v, want a *ValidationError on %q", err, tt.field)
				}
			}
			if h.f.View() != before {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

func TestApplyChangesVersion(t *testing.T) {
	h := newHarness(t)
	h.nodes(3)
	if v := h.f.View().Version(); v != 3 {
		t.Fatalf("version %d, want 3", v)
	}
	h.do(stream("s", 1, 9)) // refused
	if v := h.f.View().Version(); v != 3 || h.f.AppliedIndex() != 4 {
		t.Fatalf("version %d applied %d, want 3 and 4", v, h.f.AppliedIndex())
	}
	h.must(AllocateProducerIDs{Count: 1})
	if v := h.f.View().Version(); v != 5 {
		t.Fatalf("version %d, want 5", v)
	}
}

// TestApplySkipsReplay: an entry at or below the applied index is skipped,
// as raft replays the log after a snapshot on start.
func TestApplySkipsReplay(t *testing.T) {
	h := newHarness(t)
	b := raw(AllocateProducerIDs{Count: 10})
	h.apply(b)
	before := h.f.View()
	if resp := h.f.Apply(replication.Entry{Index: 1, Data: b}); resp != nil {
		t.Fatalf("replayed entry answered %v", resp)
	}
	if h.f.View() != before || before.NextProducerID() != 10 {
		t.Fatal("replayed entry applied twice")
	}
}

func TestApplyUndecodableIsFatal(t *testing.T) {
	for _, b := range [][]byte{nil, {commandVersion}, {9, cmdRemoveNode, 0, 0}, {commandVersion, 99}, append(raw(RemoveNode{ID: "n1"}), 0)} {
		h := newHarness(t)
		resp := h.apply(b)
		var fe *replication.FatalError
		if err, _ := resp.(error); !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) || !errors.Is(err, replication.ErrFailed) {
			t.Fatalf("Apply(%x) = %v, want a fatal ErrCorrupt", b, resp)
		}
		if h.f.View().Version() != 0 {
			t.Fatal("an undecodable command changed the state")
		}
	}
}

// commandScript is a mixed sequence of commands, valid and not.
func commandScript() []any { return append(scriptWithoutQueues(), queueScript()...) }

// queueScript creates, alters and deletes queues over the streams of
// scriptWithoutQueues. It comes last: tests of old snapshot versions leave
// it out.
func queueScript() []any {
	sub := CreateQueue{Name: "sub", Stream: "after", VisibilityTimeoutMs: 1000, MaxReceives: 10, DeadLetterStream: "qdead",
		DelayMs: 500, FIFO: true, Filter: ` { "key" : [ "b" , "a" ] , "headers.t":[{"prefix":"x"}] } `, Subscription: true, Timestamp: 8000}
	return []any{
		stream("qdead", 2, 2),       // id 22
		queue("q1", "after"),        // incarnation 1
		sub,                         // incarnation 2
		queue("q1", "qdead"),        // refused: exists
		queue("q3", "nope"),         // refused: no such stream
		DeleteStream{Name: "qdead"}, // refused: sub's dead-letter stream
		AlterQueue{Name: "sub", DeadLetterStream: new("")},      // no dead-letter stream
		AlterQueue{Name: "sub", DeadLetterStream: new("qdead")}, // and back
		AlterQueue{Name: "sub", DeadLetterStream: new("after")}, // refused: its own stream
		DeleteQueue{Name: "q1", Incarnation: 1},
		queue("q1", "after"),                                       // incarnation 3
		DeleteQueue{Name: "q1", Incarnation: 1},                    // refused: an older life
		AlterQueue{Name: "q1", VisibilityTimeoutMs: new(int64(0))}, // refused
		AlterQueue{Name: "q1", Filter: new(`{"key":[{"prefix":"a"}]}`), MaxReceives: new(int32(5))},
		DeleteStream{Name: "after"}, // refused: q1's and sub's stream
	}
}

// scriptWithoutQueues is commandScript before the queues.
func scriptWithoutQueues() []any {
	var cmds []any
	for i := range 5 {
		cmds = append(cmds, node("n"+string(rune('1'+i)), NodeActive))
	}
	cmds = append(cmds, node("n6", NodeJoining), stream("bad name", 1, 1), stream("big", 7, 9))
	for i := range 20 {
		cmds = append(cmds, stream("s"+strings.Repeat("x", i), 1+i*3, 1+i%5), AllocateProducerIDs{Count: int64(1 + i)})
		if i%4 == 3 {
			cmds = append(cmds, DeleteStream{Name: "s" + strings.Repeat("x", i-2)})
		}
		if i%5 == 2 {
			cmds = append(cmds, AlterStream{Name: "s", RetentionMs: int64(1000 * i)})
		}
	}
	cmds = append(cmds, RemoveNode{ID: "n2"}, node("n6", NodeActive), stream("after", 12, 3))
	// Stream "after" has id 21 (one per CreateStream above that succeeds).
	cmds = append(cmds,
		ReassignPartition{Partition: "s21-p0", Replicas: []string{"n6", "n1"}, Epoch: 0},
		ReassignPartition{Partition: "s21-p0", Replicas: []string{"n1", "n6", "n3", "n4", "n5"}, Epoch: 1},
		ReassignPartition{Partition: "s21-p1", Replicas: []string{"n2"}, Epoch: 0}, // refused: removed
		ReassignPartition{Partition: "s21-p5", Replicas: []string{"n5"}, Epoch: 0},
	)
	// Consumer groups, last (tests of old snapshot versions leave them
	// out). The harness applies command i at raft index i+1, so a group's
	// Version is len(cmds) right after the command that changed it.
	cmds = append(cmds, putGroup(group("g1", 0, 2), 0, 7000)) // incarnation 1
	g1 := uint64(len(cmds))
	cmds = append(cmds, putGroup(group("g2", 3, 3), 0, 7001)) // incarnation 2
	up := group("g1", 1, 3)
	up.Incarnation = 1
	cmds = append(cmds, putGroup(up, g1, 7002),
		putGroup(up, g1, 7003), // refused: stale version
		DeleteGroup{Name: "g2", Incarnation: 2},
		putGroup(group("g2", 0, 1), 0, 7004),        // incarnation 3
		DeleteGroup{Name: "g2", Incarnation: 2},     // refused: an older life
		putGroup(group("g3 \u00fc", 0, 0), 0, 7005), // incarnation 4
		putGroup(group("g3 \u00fc", 0, 0), 0, 7006), // refused: exists
	)
	return cmds
}

// TestDeterminism applies the same commands to two state machines and
// compares their snapshots byte for byte.
func TestDeterminism(t *testing.T) {
	a, b := newHarness(t), newHarness(t)
	for _, c := range commandScript() {
		ra, rb := a.do(c), b.do(c)
		if ea, ok := ra.(error); ok {
			if eb, ok := rb.(error); !ok || ea.Error() != eb.Error() {
				t.Fatalf("%+v: responses differ: %v, %v", c, ra, rb)
			}
		}
	}
	sa, sb := snapshotOf(t, a.f), snapshotOf(t, b.f)
	if string(sa) != string(sb) {
		t.Fatal("two replicas that applied the same commands have different snapshots")
	}
	if len(a.f.View().Streams()) == 0 {
		t.Fatal("the script created nothing")
	}
}
