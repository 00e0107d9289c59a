package metadata

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/replication"
)

func allCommands() []any {
	return []any{
		node("n1", NodeJoining),
		RegisterNode{ID: "node-with-long-id.example", RaftAddr: "[::1]:7000", ClientAddr: "10.0.0.1:9092", State: NodeActive, Timestamp: 1 << 50},
		RemoveNode{ID: "n1"},
		stream("orders", 10000, 7),
		CreateStream{Name: "x", Partitions: 1, ReplicationFactor: 1, RetentionMs: Unlimited, RetentionBytes: 1 << 40, MaxRecordBytes: 1, Timestamp: 0},
		DeleteStream{Name: "orders"},
		AlterStream{Name: "orders", RetentionMs: 1},
		AlterStream{Name: "orders", RetentionBytes: Unlimited, MaxRecordBytes: 5},
		AllocateProducerIDs{Count: 1},
		AllocateProducerIDs{Count: MaxProducerIDBlock},
		ReassignPartition{Partition: "s1-p0", Replicas: []string{"n2", "n1", "n3"}, Epoch: 0},
		ReassignPartition{Partition: "s4294967295-p9999", Replicas: []string{"node-with-long-id.example"}, Epoch: 1<<32 - 1},
		ReassignPartition{Partition: "s1-p1", Replicas: nil, Epoch: 3}, // refused by Apply, but it decodes
		putGroup(group("g", 0, 2), 0, 1000),
		putGroup(func() consumergroup.GroupState {
			g := group("g", 2, 6) // FuzzDecodeCommand's base holds g at version 5, incarnation 1
			g.Incarnation = 1
			g.Members[1].InstanceID = "static-1"
			return g
		}(), 5, 1<<50),
		putGroup(group("empty group \u00fc", 0, 0), 1<<63, -1), // refused by Apply, but it decodes
		DeleteGroup{Name: "g"},
		DeleteGroup{Name: "g", Incarnation: 1<<64 - 1},
		DeleteGroup{Name: ""}, // refused by Apply, but it decodes
		// FuzzDecodeCommand's base holds streams orders and dead, and
		// queue q over orders (incarnation 1).
		queue("q2", "orders"),
		CreateQueue{Name: "sub-1", Stream: "orders", VisibilityTimeoutMs: MaxVisibilityTimeoutMs, MaxReceives: MaxQueueReceives,
			DeadLetterStream: "dead", DelayMs: MaxQueueDelayMs, FIFO: true, Filter: `{"headers.type":[{"prefix":"eu-"}],"key":["a"]}`,
			Subscription: true, Timestamp: 1 << 50},
		CreateQueue{Name: "q", Stream: "orders", VisibilityTimeoutMs: -1, MaxReceives: -1, DelayMs: -1, Filter: "{", Timestamp: -1}, // refused, but it decodes
		CreateQueue{}, // refused by Apply, but it decodes
		AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(1))},
		AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(MaxVisibilityTimeoutMs)), MaxReceives: new(int32(0)),
			DeadLetterStream: new("dead"), DelayMs: new(int64(MaxQueueDelayMs)), Filter: new(`{"key":[{"exists":true}]}`)},
		AlterQueue{Name: "q", DeadLetterStream: new(""), Filter: new("")},
		AlterQueue{Name: "q", MaxReceives: new(int32(-5))}, // refused by Apply, but it decodes
		AlterQueue{Name: "q"}, // refused by Apply, but it decodes
		DeleteQueue{Name: "q"},
		DeleteQueue{Name: "q", Incarnation: 1<<64 - 1},
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range allCommands() {
		b := raw(c)
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("decoded %+v, want %+v", got, c)
		}
	}
}

