package metadata

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/replication"
)

// allocated returns the bytes fn allocates on the heap (roughly: other
// goroutines of the process count too, so bounds must be generous).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// allocBound is what decoding len bytes may allocate: the decoded values
// are a small multiple of their encoding, plus a constant.
func allocBound(n int) uint64 { return 64*uint64(n) + 256<<10 }

// FuzzDecodeCommand: any bytes either decode to a command that encodes
// back to the same bytes and that Apply answers without failing the
// replica, or are refused with ErrCorrupt. Nothing panics, and decoding
// allocates in proportion to the input.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{commandVersion})
	for _, c := range allCommands() {
		b := raw(c)
		f.Add(b)
		f.Add(append(bytes.Clone(b), 0xde, 0xad))
		f.Add(b[:len(b)/2])
	}
	base := newHarness(f)
	base.nodes(3)
	base.must(stream("orders", 4, 3))
	base.must(putGroup(group("g", 1, 2), 0, 100)) // incarnation 1, version 5
	base.must(stream("dead", 1, 1))
	q := queue("q", "orders") // incarnation 1
	q.DeadLetterStream, q.MaxReceives = "dead", 3
	base.must(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		var c any
		var err error
		if n := allocated(func() { c, err = decodeCommand(b) }); n > allocBound(len(b)) {
			t.Fatalf("decoding %d bytes allocated %d", len(b), n)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := raw(c); !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, want %x", again, b)
		}
		// Apply on a copy of base: a command that decodes is answered,
		// never fatal, and leaves a consistent state.
		fsm := NewFSM()
		fsm.view.Store(base.f.View())
		fsm.applied.Store(base.index)
		resp := fsm.Apply(replication.Entry{Index: base.index + 1, Data: b})
		if err, ok := resp.(error); ok {
			var fe *replication.FatalError
			if errors.As(err, &fe) || !isRefusal(err) {
				t.Fatalf("Apply(%+v) = %v", c, err)
			}
		}
		if err := checkView(fsm.View()); err != nil {
			t.Fatal(err)
		}
		// A stored filter is canonical: it parses back to itself.
		if q, ok := resp.(*Queue); ok {
			if canon, err := canonicalFilter(q.Filter); err != nil || canon != q.Filter {
				t.Fatalf("queue %q stored filter %q, canonical %q, %v", q.Name, q.Filter, canon, err)
			}
		}
	})
}

