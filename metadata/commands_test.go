package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func TestEncodeValidates(t *testing.T) {
	tests := []struct {
		name   string
		encode func() ([]byte, error)
		field  string // "": valid
	}{
		{"register", func() ([]byte, error) { return EncodeRegisterNode(node("n1", NodeJoining)) }, ""},
		{"register bad id", func() ([]byte, error) { return EncodeRegisterNode(node("n/1", NodeJoining)) }, "node id"},
		{"register bad addr", func() ([]byte, error) {
			return EncodeRegisterNode(RegisterNode{ID: "n1", RaftAddr: "x", ClientAddr: "h:1", State: NodeActive})
		}, "raft address"},
		{"register removed", func() ([]byte, error) { return EncodeRegisterNode(node("n1", NodeRemoved)) }, "state"},
		{"remove", func() ([]byte, error) { return EncodeRemoveNode(RemoveNode{ID: "n1"}) }, ""},
		{"remove bad id", func() ([]byte, error) { return EncodeRemoveNode(RemoveNode{}) }, "node id"},
		{"create defaults", func() ([]byte, error) { return EncodeCreateStream(CreateStream{Name: "s", Partitions: 1}) }, ""},
		{"create no partitions", func() ([]byte, error) { return EncodeCreateStream(CreateStream{Name: "s"}) }, "partitions"},
		{"create bad name", func() ([]byte, error) { return EncodeCreateStream(CreateStream{Name: "..", Partitions: 1}) }, "name"},
		{"create rf 8", func() ([]byte, error) {
			return EncodeCreateStream(CreateStream{Name: "s", Partitions: 1, ReplicationFactor: 8})
		}, "replication factor"},
		{"create retention -2", func() ([]byte, error) {
			return EncodeCreateStream(CreateStream{Name: "s", Partitions: 1, RetentionMs: -2})
		}, "retention ms"},
		{"delete", func() ([]byte, error) { return EncodeDeleteStream(DeleteStream{Name: "s"}) }, ""},
		{"delete bad name", func() ([]byte, error) { return EncodeDeleteStream(DeleteStream{Name: "a b"}) }, "name"},
		{"alter", func() ([]byte, error) { return EncodeAlterStream(AlterStream{Name: "s", RetentionBytes: 1 << 30}) }, ""},
		{"alter nothing", func() ([]byte, error) { return EncodeAlterStream(AlterStream{Name: "s"}) }, "alter"},
		{"alter max record too big", func() ([]byte, error) {
			return EncodeAlterStream(AlterStream{Name: "s", MaxRecordBytes: MaxRecordBytesLimit + 1})
		}, "max record bytes"},
		{"allocate", func() ([]byte, error) { return EncodeAllocateProducerIDs(AllocateProducerIDs{Count: 1}) }, ""},
		{"allocate 0", func() ([]byte, error) { return EncodeAllocateProducerIDs(AllocateProducerIDs{}) }, "count"},
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

func TestEncodeCreateStreamDefaults(t *testing.T) {
	b, err := EncodeCreateStream(CreateStream{Name: "s", Partitions: 2, Timestamp: 7})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	want := CreateStream{Name: "s", Partitions: 2, ReplicationFactor: DefaultReplicationFactor,
		RetentionMs: DefaultRetentionMs, RetentionBytes: Unlimited, MaxRecordBytes: DefaultMaxRecordBytes, Timestamp: 7}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
}

// TestEncodeApplyAgree: what an Encode function accepts, Apply accepts
// too (given the state allows it).
func TestEncodeApplyAgree(t *testing.T) {
	h := newHarness(t)
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return EncodeRegisterNode(node("n1", NodeActive)) },
		func() ([]byte, error) {
			return EncodeCreateStream(CreateStream{Name: "s", Partitions: 3, ReplicationFactor: 1})
		},
		func() ([]byte, error) { return EncodeAlterStream(AlterStream{Name: "s", RetentionMs: Unlimited}) },
		func() ([]byte, error) { return EncodeAllocateProducerIDs(AllocateProducerIDs{Count: 100}) },
		func() ([]byte, error) { return EncodeDeleteStream(DeleteStream{Name: "s"}) },
		func() ([]byte, error) { return EncodeRemoveNode(RemoveNode{ID: "n1"}) },
	} {
		b, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		if err, ok := h.apply(b).(error); ok {
			t.Fatalf("Apply = %v", err)
		}
	}
}

func TestNodeStateString(t *testing.T) {
	for s, want := range map[NodeState]string{NodeJoining: "joining", NodeActive: "active", NodeRemoved: "removed", 7: "NodeState(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}