// TestCommandTruncated: every prefix of a command and every command with
// trailing bytes is ErrCorrupt.
func TestCommandTruncated(t *testing.T) {
	for _, c := range allCommands() {
		b := raw(c)
		for n := range len(b) {
			if _, err := decodeCommand(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%T cut to %d of %d bytes: %v, want ErrCorrupt", c, n, len(b), err)
			}
		}
		if _, err := decodeCommand(append(b, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%T with a trailing byte: %v, want ErrCorrupt", c, err)
		}
	}
}

func TestCommandBadHeader(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{commandVersion},
		{0, cmdRemoveNode, 0, 1, 'a'},
		{2, cmdRemoveNode, 0, 1, 'a'},
		{commandVersion, 0},
		{commandVersion, 7},
		{commandVersion, 13}, // the first free type
		// Unknown queue flag bits and alter queue change bits, and a change
		// bit whose field is missing.
		func() []byte {
			b := raw(queue("q", "s"))
			b[len(b)-8-2-1] = queueFlags + 1 // the flags, before the filter and the timestamp
			return b
		}(),
		{commandVersion, cmdAlterQueue, 0, 1, 'q', 1 << 5},
		{commandVersion, cmdAlterQueue, 0, 1, 'q', 0xff, 0, 0, 0, 0, 0, 0, 0, 1},
		{commandVersion, cmdAlterQueue, 0, 1, 'q', alterFilter},
		{commandVersion, cmdAlterQueue, 0, 1, 'q', alterFilter, 0, 9, 'x'}, // a filter length past the end
		{commandVersion, cmdDeleteQueue, 0, 1, 'q', 0, 0, 0},
		{commandVersion, cmdDeleteGroup, 0, 1, 'g', 0, 0, 0},
		{commandVersion, cmdPutGroup, 0, 0, 0, 0, 0, 0, 0, 1}, // no timestamp, no state
		// No state, an unknown state encoding, and a member count past the
		// end (refused before allocating).
		append([]byte{commandVersion, cmdPutGroup}, make([]byte, 16)...),
		func() []byte {
			b := raw(putGroup(group("g", 0, 1), 0, 1))
			b[18] = 99 // the state's version byte
			return b
		}(),
		func() []byte {
			b := raw(putGroup(group("g", 0, 0), 0, 1))
			be.PutUint32(b[len(b)-4:], 1<<31) // member count
			return b
		}(),
		// A member's stream list out of order: DecodeGroupState reads it,
		// but it is no state's encoding (AppendBinary would refuse it).
		bytes.Replace(raw(putGroup(group("g", 0, 1), 0, 1)), []byte("\x00\x00\x00\x05audit\x00\x00\x00\x06orders"),
			[]byte("\x00\x00\x00\x06orders\x00\x00\x00\x05audit"), 1),
		{commandVersion, cmdRemoveNode, 0xff, 0xff, 'a'}, // a length past the end
		// A replica count past the end: refused before allocating.
		{commandVersion, cmdReassignPartition, 0, 1, 'x', 0, 0, 0, 0, 0xff, 0, 0},
	} {
		if c, err := decodeCommand(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeCommand(%x) = %+v, %v; want ErrCorrupt", b, c, err)
		}
	}
}

