package partition

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandVersion})
	f.Add(encodeAdvanceLogStart(0))
	f.Add(encodeAdvanceLogStart(1 << 62))
	f.Add(encodeProduce(nil, 5, []byte("not a batch")))
	f.Add(append(encodeAdvanceLogStart(3), 0))
	full := OffsetCommit{Group: "group", Incarnation: 3, Generation: 7, Offset: 1 << 40, Metadata: "meta"}
	long := OffsetCommit{Group: strings.Repeat("g", MaxGroupBytes), Incarnation: 1,
		Metadata: strings.Repeat("m", MaxOffsetMetadataBytes)}
	for _, c := range []OffsetCommit{full, long} {
		b, err := encodeCommitOffset(1_700_000_000_000, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add(commitCmd(-1, "", 0, -1, -1, ""))                        // decodes; Apply refuses it
	f.Add([]byte{commandVersion, cmdCommitOffset})                 // no fields
	f.Add(append(commitCmd(0, "g", 1, 0, 0, "")[:10], 0xff, 0xff)) // group length past the end
	f.Add(deleteCmd("group", 9))
	f.Add(deleteCmd("", 0))
	f.Add(append(deleteCmd("g", 1), 0))
	f.Add([]byte{commandVersion, cmdDeleteGroupOffsets, 0xff})
	batch := appendCommitOffsets(nil, 1_700_000_000_000, []OffsetCommit{full, long, {Group: "x", Incarnation: 1}})
	f.Add(batch)
	f.Add(batch[:len(batch)-1])
	f.Add(append(batch, 0))
	f.Add(appendCommitOffsets(nil, 0, nil)) // no entries
	qu := queueCmd(1_700_000_000_000, "queue", qInit(3), qRecv(4), qAck(5), qAckRange(6, 1<<40))
	f.Add(qu)
	f.Add(qu[:len(qu)-1])
	f.Add(append(qu, 0))
	f.Add(queueCmd(-1, "", qAckRange(-1, -2)))                             // decodes; Apply refuses it
	f.Add(appendQueueUpdate(nil, 0, "q", nil))                             // no ops
	f.Add(appendQueueUpdate(nil, 0, "q", []QueueOp{{Kind: 9, Offset: 1}})) // unknown kind
	f.Add(appendQueueUpdate(nil, 0, strings.Repeat("q", MaxQueueNameBytes), slices.Repeat([]QueueOp{qRecv(1)}, MaxQueueOps)))
	f.Add(queueDeleteCmd("queue"))
	f.Add(queueDeleteCmd(""))
	f.Add(append(queueDeleteCmd("q"), 0))
	f.Add([]byte{commandVersion, cmdQueueUpdate})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var again []byte
		switch c.typ {
		case cmdProduce:
			again = encodeProduce(nil, c.timestamp, c.batch)
		case cmdAdvanceLogStart:
			again = encodeAdvanceLogStart(c.offset)
		case cmdCommitOffset:
			// What the encoder refuses, Apply refuses too (the same
			// validate); what it accepts encodes to the same bytes.
			if again, err = encodeCommitOffset(c.timestamp, c.commit); err != nil {
				if !errors.Is(err, ErrInvalidOffsetCommit) {
					t.Fatalf("encode: %v", err)
				}
				again = appendCommitOffset(nil, c.timestamp, c.commit)
			}
		case cmdCommitOffsets:
			again = appendCommitOffsets(nil, c.timestamp, c.commits)
		case cmdQueueUpdate:
			if len(c.queueOps) < 1 || len(c.queueOps) > MaxQueueOps {
				t.Fatalf("decoded %d ops", len(c.queueOps))
			}
			again = appendQueueUpdate(nil, c.timestamp, c.queue, c.queueOps)
		case cmdQueueDelete:
			again = appendQueueDelete(nil, c.queue)
		case cmdDeleteGroupOffsets:
			if again, err = encodeDeleteGroupOffsets(c.commit.Group, c.commit.Incarnation); err != nil {
				if !errors.Is(err, ErrInvalidOffsetCommit) {
					t.Fatalf("encode: %v", err)
				}
				again = appendDeleteGroupOffsets(nil, c.commit.Group, c.commit.Incarnation)
			}
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	p := producers{}
	p.record(headerOf(f, idempotent(f, 3, 1, 0, 2)), 99)
	offs := offsetTable{
		"a": {Group: "a", Incarnation: 1, Generation: 2, Offset: 3, Metadata: "m", CommitTime: 99},
		"b": {Group: "b", Incarnation: 4},
	}
	full := checkpoint{applied: 7, logEnd: 12, clock: 99, producers: p, offsets: offs, queues: testQueueTable()}
	empty := checkpoint{producers: producers{}, offsets: offsetTable{}, queues: queueTable{}}
	f.Add([]byte{})
	f.Add(empty.encode())
	f.Add(full.encode())
	f.Add(append(full.encode(), 1))
	f.Add(referenceCheckpointV1(7, 12, 99, p.appendTo(nil)))
	f.Add(referenceCheckpointV1(0, 0, 0, producers{}.appendTo(nil)))
	f.Add(referenceCheckpointV2(7, 12, 99, p.appendTo(nil), offs.appendTo(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		want := b
		switch b[0] {
		case checkpointVersionV1:
			// Written again as version 3, with empty offset and queue
			// tables.
			want = append(append([]byte{checkpointVersion}, b[1:]...), 0, 0, 0, 0, 0, 0, 0, 0)
		case checkpointVersionV2:
			// Written again as version 3, with an empty queue table.
			want = append(append([]byte{checkpointVersion}, b[1:]...), 0, 0, 0, 0)
		}
		if !bytes.Equal(c.encode(), want) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzRestore feeds arbitrary bytes to Restore: it must refuse them with
// ErrCorrupt (or accept a valid stream) and the replica must keep serving.
func FuzzRestore(f *testing.F) {
	src, snap := snapshotBytes(f, 5)
	v1 := referenceStream(1, src.AppliedIndex(), src.clock, src.LogStartOffset(), src.log().LogEndOffset(),
		src.producers.appendTo(nil), nil, nil, snapshotPrefixes(f, src))
	f.Add([]byte{})
	f.Add(snap)
	f.Add(snap[:50])
	f.Add(v1)
	f.Add(v1[:50])
	f.Add(append([]byte(snapshotMagic), snapshotVersion))
	f.Add(append([]byte(snapshotMagic), snapshotVersionV1))
	f.Add(append([]byte(snapshotMagic), snapshotVersionV2))
	v2 := referenceStream(2, src.AppliedIndex(), src.clock, src.LogStartOffset(), src.log().LogEndOffset(),
		src.producers.appendTo(nil), referenceOffsetTable(src.CommittedOffsets()), nil, snapshotPrefixes(f, src))
	f.Add(v2)
	// One Pebble for all runs (opening one is slow); a fresh replica each.
	n := newNode(f, vfs.NewMem())
	runs := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		runs++
		id := fmt.Sprint("p", runs)
		r := n.open(t, id)
		defer func() {
			_ = r.Close()
			_ = n.fs.RemoveAll(n.config(id).Log.Dir)
		}()
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v", err)
			}
			if r.HighWatermark() != 0 {
				t.Fatalf("refused restore changed the replica")
			}
		}
	})
}

func FuzzDecodeQueueTable(f *testing.F) {
	f.Add([]byte{}, int64(0))
	f.Add([]byte{0, 0, 0, 0}, int64(0))
	full := testQueueTable().appendTo(nil)
	f.Add(full, int64(12))
	f.Add(full, int64(11))
	f.Add(full[:len(full)-1], int64(12))
	f.Add(append(full, 7), int64(1<<40))
	f.Add([]byte{0, 0, 0, 1, 0, 1, 'q', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0}, int64(5))
	f.Fuzz(func(t *testing.T, b []byte, logEnd int64) {
		q, rest, err := decodeQueueTable(b, logEnd)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if enc := q.appendTo(nil); !bytes.Equal(enc, b[:len(b)-len(rest)]) || int64(len(enc)) != q.size() {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzDecodeOffsetTable(f *testing.F) {
	offs := offsetTable{
		"a": {Group: "a", Incarnation: 1, Generation: 2, Offset: 3, Metadata: "m", CommitTime: 99},
		"b": {Group: "b", Incarnation: 4},
	}
	full := offs.appendTo(nil)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(full)
	f.Add(full[:len(full)-1])
	f.Add(append(bytes.Clone(full), 7))
	long := offsetTable{"g": {Group: strings.Repeat("g", MaxGroupBytes), Incarnation: 1,
		Metadata: strings.Repeat("m", MaxOffsetMetadataBytes)}}
	f.Add(long.appendTo(nil))
	// Out of order, and over the group length limit.
	entry := func(g string) []byte { return offsetTable{g: offs[g]}.appendTo(nil)[4:] }
	f.Add(slices.Concat([]byte{0, 0, 0, 2}, entry("b"), entry("a")))
	f.Add(offsetTable{"g": {Group: strings.Repeat("g", MaxGroupBytes+1), Incarnation: 1}}.appendTo(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, rest, err := decodeOffsetTable(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		enc := tab.appendTo(nil)
		if !bytes.Equal(enc, b[:len(b)-len(rest)]) || int64(len(enc)) != tab.size() {
			t.Fatalf("round trip differs")
		}
		for g, e := range tab {
			if g != e.Group {
				t.Fatalf("entry of %q holds group %q", g, e.Group)
			}
		}
	})
}

func FuzzDecodeProducers(f *testing.F) {
	p := producers{}
	p.record(headerOf(f, idempotent(f, 3, 1, 0, 2)), 99)
	p.record(headerOf(f, idempotent(f, 9, 0, 5, 1)), 100)
	full := p.appendTo(nil)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(full)
	f.Add(full[:len(full)-1])
	f.Add(append(bytes.Clone(full), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, rest, err := decodeProducers(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(p.appendTo(nil), b[:len(b)-len(rest)]) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzParseSnapshotID: a snapshot directory name parses only in the
// canonical form, which its id prints back.
func FuzzParseSnapshotID(f *testing.F) {
	for _, s := range []string{"", "1-2-3", "0-0-0", "01-2-3", "1-2", "1-2-3-4", "+1-2-3", "-1-2",
		"18446744073709551615-18446744073709551615-18446744073709551615", "18446744073709551616-0-0", "1-2-3.tmp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, ok := parseSnapshotID(name)
		if !ok {
			return
		}
		if id.String() != name {
			t.Fatalf("parseSnapshotID(%q) = %v, which prints as %q", name, id, id.String())
		}
	})
}
