package metadata

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
)

func bigKey(k [16]byte) *big.Int { return new(big.Int).SetBytes(k[:]) }

var space = new(big.Int).Lsh(big.NewInt(1), 128)

// TestHashKeyRanges: the ranges of n partitions cover [0, 2^128)
// contiguously, with no gap or overlap, evenly (sizes within 1), and
// partition i starts at floor(i * 2^128 / n).
func TestHashKeyRanges(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 10, 16, 10000} {
		starts, ends := hashKeyRanges(n)
		if starts[0] != ([16]byte{}) || ends[n-1] != MaxHashKey {
			t.Fatalf("n=%d: ranges span %x..%x", n, starts[0], ends[n-1])
		}
		var minSize, maxSize *big.Int
		for i := range n {
			s, e := bigKey(starts[i]), bigKey(ends[i])
			want := new(big.Int).Div(new(big.Int).Mul(big.NewInt(int64(i)), space), big.NewInt(int64(n)))
			if s.Cmp(want) != 0 {
				t.Fatalf("n=%d: partition %d starts at %v, want %v", n, i, s, want)
			}
			if s.Cmp(e) > 0 {
				t.Fatalf("n=%d: partition %d is empty", n, i)
			}
			if i > 0 {
				prev := new(big.Int).Add(bigKey(ends[i-1]), big.NewInt(1))
				if prev.Cmp(s) != 0 {
					t.Fatalf("n=%d: gap or overlap before partition %d", n, i)
				}
			}
			size := new(big.Int).Sub(e, s)
			if minSize == nil || size.Cmp(minSize) < 0 {
				minSize = size
			}
			if maxSize == nil || size.Cmp(maxSize) > 0 {
				maxSize = size
			}
		}
		if d := new(big.Int).Sub(maxSize, minSize); d.Cmp(big.NewInt(1)) > 0 {
			t.Fatalf("n=%d: range sizes differ by %v", n, d)
		}
	}
}

func streamOf(t *testing.T, n int) *Stream {
	t.Helper()
	h := newHarness(t)
	h.nodes(1)
	return h.must(stream("s", n, 1)).(*Stream)
}

// TestPartitionFor: every key maps to the partition whose range holds its
// MD5, always the same one; range ends map to their own partition.
func TestPartitionFor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 7, 10000} {
		s := streamOf(t, n)
		for i, p := range s.Partitions {
			if got := PartitionForHashKey(s, p.HashKeyStart); got != i {
				t.Fatalf("n=%d: start of %d maps to %d", n, i, got)
			}
			if got := PartitionForHashKey(s, p.HashKeyEnd); got != i {
				t.Fatalf("n=%d: end of %d maps to %d", n, i, got)
			}
		}
		for range 2000 {
			key := fmt.Appendf(nil, "key-%d", rng.Uint64())
			i := PartitionFor(s, key)
			h := md5.Sum(key)
			p := s.Partitions[i]
			if bigKey(h).Cmp(bigKey(p.HashKeyStart)) < 0 || bigKey(h).Cmp(bigKey(p.HashKeyEnd)) > 0 {
				t.Fatalf("n=%d: key %q (hash %x) mapped to %d (%x..%x)", n, key, h, i, p.HashKeyStart, p.HashKeyEnd)
			}
			if PartitionFor(s, key) != i || PartitionForHashKey(s, HashKey(key)) != i {
				t.Fatal("PartitionFor is not stable")
			}
		}
	}
}

// TestPartitionForKnown pins values: MD5("") is d41d8cd9..., in the upper
// half of the space; MD5("a") is 0cc175b9..., in the lowest sixteenth.
func TestPartitionForKnown(t *testing.T) {
	if got := PartitionFor(streamOf(t, 2), nil); got != 1 {
		t.Fatalf("PartitionFor(2 partitions, \"\") = %d, want 1", got)
	}
	if got := PartitionFor(streamOf(t, 16), []byte("a")); got != 0 {
		t.Fatalf("PartitionFor(16 partitions, \"a\") = %d, want 0", got)
	}
	if got := PartitionFor(streamOf(t, 16), nil); got != 13 {
		t.Fatalf("PartitionFor(16 partitions, \"\") = %d, want 13", got)
	}
	if got := PartitionFor(&Stream{}, []byte("a")); got != -1 {
		t.Fatalf("PartitionFor(no partitions) = %d, want -1", got)
	}
}

func TestParseHashKey(t *testing.T) {
	for _, s := range []string{"0", "1", "170141183460469231731687303715884105728", "340282366920938463463374607431768211455"} {
		k, err := ParseHashKey(s)
		if err != nil || FormatHashKey(k) != s {
			t.Fatalf("ParseHashKey(%q) = %x, %v", s, k, err)
		}
	}
	if k, _ := ParseHashKey("340282366920938463463374607431768211455"); k != MaxHashKey {
		t.Fatal("2^128-1 is not MaxHashKey")
	}
	for _, s := range []string{"", "-1", "+1", "1a", " 1", "340282366920938463463374607431768211456", "9999999999999999999999999999999999999999"} {
		if _, err := ParseHashKey(s); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("ParseHashKey(%q) = %v, want ErrInvalidArgument", s, err)
		}
	}
}