// TestCommandFormat pins the byte layout: the commands are in raft logs on
// disk, so the layout must never change.
func TestCommandFormat(t *testing.T) {
	tests := []struct {
		c    any
		want string
	}{
		{RemoveNode{ID: "n1"}, "0102" + "0002" + "6e31"},
		{DeleteStream{Name: "ab"}, "0104" + "0002" + "6162"},
		{AllocateProducerIDs{Count: 258}, "0106" + "0000000000000102"},
		{AlterStream{Name: "a", RetentionMs: -1, MaxRecordBytes: 2}, "0105" + "000161" + "ffffffffffffffff" + "0000000000000000" + "00000002"},
		{RegisterNode{ID: "a", RaftAddr: "b:1", ClientAddr: "c:2", State: NodeActive, Timestamp: 3},
			"0101" + "000161" + "0003623a31" + "0003633a32" + "02" + "0000000000000003"},
		{ReassignPartition{Partition: "s1-p2", Replicas: []string{"b", "a"}, Epoch: 5},
			"0107" + "0005" + "73312d7032" + "00000005" + "02" + "000162" + "000161"},
		{CreateStream{Name: "s", Partitions: 3, ReplicationFactor: 2, RetentionMs: 4, RetentionBytes: -1, MaxRecordBytes: 5, Timestamp: 6},
			"0103" + "000173" + "00000003" + "02" + "0000000000000004" + "ffffffffffffffff" + "00000005" + "0000000000000006"},
		{DeleteGroup{Name: "g", Incarnation: 2}, "0109" + "000167" + "0000000000000002"},
		{CreateQueue{Name: "q", Stream: "s", VisibilityTimeoutMs: 30000, MaxReceives: 5, DeadLetterStream: "d", DelayMs: 7,
			FIFO: true, Filter: "{}", Subscription: true, Timestamp: 9},
			"010a" + "000171" + "000173" + "0000000000007530" + "00000005" + "000164" + "0000000000000007" + "03" +
				"00027b7d" + "0000000000000009"},
		{CreateQueue{Name: "q", Stream: "s", VisibilityTimeoutMs: 1, Subscription: true},
			"010a" + "000171" + "000173" + "0000000000000001" + "00000000" + "0000" + "0000000000000000" + "02" +
				"0000" + "0000000000000000"},
		{CreateQueue{Name: "q", Stream: "s", VisibilityTimeoutMs: 1, Subscription: true, Cursor: true},
			"010a" + "000171" + "000173" + "0000000000000001" + "00000000" + "0000" + "0000000000000000" + "06" +
				"0000" + "0000000000000000"},
		{AlterQueue{Name: "q", MaxReceives: new(int32(3)), Filter: new("")}, "010b" + "000171" + "12" + "00000003" + "0000"},
		{AlterQueue{Name: "q", VisibilityTimeoutMs: new(int64(1)), MaxReceives: new(int32(2)), DeadLetterStream: new("d"),
			DelayMs: new(int64(4)), Filter: new("{}")},
			"010b" + "000171" + "1f" + "0000000000000001" + "00000002" + "000164" + "0000000000000004" + "00027b7d"},
		{DeleteQueue{Name: "q", Incarnation: 2}, "010c" + "000171" + "0000000000000002"},
	}
	// A put group embeds the state in consumergroup's encoding, which
	// carries its own version byte.
	g := group("g", 1, 1)
	state, err := g.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		c    any
		want string
	}{putGroup(g, 5, 6), "0108" + "0000000000000005" + "0000000000000006" + hex.EncodeToString(state)})
	for _, tt := range tests {
		if got := hex.EncodeToString(raw(tt.c)); got != tt.want {
			t.Errorf("%T: %s, want %s", tt.c, got, tt.want)
		}
	}
}

// TestCommandInvalidGroupState: decoding checks the framing only, so a
// put group whose state is well framed but invalid decodes, and Apply
// refuses it with a *ValidationError (not fatal), changing nothing.
func TestCommandInvalidGroupState(t *testing.T) {
	// The strategy is the assignor's name: "range" -> "rangx".
	b := bytes.Replace(raw(putGroup(group("g", 0, 1), 0, 1)), []byte("\x00\x00\x00\x05range"), []byte("\x00\x00\x00\x05rangx"), 1)
	if _, err := decodeCommand(b); err != nil {
		t.Fatalf("decodeCommand = %v, want the framing accepted", err)
	}
	h := newHarness(t)
	err, _ := h.apply(b).(error)
	var fe *replication.FatalError
	if errors.As(err, &fe) || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Apply = %v, want a (non-fatal) ErrInvalidArgument", err)
	}
	if len(h.f.View().Groups()) != 0 {
		t.Fatal("a refused command changed the state")
	}
}
