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

	"github.com/sluicedb/sluice/consumergroup"
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
			if !reflect.DeepEqual(a.Nodes(), b.Nodes()) || !reflect.DeepEqual(a.Streams(), b.Streams()) ||
				!reflect.DeepEqual(a.Groups(), b.Groups()) || a.nextGroupIncarnation != b.nextGroupIncarnation ||
				!reflect.DeepEqual(a.Queues(), b.Queues()) || a.nextQueueIncarnation != b.nextQueueIncarnation {
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
			later := []any{stream("later", 5, 2), AllocateProducerIDs{Count: 3}, RemoveNode{ID: "n1"},
				putGroup(group("later", 0, 2), 0, 9000), DeleteGroup{Name: "g2"},
				queue("later", "later"), AlterQueue{Name: "later", DelayMs: new(int64(5))}, DeleteQueue{Name: "later"},
				queue("later", "later"), DeleteQueue{Name: "q1"}}
			if g, ok := a.Group("g1"); ok {
				up := group("g1", g.Generation+1, 1)
				up.Incarnation = g.Incarnation
				later = append(later, putGroup(up, g.Version, 9001))
			}
			for _, c := range later {
				ra, rb := h.do(c), r.do(c)
				if !reflect.DeepEqual(ra, rb) {
					t.Fatalf("%+v answered %v by the original, %v by the restored replica", c, ra, rb)
				}
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
	got := encodeView(t, emptyView(), 0)
	want := []byte("SLMD\x04" +
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // applied
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // version
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // next producer id
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // next stream id
		"\x00\x00\x00\x00" + "\x00\x00\x00\x00" + // no nodes, no streams
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // next group incarnation
		"\x00\x00\x00\x00" + // no groups
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // next queue incarnation
		"\x00\x00\x00\x00") // no queues
	want = be.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(got, want) {
		t.Fatalf("empty snapshot\n got %x\nwant %x", got, want)
	}

	// Groups follow the streams in consumergroup's own encoding, sorted by
	// name.
	h := newHarness(t)
	h.must(putGroup(group("b", 0, 1), 0, 2))
	h.must(putGroup(group("a", 0, 2), 0, 3))
	want = []byte("SLMD\x04" +
		"\x00\x00\x00\x00\x00\x00\x00\x02" + // applied
		"\x00\x00\x00\x00\x00\x00\x00\x02" + // version
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // next producer id
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // next stream id
		"\x00\x00\x00\x00" + "\x00\x00\x00\x00" + // no nodes, no streams
		"\x00\x00\x00\x00\x00\x00\x00\x03" + // next group incarnation
		"\x00\x00\x00\x02") // two groups
	for _, name := range []string{"a", "b"} {
		g, _ := h.f.View().Group(name)
		var err error
		if want, err = g.AppendBinary(want); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "\x00\x00\x00\x00\x00\x00\x00\x01"+ // next queue incarnation
		"\x00\x00\x00\x00"...) // no queues
	want = be.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if got := snapshotOf(t, h.f); !bytes.Equal(got, want) {
		t.Fatalf("snapshot with groups\n got %x\nwant %x", got, want)
	}

	// Queues follow the groups, sorted by name.
	h = newHarness(t)
	h.nodes(1)                // 1
	h.must(stream("s", 1, 1)) // 2
	h.must(stream("d", 1, 1)) // 3
	h.must(queue("z", "s"))   // 4: incarnation 1
	h.must(CreateQueue{Name: "a", Stream: "s", VisibilityTimeoutMs: 2, MaxReceives: 3, DeadLetterStream: "d",
		DelayMs: 4, FIFO: true, Filter: `{"key":["k"]}`, Subscription: true, Timestamp: 5}) // 5: incarnation 2
	got = snapshotOf(t, h.f)
	tail := []byte("\x00\x00\x00\x00\x00\x00\x00\x01" + // next group incarnation
		"\x00\x00\x00\x00" + // no groups
		"\x00\x00\x00\x00\x00\x00\x00\x03" + // next queue incarnation
		"\x00\x00\x00\x02" + // two queues
		"\x00\x01a" + "\x00\x01s" + "\x00\x01d" + // name, stream, dead-letter stream
		"\x00\x00\x00\x00\x00\x00\x00\x02" + "\x00\x00\x00\x03" + "\x00\x00\x00\x00\x00\x00\x00\x04" + // visibility, max receives, delay
		"\x03" + "\x00\x0d" + `{"key":["k"]}` + // flags: FIFO and subscription; filter
		"\x00\x00\x00\x00\x00\x00\x00\x02" + "\x00\x00\x00\x00\x00\x00\x00\x05" + // incarnation, created at
		"\x00\x01z" + "\x00\x01s" + "\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x75\x30" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00" +
		"\x00" + "\x00\x00" +
		"\x00\x00\x00\x00\x00\x00\x00\x01" + "\x00\x00\x00\x00\x00\x00\x17\x70")
	body := got[:len(got)-crcSize]
	if !bytes.HasSuffix(body, tail) || !bytes.Equal(got, resign(got)) {
		t.Fatalf("snapshot with queues\n got %x\nwant it to end with %x and the checksum", got, tail)
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
	return encodeView(t, v, applied)
}

func TestRestoreRefusesCorrupt(t *testing.T) {
	h := scripted(t)
	good := snapshotOf(t, h.f)
	first := func(v *View) *Stream { return v.streams[v.names[0]] }
	firstQueue := func(v *View) *Queue { return v.queues[v.queueNames[0]] }
	renameQueue := func(v *View, name string) {
		q := firstQueue(v)
		delete(v.queues, q.Name)
		q.Name, v.queueNames[0] = name, name
		v.queues[name] = q
	}
	firstGroup := func(v *View) *consumergroup.GroupState { return v.groups[v.groupNames[0]] }
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
		"bad version":      resign(append([]byte("SLMD\x05"), good[5:]...)),
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
		"v2 with groups":           resign(append([]byte("SLMD\x02"), good[5:]...)),
		"next group incarnation 0": mutated(t, h, func(v *View, _ *uint64) { v.nextGroupIncarnation = 0 }),
		"groups unsorted": mutated(t, h, func(v *View, _ *uint64) {
			v.groupNames[0], v.groupNames[1] = v.groupNames[1], v.groupNames[0]
		}),
		"group incarnation 0":     mutated(t, h, func(v *View, _ *uint64) { firstGroup(v).Incarnation = 0 }),
		"group incarnation ahead": mutated(t, h, func(v *View, _ *uint64) { firstGroup(v).Incarnation = v.nextGroupIncarnation }),
		"group incarnation twice": mutated(t, h, func(v *View, _ *uint64) {
			v.groups[v.groupNames[1]].Incarnation = firstGroup(v).Incarnation
		}),
		"group version 0":          mutated(t, h, func(v *View, _ *uint64) { firstGroup(v).Version = 0 }),
		"group version ahead":      mutated(t, h, func(v *View, _ *uint64) { firstGroup(v).Version = v.version + 1 }),
		"group negative timestamp": mutated(t, h, func(v *View, _ *uint64) { firstGroup(v).UpdatedAt = -1 }),
		"huge group count": func() []byte {
			b := mutated(t, h, func(v *View, _ *uint64) { v.groups, v.groupNames, v.queues, v.queueNames = nil, nil, nil, nil })
			be.PutUint32(b[len(b)-crcSize-4-8-4:], 1<<31) // before the queue counter and count
			return resign(b)
		}(),
		"group cut short": func() []byte {
			b := mutated(t, h, func(v *View, _ *uint64) { v.queues, v.queueNames = nil, nil })
			return resign(append(bytes.Clone(b[:len(b)-crcSize-8-4-3]), 0, 0, 0, 0))
		}(),
		"v3 with queues":           resign(append([]byte("SLMD\x03"), good[5:]...)),
		"next queue incarnation 0": mutated(t, h, func(v *View, _ *uint64) { v.nextQueueIncarnation = 0 }),
		"queues unsorted": mutated(t, h, func(v *View, _ *uint64) {
			v.queueNames[0], v.queueNames[1] = v.queueNames[1], v.queueNames[0]
		}),
		"queue incarnation 0":     mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).Incarnation = 0 }),
		"queue incarnation ahead": mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).Incarnation = v.nextQueueIncarnation }),
		"queue incarnation twice": mutated(t, h, func(v *View, _ *uint64) {
			v.queues[v.queueNames[1]].Incarnation = firstQueue(v).Incarnation
		}),
		"bad queue name":             mutated(t, h, func(v *View, _ *uint64) { renameQueue(v, "a b") }),
		"unknown queue stream":       mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).Stream = "nope" }),
		"unknown dead-letter stream": mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).DeadLetterStream = "nope" }),
		"dead-letter stream is the stream": mutated(t, h, func(v *View, _ *uint64) {
			firstQueue(v).DeadLetterStream = firstQueue(v).Stream
		}),
		"visibility timeout 0":   mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).VisibilityTimeoutMs = 0 }),
		"max receives too many":  mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).MaxReceives = MaxQueueReceives + 1 }),
		"negative delay":         mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).DelayMs = -1 }),
		"negative queue created": mutated(t, h, func(v *View, _ *uint64) { firstQueue(v).CreatedAt = -1 }),
		"unknown queue flags": func() []byte {
			b := mutated(t, h, func(v *View, _ *uint64) { v.queueNames = v.queueNames[:1] })
			// The last queue ends with flags, filter, incarnation, created at.
			q := firstQueue(h.f.View())
			b[len(b)-crcSize-8-8-2-len(q.Filter)-1] |= 0x80
			return resign(b)
		}(),
		"huge queue count": func() []byte {
			b := mutated(t, h, func(v *View, _ *uint64) { v.queues, v.queueNames = nil, nil })
			be.PutUint32(b[len(b)-crcSize-4:], 1<<31)
			return resign(b)
		}(),
		"queue cut short": resign(append(bytes.Clone(good[:len(good)-crcSize-3]), 0, 0, 0, 0)),
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

