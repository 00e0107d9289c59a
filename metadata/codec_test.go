package metadata

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
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
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(raw(tt.c)); got != tt.want {
			t.Errorf("%T: %s, want %s", tt.c, got, tt.want)
		}
	}
}
