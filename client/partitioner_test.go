package client

import (
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/replication"
)

// metadataStream creates a stream of n partitions in a metadata state
// machine and returns it as the cluster stores it.
func metadataStream(t *testing.T, n int) *metadata.Stream {
	t.Helper()
	f := metadata.NewFSM()
	index := uint64(0)
	apply := func(b []byte, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		index++
		resp := f.Apply(replication.Entry{Index: index, Term: 1, Data: b})
		if err, ok := resp.(error); ok {
			t.Fatal(err)
		}
		return resp
	}
	apply(metadata.EncodeRegisterNode(metadata.RegisterNode{ID: "n1", RaftAddr: "n1:7000", ClientAddr: "n1:7001",
		State: metadata.NodeActive, Timestamp: 1}))
	s, ok := apply(metadata.EncodeCreateStream(metadata.CreateStream{Name: "s", Partitions: n, ReplicationFactor: 1,
		Timestamp: 1})).(*metadata.Stream)
	if !ok {
		t.Fatal("CreateStream did not answer a *metadata.Stream")
	}
	return s
}

// partsOf converts metadata's partitions to the client's cache form.
func partsOf(s *metadata.Stream) []partMeta {
	parts := make([]partMeta, len(s.Partitions))
	for i, p := range s.Partitions {
		parts[i] = partMeta{start: p.HashKeyStart, end: p.HashKeyEnd}
	}
	return parts
}

func evenParts(n int) []partMeta {
	starts, ends := evenRanges(n)
	parts := make([]partMeta, n)
	for i := range parts {
		parts[i] = partMeta{start: starts[i], end: ends[i]}
	}
	return parts
}

// TestPartitionMatchesMetadata checks the client's key -> partition rule
// against package metadata's own functions on the ranges metadata
// assigns, and checks that the fake cluster's ranges are metadata's.
func TestPartitionMatchesMetadata(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8, 16, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := metadataStream(t, n)
			parts := partsOf(s)
			if even := evenParts(n); fmt.Sprint(even) != fmt.Sprint(parts) {
				t.Fatalf("the fake's ranges differ from metadata's")
			}
			for i := range 5000 {
				key := []byte(fmt.Sprint("key-", i))
				if HashKey(key) != metadata.HashKey(key) {
					t.Fatalf("HashKey(%q) differs from metadata", key)
				}
				got, want := partitionForHashKey(parts, HashKey(key)), metadata.PartitionFor(s, key)
				if got != want {
					t.Fatalf("key %q: partition %d, metadata says %d", key, got, want)
				}
			}
		})
	}
}

// TestPartitionVectors pins a few keys (MD5 digests computed
// independently) and the range boundaries.
func TestPartitionVectors(t *testing.T) {
	tests := []struct {
		key         string
		n4, n3, n10 int
	}{
		{"a", 0, 0, 0},        // 0cc175b9...
		{"b", 2, 1, 5},        // 92eb5ffe...
		{"orders-1", 3, 2, 8}, // cf720246...
		{"user-42", 1, 1, 4},  // 7631bc07...
		{"", 3, 2, 8},         // d41d8cd9...
		{"zzz", 3, 2, 9},      // f3abb86b...
	}
	p4, p3, p10 := evenParts(4), evenParts(3), evenParts(10)
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k := HashKey([]byte(tt.key))
			for _, c := range []struct {
				parts []partMeta
				want  int
			}{{p4, tt.n4}, {p3, tt.n3}, {p10, tt.n10}} {
				for range 3 { // the same key always maps the same way
					if got := partitionForHashKey(c.parts, k); got != c.want {
						t.Errorf("%d partitions: got %d, want %d", len(c.parts), got, c.want)
					}
				}
			}
		})
	}
	t.Run("boundaries", func(t *testing.T) {
		for i, p := range p10 {
			if got := partitionForHashKey(p10, p.start); got != i {
				t.Errorf("start of %d: got %d", i, got)
			}
			if got := partitionForHashKey(p10, p.end); got != i {
				t.Errorf("end of %d: got %d", i, got)
			}
		}
		var zero, top [16]byte
		for i := range top {
			top[i] = 0xff
		}
		if partitionForHashKey(p10, zero) != 0 || partitionForHashKey(p10, top) != 9 {
			t.Error("the ends of the space are not in the first and last partitions")
		}
		gap := []partMeta{p10[0], p10[2]}
		if got := partitionForHashKey(gap, p10[1].start); got != -1 {
			t.Errorf("a key in a gap: got %d, want -1", got)
		}
	})
}

// TestPartitionSpread checks that keys spread evenly over the ranges.
func TestPartitionSpread(t *testing.T) {
	const n, keys = 8, 16000
	parts := evenParts(n)
	counts := make([]int, n)
	for i := range keys {
		counts[partitionForHashKey(parts, HashKey([]byte(fmt.Sprint("user-", i))))]++
	}
	for i, c := range counts {
		if c < keys/n*8/10 || c > keys/n*12/10 {
			t.Errorf("partition %d got %d of %d keys: %v", i, c, keys, counts)
		}
	}
}
