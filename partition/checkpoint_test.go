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

// referenceCheckpointV2 encodes a version 2 checkpoint (before queues)
// from its documented format.
func referenceCheckpointV2(applied uint64, logEnd, clock int64, prods, offs []byte) []byte {
	b := append(referenceCheckpointV1(applied, logEnd, clock, prods), offs...)
	b[0] = 2
	return b
}

func TestCheckpointVersions(t *testing.T) {
	p := producers{}
	p.record(headerOf(t, idempotent(t, 3, 1, 0, 2)), 99)
	offs := offsetTable{
		"g": {Group: "g", Incarnation: 2, Generation: 5, Offset: 11, Metadata: "m", CommitTime: 98},
		"h": {Group: "h", Incarnation: 1, CommitTime: 97},
	}
	refOffs := referenceOffsetTable([]CommittedOffset{offs["g"], offs["h"]})
	queues := testQueueTable()

	t.Run("v1 decodes with no offsets and no queues", func(t *testing.T) {
		b := referenceCheckpointV1(7, 12, 99, p.appendTo(nil))
		c, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.applied != 7 || c.logEnd != 12 || c.clock != 99 || len(c.producers) != 1 || c.offsets == nil || len(c.offsets) != 0 ||
			c.queues == nil || len(c.queues) != 0 {
			t.Fatalf("decoded %+v", c)
		}
		// Written again, it is version 3: v1 with empty tables appended.
		want := append([]byte{3}, b[1:]...)
		if !bytes.Equal(c.encode(), append(want, 0, 0, 0, 0, 0, 0, 0, 0)) {
			t.Fatal("v1 checkpoint re-encodes to something else than v3 with empty tables")
		}
	})

	t.Run("v2 decodes with no queues", func(t *testing.T) {
		b := referenceCheckpointV2(7, 12, 99, p.appendTo(nil), refOffs)
		c, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.applied != 7 || c.logEnd != 12 || c.clock != 99 || len(c.producers) != 1 || !maps.Equal(c.offsets, offs) ||
			c.queues == nil || len(c.queues) != 0 {
			t.Fatalf("decoded %+v", c)
		}
		want := append([]byte{3}, b[1:]...)
		if !bytes.Equal(c.encode(), append(want, 0, 0, 0, 0)) {
			t.Fatal("v2 checkpoint re-encodes to something else than v3 with an empty queue table")
		}
	})

	t.Run("v3 round trip", func(t *testing.T) {
		ck := checkpoint{applied: 7, logEnd: 12, clock: 99, producers: p, offsets: offs, queues: queues}
		b := ck.encode()
		want := append(referenceCheckpointV2(7, 12, 99, p.appendTo(nil), refOffs), referenceQueueTableOf(queues)...)
		want[0] = 3
		if !bytes.Equal(b, want) {
			t.Fatal("v3 encoding differs from the documented format")
		}
		c, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if c.applied != 7 || c.logEnd != 12 || c.clock != 99 || len(c.producers) != 1 || !maps.Equal(c.offsets, offs) ||
			!bytes.Equal(referenceQueueTableOf(c.queues), referenceQueueTableOf(queues)) {
			t.Fatalf("decoded %+v", c)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		v3 := (&checkpoint{logEnd: 12, producers: p, offsets: offs, queues: queues}).encode()
		v2 := referenceCheckpointV2(1, 12, 3, p.appendTo(nil), refOffs)
		v1 := referenceCheckpointV1(1, 2, 3, p.appendTo(nil))
		lowEnd := append([]byte(nil), v3...)
		binary.BigEndian.PutUint64(lowEnd[9:], 11) // below a queue's floor
		for name, b := range map[string][]byte{
			"version 4":                append([]byte{4}, v3[1:]...),
			"version 0":                append([]byte{0}, v3[1:]...),
			"v2 without a table":       append([]byte{2}, v1[1:]...),
			"v2 table truncated":       v2[:len(v2)-1],
			"v2 trailing byte":         append(v2, 0),
			"v1 with a table":          append([]byte{1}, v2[1:]...),
			"v2 table count too big":   append(v2[:len(v1)], 0xff, 0xff, 0xff, 0xff),
			"v2 with a queue table":    append([]byte{2}, v3[1:]...),
			"v3 without a queue table": append([]byte{3}, v2[1:]...),
			"v3 queue table truncated": v3[:len(v3)-1],
			"v3 trailing byte":         append(v3, 0),
			"v3 queue count too big":   append(append([]byte{3}, v2[1:]...), 0xff, 0xff, 0xff, 0xff),
			"v3 floor past log end":    lowEnd,
		} {
			if _, err := decodeCheckpoint(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", name, err)
			}
		}
	})
}
