package metadata

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"slices"
	"testing"
	"testing/iotest"
)

// scripted returns a harness that applied commandScript.
func scripted(t testing.TB) *harness {
	h := newHarness(t)
	for _, c := range commandScript() {
		h.do(c)
	}
	return h
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, h := range map[string]*harness{"empty": newHarness(t), "scripted": scripted(t)} {
		t.Run(name, func(t *testing.T) {
			snap := snapshotOf(t, h.f)
			f := NewFSM()
			if err := f.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(snapshotOf(t, f), snap) {
				t.Fatal("snapshot of the restored state differs")
			}
			a, b := h.f.View(), f.View()
			if f.AppliedIndex() != h.f.AppliedIndex() || a.Version() != b.Version() || a.NextProducerID() != b.NextProducerID() {
				t.Fatalf("applied %d/%d version %d/%d", f.AppliedIndex(), h.f.AppliedIndex(), b.Version(), a.Version())
			}
			if !reflect.DeepEqual(a.Nodes(), b.Nodes()) || !reflect.DeepEqual(a.Streams(), b.Streams()) {
				t.Fatal("restored view differs")
			}
			for _, s := range b.Streams() {
				for i := range s.Partitions {
					if b.Partition(s.Partitions[i].ID) != &s.Partitions[i] {
						t.Fatalf("partition %s not found after restore", s.Partitions[i].ID)
					}
				}
			}
			// The restored replica goes on exactly like the original.
			r := &harness{t: t, f: f, index: h.index}
			for _, c := range []any{stream("later", 5, 2), AllocateProducerIDs{Count: 3}, RemoveNode{ID: "n1"}} {
				h.do(c)
				r.do(c)
			}
			if !bytes.Equal(snapshotOf(t, h.f), snapshotOf(t, r.f)) {
				t.Fatal("a restored replica diverged")
			}
		})
	}
}

// TestSnapshotIsPointInTime: a captured snapshot persists the state of
// when it was taken, whatever Apply did since.
func TestSnapshotIsPointInTime(t *testing.T) {
	h := scripted(t)
	want := snapshotOf(t, h.f)
	s, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.must(stream("new", 3, 3))
	h.must(AllocateProducerIDs{Count: 9})
	var buf bytes.Buffer
	if err := s.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	s.Release()
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("snapshot changed after it was taken")
	}
}

func TestSnapshotFormat(t *testing.T) {
	got := encodeSnapshot(emptyView(), 0)
	want := []byte("SLMD\x02" +
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // applied
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // version
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // next producer id
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // next stream id
		"\x00\x00\x00\x00" + "\x00\x00\x00\x00") // no nodes, no streams
	want = be.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(got, want) {
		t.Fatalf("empty snapshot\n got %x\nwant %x", got, want)
	}
}

// resign replaces the CRC trailer of b, so that a test can corrupt the
// body past the checksum.
func resign(b []byte) []byte {
	body := b[:len(b)-crcSize]
	return be.AppendUint32(bytes.Clone(body), crc32.Checksum(body, crcTable))
}

// mutated returns the snapshot of a copy of h's state changed by fn.
func mutated(t *testing.T, h *harness, fn func(v *View, applied *uint64)) []byte {
	t.Helper()
	v, applied, err := decodeSnapshot(snapshotOf(t, h.f)) // a deep copy
	if err != nil {
		t.Fatal(err)
	}
	fn(v, &applied)
	return encodeSnapshot(v, applied)
}

