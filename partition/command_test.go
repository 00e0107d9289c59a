package partition

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestOffsetCommandCodec(t *testing.T) {
	commits := []struct {
		ts int64
		c  OffsetCommit
	}{
		{0, OffsetCommit{Group: "g", Incarnation: 1}},
		{-1, OffsetCommit{Group: "grüße", Incarnation: 1<<64 - 1, Generation: 1<<31 - 1, Offset: 1<<63 - 1, Metadata: "\x00meta\xff"}},
		{1 << 62, OffsetCommit{Group: strings.Repeat("g", MaxGroupBytes), Incarnation: 9, Generation: 3, Offset: 12,
			Metadata: strings.Repeat("m", MaxOffsetMetadataBytes)}},
	}
	for _, tc := range commits {
		b, err := encodeCommitOffset(tc.ts, tc.c)
		if err != nil {
			t.Fatal(err)
		}
		// The documented layout, written out by hand.
		be := binary.BigEndian
		want := be.AppendUint64([]byte{1, 3}, uint64(tc.ts))
		want = append(be.AppendUint16(want, uint16(len(tc.c.Group))), tc.c.Group...)
		want = be.AppendUint64(want, tc.c.Incarnation)
		want = be.AppendUint32(want, uint32(tc.c.Generation))
		want = be.AppendUint64(want, uint64(tc.c.Offset))
		want = append(be.AppendUint16(want, uint16(len(tc.c.Metadata))), tc.c.Metadata...)
		if string(b) != string(want) {
			t.Fatalf("encoding of %+v differs from the documented layout", tc.c)
		}
		c, err := decodeCommand(b)
		if err != nil || c.typ != cmdCommitOffset || c.timestamp != tc.ts || c.commit != tc.c {
			t.Fatalf("decode: %+v, %v; want %+v at %d", c, err, tc.c, tc.ts)
		}
		// The strings do not alias the command (raft may reuse its bytes).
		for i := range b {
			b[i] ^= 0xff
		}
		if c.commit != tc.c {
			t.Fatal("decoded strings alias the command")
		}
		for n := range len(want) {
			if _, err := decodeCommand(want[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d of %d bytes: %v", n, len(want), err)
			}
		}
		if _, err := decodeCommand(append(want, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("trailing byte: %v", err)
		}
	}

	del, err := encodeDeleteGroupOffsets("grüße", 1<<64-1)
	if err != nil {
		t.Fatal(err)
	}
	want := binary.BigEndian.AppendUint64(append([]byte{1, 4, 0, 7}, "grüße"...), 1<<64-1)
	if string(del) != string(want) {
		t.Fatalf("delete encoding %x, want %x", del, want)
	}
	c, err := decodeCommand(del)
	if err != nil || c.typ != cmdDeleteGroupOffsets || c.commit != (OffsetCommit{Group: "grüße", Incarnation: 1<<64 - 1}) {
		t.Fatalf("decode delete: %+v, %v", c, err)
	}
	for n := range len(del) {
		if _, err := decodeCommand(del[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("delete truncated to %d bytes: %v", n, err)
		}
	}

	for name, b := range map[string][]byte{
		"group length past the end":    {1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 'g'},
		"metadata length past the end": append(commitCmd(0, "g", 1, 0, 0, "")[:len(commitCmd(0, "g", 1, 0, 0, ""))-2], 0, 9, 'm'),
		"delete group past the end":    {1, 4, 0x80, 0, 'g', 0, 0, 0, 0, 0, 0, 0, 1},
		"delete trailing":              append(deleteCmd("g", 1), 0),
		"delete without incarnation":   {1, 4, 0, 1, 'g'},
		"other version":                append([]byte{2}, commitCmd(0, "g", 1, 0, 0, "")[1:]...),
	} {
		if _, err := decodeCommand(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}

	// The encoders refuse what Apply would refuse.
	if _, err := encodeCommitOffset(0, OffsetCommit{Group: "g"}); !errors.Is(err, ErrInvalidOffsetCommit) {
		t.Fatalf("encode incarnation 0: %v", err)
	}
	if _, err := encodeDeleteGroupOffsets(strings.Repeat("g", 1<<16), 1); !errors.Is(err, ErrInvalidOffsetCommit) {
		t.Fatalf("encode delete of a long group: %v", err)
	}
}