// encodeSnapshotOld writes v in the layout of version 1 (no partition
// epochs), 2 (no consumer groups) or 3 (no queues), as the code before
// ReassignPartition, consumer groups and queues did. v must hold nothing
// the version has no place for.
func encodeSnapshotOld(v *View, applied uint64, version byte) []byte {
	b := append([]byte(snapshotMagic), version)
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
			if version >= snapshotVersionV2 {
				b = be.AppendUint32(b, p.Epoch)
			}
			b = append(b, byte(len(p.Replicas)))
			for _, r := range p.Replicas {
				b = appendStr(b, r)
			}
		}
	}
	if version >= snapshotVersionV3 {
		b = be.AppendUint64(b, v.nextGroupIncarnation)
		b = be.AppendUint32(b, uint32(len(v.groupNames)))
		for _, name := range v.groupNames {
			var err error
			if b, err = v.groups[name].AppendBinary(b); err != nil {
				panic(err) // a decoded or applied state encodes
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
	for _, c := range scriptWithoutQueues() {
		switch c.(type) {
		case ReassignPartition, PutGroup, DeleteGroup:
		default:
			h.do(c)
		}
	}
	old := encodeSnapshotOld(h.f.View(), h.index, snapshotVersionV1)
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
	if err := NewFSM().Restore(bytes.NewReader(encodeSnapshotOld(v, h.index, snapshotVersionV1))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 1 with a short replica set: %v, want ErrCorrupt", err)
	}
}

// TestSnapshotV2: a version 2 snapshot (written before consumer groups)
// restores to the same state with no groups and the incarnation counter
// at 1, and the first group created after it is incarnation 1.
func TestSnapshotV2(t *testing.T) {
	h := newHarness(t)
	for _, c := range scriptWithoutQueues() {
		switch c.(type) {
		case PutGroup, DeleteGroup:
		default:
			h.do(c)
		}
	}
	if h.f.View().Partition("s21-p0").Epoch == 0 {
		t.Fatal("the script reassigned nothing: the epochs go untested")
	}
	old := encodeSnapshotOld(h.f.View(), h.index, snapshotVersionV2)
	f := NewFSM()
	if err := f.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotOf(t, f), snapshotOf(t, h.f)) {
		t.Fatal("a version 2 snapshot restores to another state")
	}
	if v := f.View(); len(v.Groups()) != 0 || v.nextGroupIncarnation != 1 {
		t.Fatalf("%d groups, next incarnation %d", len(v.Groups()), v.nextGroupIncarnation)
	}
	r := &harness{t: t, f: f, index: h.index}
	if g := r.must(putGroup(group("g", 0, 1), 0, 1)).(*consumergroup.GroupState); g.Incarnation != 1 {
		t.Fatalf("incarnation %d, want 1", g.Incarnation)
	}
}

// TestSnapshotV3: a version 3 snapshot (written before queues) restores
// to the same state with no queues and the queue incarnation counter at 1,
// and the first queue created after it is incarnation 1.
func TestSnapshotV3(t *testing.T) {
	h := newHarness(t)
	for _, c := range scriptWithoutQueues() {
		h.do(c)
	}
	if len(h.f.View().Groups()) == 0 {
		t.Fatal("the script created no groups: they go untested")
	}
	old := encodeSnapshotOld(h.f.View(), h.index, snapshotVersionV3)
	f := NewFSM()
	if err := f.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotOf(t, f), snapshotOf(t, h.f)) {
		t.Fatal("a version 3 snapshot restores to another state")
	}
	if v := f.View(); len(v.Queues()) != 0 || v.nextQueueIncarnation != 1 || !reflect.DeepEqual(v.Groups(), h.f.View().Groups()) {
		t.Fatalf("%d queues, next incarnation %d", len(v.Queues()), v.nextQueueIncarnation)
	}
	r := &harness{t: t, f: f, index: h.index}
	if q := r.must(queue("q", "after")).(*Queue); q.Incarnation != 1 {
		t.Fatalf("incarnation %d, want 1", q.Incarnation)
	}
	// The state restored from version 3 writes version 4, which restores.
	if err := NewFSM().Restore(bytes.NewReader(snapshotOf(t, r.f))); err != nil {
		t.Fatal(err)
	}
}