func TestRestoreRefusesCorrupt(t *testing.T) {
	h := scripted(t)
	good := snapshotOf(t, h.f)
	first := func(v *View) *Stream { return v.streams[v.names[0]] }
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	tests := map[string][]byte{
		"empty":            nil,
		"magic only":       []byte(snapshotMagic),
		"truncated header": good[:20],
		"truncated body":   good[:len(good)/2],
		"no trailer":       good[:len(good)-crcSize],
		"trailing garbage": append(bytes.Clone(good), 1, 2, 3),
		"trailing signed":  resign(append(bytes.Clone(good[:len(good)-crcSize]), 0, 0, 0, 0, 9)),
		"flipped byte":     flipped,
		"bad magic":        resign(append([]byte("XLMD"), good[4:]...)),
		"bad version":      resign(append([]byte("SLMD\x03"), good[5:]...)),
		"version 0":        resign(append([]byte("SLMD\x00"), good[5:]...)),
		"huge node count": resign(func() []byte {
			b := bytes.Clone(good)
			be.PutUint32(b[snapshotHeaderSize:], 1<<31)
			return b
		}()),
		"version above applied": mutated(t, h, func(v *View, applied *uint64) { v.version = *applied + 1 }),
		"negative producer id":  mutated(t, h, func(v *View, _ *uint64) { v.nextProducerID = -1 }),
		"next stream id 0":      mutated(t, h, func(v *View, _ *uint64) { v.nextStreamID = 0 }),
		"nodes unsorted": mutated(t, h, func(v *View, _ *uint64) {
			v.nodeIDs[0], v.nodeIDs[1] = v.nodeIDs[1], v.nodeIDs[0]
		}),
		"bad node state":  mutated(t, h, func(v *View, _ *uint64) { v.nodes[v.nodeIDs[0]].State = 0 }),
		"bad node id":     mutated(t, h, func(v *View, _ *uint64) { v.nodes[v.nodeIDs[0]].ID = "a b" }),
		"bad node addr":   mutated(t, h, func(v *View, _ *uint64) { v.nodes[v.nodeIDs[0]].RaftAddr = "nope" }),
		"stream id 0":     mutated(t, h, func(v *View, _ *uint64) { first(v).ID = 0 }),
		"stream id ahead": mutated(t, h, func(v *View, _ *uint64) { first(v).ID = v.nextStreamID }),
		"stream id twice": mutated(t, h, func(v *View, _ *uint64) { v.streams[v.names[1]].ID = first(v).ID }),
		"streams unsorted": mutated(t, h, func(v *View, _ *uint64) {
			v.names[0], v.names[1] = v.names[1], v.names[0]
		}),
		"bad stream name": mutated(t, h, func(v *View, _ *uint64) { first(v).Name = "." }),
		"bad retention":   mutated(t, h, func(v *View, _ *uint64) { first(v).RetentionMs = 0 }),
		"rf 0":            mutated(t, h, func(v *View, _ *uint64) { first(v).ReplicationFactor = 0 }),
		"no partitions":   mutated(t, h, func(v *View, _ *uint64) { first(v).Partitions = nil }),
		"range gap":       mutated(t, h, func(v *View, _ *uint64) { first(v).Partitions[0].HashKeyEnd[15] ^= 1 }),
		"range short":     mutated(t, h, func(v *View, _ *uint64) { s := first(v); s.Partitions[len(s.Partitions)-1].HashKeyEnd[0] = 0xfe }),
		"range start":     mutated(t, h, func(v *View, _ *uint64) { first(v).Partitions[0].HashKeyStart[15] = 1 }),
		"unknown replica": mutated(t, h, func(v *View, _ *uint64) { first(v).Partitions[0].Replicas[0] = "zz" }),
		"replica twice": mutated(t, h, func(v *View, _ *uint64) {
			s := v.streams["after"]
			s.Partitions[0].Replicas[1] = s.Partitions[0].Replicas[0]
		}),
		"replicas below rf at epoch 0": mutated(t, h, func(v *View, _ *uint64) {
			s := v.streams["after"]
			s.Partitions[2].Replicas = s.Partitions[2].Replicas[:1]
		}),
		"no replicas after a reassignment": mutated(t, h, func(v *View, _ *uint64) {
			s := v.streams["after"]
			s.Partitions[0].Epoch, s.Partitions[0].Replicas = 1, nil
		}),
		"too many replicas after a reassignment": mutated(t, h, func(v *View, _ *uint64) {
			s := v.streams["after"]
			s.Partitions[0].Epoch = 1
			for _, id := range v.nodeIDs {
				if !slices.Contains(s.Partitions[0].Replicas, id) {
					s.Partitions[0].Replicas = append(s.Partitions[0].Replicas, id)
				}
			}
			for i := 0; len(s.Partitions[0].Replicas) <= MaxReplicationFactor; i++ {
				s.Partitions[0].Replicas = append(s.Partitions[0].Replicas, s.Partitions[0].Replicas[i])
			}
		}),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			f := NewFSM()
			before := f.View()
			err := f.Restore(bytes.NewReader(b))
			t.Log(err)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v, want ErrCorrupt", err)
			}
			if f.View() != before || f.AppliedIndex() != 0 {
				t.Fatal("a refused snapshot changed the state")
			}
		})
	}
}

