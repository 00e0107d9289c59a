package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"testing"
)

// referenceCheckpointV1 encodes a version 1 checkpoint (before committed
// offsets) from its documented format.
func referenceCheckpointV1(applied uint64, logEnd, clock int64, prods []byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint64([]byte{1}, applied)
	b = be.AppendUint64(b, uint64(logEnd))
	b = be.AppendUint64(b, uint64(clock))
	return append(b, prods...)
}

func TestCheckpointVersions(t *testing.T) {
	p := producers{}
	p.record(headerOf(t, idempotent(t, 3, 1, 0, 2)), 99)
	offs := offsetTable{
		"g": {Group: "g", Incarnation: 2, Generation: 5, Offset: 11, Metadata: "m", CommitTime: 98},
		"h": {Group: "h", Incarnation: 1, CommitTime: 97},
	}

	t.Run("v1 decodes with no offsets", func(t *testing.T) {
		b := referenceCheckpointV1(7, 12, 99, p.appendTo(nil))
		c, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.applied != 7 || c.logEnd != 12 || c.clock != 99 || len(c.producers) != 1 || c.offsets == nil || len(c.offsets) != 0 {
			t.Fatalf("decoded %+v", c)
		}
		// Written again, it is version 2: v1 with an empty table appended.
		want := append([]byte{2}, b[1:]...)
		if !bytes.Equal(c.encode(), append(want, 0, 0, 0, 0)) {
			t.Fatal("v1 checkpoint re-encodes to something else than v2 with an empty table")
		}
	})

	t.Run("v2 round trip", func(t *testing.T) {
		ck := checkpoint{applied: 7, logEnd: 12, clock: 99, producers: p, offsets: offs}
		b := ck.encode()
		want := append(referenceCheckpointV1(7, 12, 99, p.appendTo(nil)), referenceOffsetTable([]CommittedOffset{offs["g"], offs["h"]})...)
		want[0] = 2
		if !bytes.Equal(b, want) {
			t.Fatal("v2 encoding differs from the documented format")
		}
		c, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.applied != 7 || c.logEnd != 12 || c.clock != 99 || len(c.producers) != 1 || !maps.Equal(c.offsets, offs) {
			t.Fatalf("decoded %+v", c)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		v2 := (&checkpoint{producers: p, offsets: offs}).encode()
		v1 := referenceCheckpointV1(1, 2, 3, p.appendTo(nil))
		for name, b := range map[string][]byte{
			"version 3":              append([]byte{3}, v2[1:]...),
			"version 0":              append([]byte{0}, v2[1:]...),
			"v2 without a table":     append([]byte{2}, v1[1:]...),
			"v2 table truncated":     v2[:len(v2)-1],
			"v2 trailing byte":       append(v2, 0),
			"v1 with a table":        append([]byte{1}, v2[1:]...),
			"v2 table count too big": append(v2[:len(v1)], 0xff, 0xff, 0xff, 0xff),
		} {
			if _, err := decodeCheckpoint(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", name, err)
			}
		}
	})
}
