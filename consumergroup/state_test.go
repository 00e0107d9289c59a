package consumergroup

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleState() *GroupState {
	return &GroupState{Name: "g", Incarnation: 3, Version: 99, Generation: 7, Strategy: CooperativeStickyName,
		Streams: []string{"a", "b"}, CreatedAt: 1, UpdatedAt: 2,
		Members: []MemberState{
			{ID: "m1", InstanceID: "i1", Streams: []string{"a", "b"}, SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
				Assigned: tps("a/0", "b/1")},
			{ID: "m2", Streams: []string{"a"}, SessionTimeoutMs: 10000, Assigned: tps("a/1")},
		}}
}

func TestGroupStateRoundTrip(t *testing.T) {
	g := sampleState()
	b, err := g.AppendBinary([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	got, rest, err := DecodeGroupState(append(b[len("prefix"):], 0xAA))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, g)
	}
	if !bytes.Equal(rest, []byte{0xAA}) {
		t.Errorf("rest %x", rest)
	}
}

func TestGroupStateInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(g *GroupState)
	}{
		{"empty name", func(g *GroupState) { g.Name = "" }},
		{"negative generation", func(g *GroupState) { g.Generation = -1 }},
		{"unknown strategy", func(g *GroupState) { g.Strategy = "x" }},
		{"members unsorted", func(g *GroupState) { g.Members[0], g.Members[1] = g.Members[1], g.Members[0] }},
		{"duplicate instance", func(g *GroupState) { g.Members[1].InstanceID = "i1" }},
		{"session timeout", func(g *GroupState) { g.Members[0].SessionTimeoutMs = 5 }},
		{"no streams", func(g *GroupState) { g.Members[1].Streams = nil; g.Members[1].Assigned = nil }},
		{"assigned twice", func(g *GroupState) { g.Members[1].Assigned = tps("a/0") }},
		{"assigned unsubscribed", func(g *GroupState) { g.Members[1].Assigned = tps("b/5") }},
		{"negative partition", func(g *GroupState) { g.Members[1].Assigned = tps("a/1"); g.Members[1].Assigned[0].Partition = -1 }},
		{"group streams unsorted", func(g *GroupState) { g.Streams = []string{"b", "a"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := sampleState()
			tt.edit(g)
			if err := g.Validate(); !errors.Is(err, ErrInvalidGroupState) {
				t.Errorf("Validate: %v, want ErrInvalidGroupState", err)
			}
		})
	}
}

func TestAppendBinaryUnencodable(t *testing.T) {
	g := sampleState()
	g.Members[1].Assigned = tps("zz/0")
	if _, err := g.AppendBinary(nil); !errors.Is(err, ErrInvalidGroupState) {
		t.Errorf("AppendBinary of a partition of an unlisted stream: %v", err)
	}
}

func TestDecodeGroupStateCorrupt(t *testing.T) {
	good, err := sampleState().AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if _, _, err := DecodeGroupState(good[:n]); !errors.Is(err, ErrInvalidGroupState) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	bad := bytes.Clone(good)
	bad[0] = 9
	if _, _, err := DecodeGroupState(bad); !errors.Is(err, ErrInvalidGroupState) {
		t.Errorf("version 9: %v", err)
	}
}

func FuzzDecodeGroupState(f *testing.F) {
	good, err := sampleState().AppendBinary(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, rest, err := DecodeGroupState(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidGroupState) {
				t.Fatalf("error %v does not match ErrInvalidGroupState", err)
			}
			return
		}
		if g.Validate() != nil {
			return // framing only: callers validate
		}
		again, err := g.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded valid state does not encode: %v", err)
		}
		if !bytes.Equal(again, b[:len(b)-len(rest)]) {
			t.Fatalf("re-encoding differs")
		}
	})
}