func TestRestoreReadError(t *testing.T) {
	h := scripted(t)
	want := snapshotOf(t, h.f)
	boom := errors.New("boom")
	err := h.f.Restore(io.MultiReader(bytes.NewReader([]byte("SLMD")), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Restore = %v, want the read error", err)
	}
	if !bytes.Equal(snapshotOf(t, h.f), want) {
		t.Fatal("a failed restore changed the state")
	}
}

// encodeSnapshotV1 writes v in the version 1 layout (no partition epochs),
// as the code before ReassignPartition did.
func encodeSnapshotV1(v *View, applied uint64) []byte {
	b := append([]byte(snapshotMagic), snapshotVersionV1)
	b = be.AppendUint64(b, applied)
	b = be.AppendUint64(b, v.version)
	b = be.AppendUint64(b, uint64(v.nextProducerID))
	b = be.AppendUint64(b, v.nextStreamID)
	b = be.AppendUint32(b, uint32(len(v.nodeIDs)))
	for _, id := range v.nodeIDs {
		n := v.nodes[id]
		b = appendStr(b, n.ID)
		b = appendStr(b, n.RaftAddr)
		b = appendStr(b, n.ClientAddr)
		b = append(b, byte(n.State))
		b = be.AppendUint64(b, uint64(n.RegisteredAt))
	}
	b = be.AppendUint32(b, uint32(len(v.names)))
	for _, name := range v.names {
		s := v.streams[name]
		b = be.AppendUint64(b, s.ID)
		b = appendStr(b, s.Name)
		b = append(b, byte(s.ReplicationFactor))
		b = be.AppendUint64(b, uint64(s.RetentionMs))
		b = be.AppendUint64(b, uint64(s.RetentionBytes))
		b = be.AppendUint32(b, uint32(s.MaxRecordBytes))
		b = be.AppendUint64(b, uint64(s.CreatedAt))
		b = be.AppendUint32(b, uint32(len(s.Partitions)))
		for _, p := range s.Partitions {
			b = append(b, p.HashKeyStart[:]...)
			b = append(b, p.HashKeyEnd[:]...)
			b = append(b, byte(len(p.Replicas)))
			for _, r := range p.Replicas {
				b = appendStr(b, r)
			}
		}
	}
	return be.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// TestSnapshotV1: a version 1 snapshot (written before partitions had an
// epoch) restores to the same state, every epoch 0; one with a replica set
// of another size than the replication factor is corrupt, as it was.
func TestSnapshotV1(t *testing.T) {
	h := newHarness(t)
	for _, c := range commandScript() {
		if _, ok := c.(ReassignPartition); !ok {
			h.do(c)
		}
	}
	old := encodeSnapshotV1(h.f.View(), h.index)
	f := NewFSM()
	if err := f.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotOf(t, f), snapshotOf(t, h.f)) {
		t.Fatal("a version 1 snapshot restores to another state")
	}
	v, _, err := decodeSnapshot(old)
	if err != nil {
		t.Fatal(err)
	}
	s := v.streams["after"]
	s.Partitions[0].Replicas = s.Partitions[0].Replicas[:1]
	if err := NewFSM().Restore(bytes.NewReader(encodeSnapshotV1(v, h.index))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 1 with a short replica set: %v, want ErrCorrupt", err)
	}
}