func isRefusal(err error) bool {
	for _, e := range []error{ErrInvalidArgument, ErrStreamExists, ErrStreamNotFound, ErrNotEnoughNodes,
		ErrNodeNotFound, ErrNodeRemoved, ErrProducerIDsExhausted, ErrNodeNotActive, ErrPartitionNotFound,
		ErrReplicasChanged, ErrGroupExists, ErrUnknownGroup, ErrGroupVersionConflict, ErrQueueExists,
		ErrQueueNotFound, ErrStreamInUse} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzDecodeSnapshot: any bytes either restore to a consistent state that
// encodes back to the same bytes, or are refused with ErrCorrupt. Each
// input is tried as is and with its last 4 bytes replaced by the right
// checksum, so that the fuzzer gets past the CRC into the structure.
// Nothing panics, and decoding allocates in proportion to the input.
func FuzzDecodeSnapshot(f *testing.F) {
	// Small seeds: the fuzzer mutates and minimizes them byte by byte.
	small := newHarness(f)
	small.nodes(2)
	small.must(stream("s", 3, 2))
	valid := snapshotOf(f, small.f)
	small.must(node("n3", NodeJoining))
	small.must(stream("t", 2, 1))
	small.must(AllocateProducerIDs{Count: 5})
	small.must(RemoveNode{ID: "n1"})
	more := snapshotOf(f, small.f)
	small.must(node("n3", NodeActive))
	small.must(ReassignPartition{Partition: "s1-p0", Replicas: []string{"n3"}})
	small.must(ReassignPartition{Partition: "s1-p1", Replicas: []string{"n2", "n3"}})
	reassigned := snapshotOf(f, small.f)
	small.must(putGroup(group("g", 2, 2), 0, 7))
	small.must(putGroup(group("h", 0, 0), 0, 8))
	withGroups := snapshotOf(f, small.f)
	small.must(CreateQueue{Name: "q", Stream: "s", VisibilityTimeoutMs: 1, MaxReceives: 2, DeadLetterStream: "t",
		DelayMs: 3, FIFO: true, Filter: `{"key":["k"]}`, Timestamp: 4})
	small.must(CreateQueue{Name: "r", Stream: "t", VisibilityTimeoutMs: 5, Subscription: true})
	withQueues := snapshotOf(f, small.f)
	f.Add([]byte{})
	f.Add(encodeView(f, emptyView(), 0))
	f.Add(valid)
	f.Add(more)
	f.Add(reassigned)
	f.Add(withGroups)
	f.Add(withQueues)
	if v, applied, err := decodeSnapshot(valid); err == nil {
		f.Add(encodeSnapshotOld(v, applied, snapshotVersionV1))
		f.Add(encodeSnapshotOld(v, applied, snapshotVersionV2))
	}
	if v, applied, err := decodeSnapshot(withGroups); err == nil {
		f.Add(encodeSnapshotOld(v, applied, snapshotVersionV3))
	}
	f.Add(append(bytes.Clone(valid), 1, 2, 3, 4, 5))
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:snapshotHeaderSize+crcSize+3])
	f.Fuzz(func(t *testing.T, b []byte) {
		inputs := [][]byte{b}
		if len(b) >= crcSize {
			inputs = append(inputs, resign(b))
		}
		for _, in := range inputs {
			var v *View
			var applied uint64
			var err error
			if n := allocated(func() { v, applied, err = decodeSnapshot(in) }); n > allocBound(len(in)) {
				t.Fatalf("decoding %d bytes allocated %d", len(in), n)
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not ErrCorrupt", err)
				}
				continue
			}
			if err := checkView(v); err != nil {
				t.Fatal(err)
			}
			again := encodeView(t, v, applied)
			if version := in[len(snapshotMagic)]; version != snapshotVersion {
				again = encodeSnapshotOld(v, applied, version)
			}
			if !bytes.Equal(again, in) {
				t.Fatalf("round trip differs")
			}
		}
	})
}

// FuzzParseHashKey: a hash key parses only as a decimal number below
// 2^128, which FormatHashKey prints back in its shortest form; anything
// else is a *ValidationError.
func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"", "0", "007", "340282366920938463463374607431768211455",
		"340282366920938463463374607431768211456", "0340282366920938463463374607431768211455", "-1", "+1", "1e3", " 1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHashKey(s)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("ParseHashKey(%q): %v is not a *ValidationError", s, err)
			}
			return
		}
		text := FormatHashKey(k)
		if strings.TrimLeft(s, "0") != strings.TrimLeft(text, "0") {
			t.Fatalf("ParseHashKey(%q) prints as %q", s, text)
		}
		if again, err := ParseHashKey(text); err != nil || again != k {
			t.Fatalf("ParseHashKey(%q) = %x; %q parses to %x, %v", s, k, text, again, err)
		}
	})
}

// FuzzParsePartitionID: a partition id parses only in the canonical form
// PartitionID makes.
func FuzzParsePartitionID(f *testing.F) {
	for _, s := range []string{"", "s1-p0", "s18446744073709551615-p9223372036854775807", "s01-p0", "s1-p-1", "s1-p+1",
		"s1-p0-p1", "p1-s0", "s-p", "s1-p0\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		stream, index, ok := parsePartitionID(id)
		if !ok {
			return
		}
		if index < 0 || PartitionID(stream, index) != id {
			t.Fatalf("parsePartitionID(%q) = %d, %d", id, stream, index)
		}
	})
}
