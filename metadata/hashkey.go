package metadata

import (
	"bytes"
	"crypto/md5"
	"math/big"
	"math/bits"
	"sort"
)

// Hash keys (Kinesis rule). A record's partition key is hashed with MD5,
// and the 16-byte digest, read as a big-endian unsigned integer, is its
// hash key in [0, 2^128). Each partition owns a contiguous range of that
// space, both ends inclusive. A stream of n partitions splits the space
// evenly: partition i starts at floor(i * 2^128 / n) and ends just before
// partition i+1 starts; the last ends at 2^128-1. Range sizes differ by at
// most 1. The ranges are stored per partition (not recomputed), so that
// partitions can later be split and merged without moving keys that stay.
//
// An explicit hash key (Kinesis ExplicitHashKey, a decimal string) may
// stand in for the MD5 of the partition key; ParseHashKey reads it.

// MaxHashKey is the largest hash key, 2^128-1.
var MaxHashKey = [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// HashKey returns the hash key of a partition key: its MD5 digest.
func HashKey(key []byte) [16]byte { return md5.Sum(key) }

// PartitionFor returns the number of the partition of s that owns the hash
// key of the partition key key, or -1 if s has no partitions.
func PartitionFor(s *Stream, key []byte) int {
	return PartitionForHashKey(s, HashKey(key))
}

// PartitionForHashKey returns the number of the partition of s whose range
// holds hashKey, or -1 if none does (s has no partitions; never for a
// stream of a View, whose ranges cover the whole space).
func PartitionForHashKey(s *Stream, hashKey [16]byte) int {
	ps := s.Partitions
	// The first partition whose range ends at or after hashKey.
	i := sort.Search(len(ps), func(i int) bool { return bytes.Compare(ps[i].HashKeyEnd[:], hashKey[:]) >= 0 })
	if i == len(ps) || bytes.Compare(ps[i].HashKeyStart[:], hashKey[:]) > 0 {
		return -1
	}
	return i
}

// hashKeyRange returns the range of partition i of n (0 <= i < n), split
// evenly as the package comment describes.
func hashKeyRange(i, n int) (start, end [16]byte) {
	start = hashKeyStart(i, n)
	if i == n-1 {
		return start, MaxHashKey
	}
	next := hashKeyStart(i+1, n)
	hi, lo := be.Uint64(next[:8]), be.Uint64(next[8:])
	lo, borrow := bits.Sub64(lo, 1, 0)
	hi -= borrow
	be.PutUint64(end[:8], hi)
	be.PutUint64(end[8:], lo)
	return start, end
}

// hashKeyStart returns floor(i * 2^128 / n) for 0 <= i < n: the long
// division of the three-word number (i, 0, 0) by n, whose top word of
// quotient is 0 because i < n.
func hashKeyStart(i, n int) (k [16]byte) {
	d := uint64(n)
	hi, rem := bits.Div64(uint64(i), 0, d)
	lo, _ := bits.Div64(rem, 0, d)
	be.PutUint64(k[:8], hi)
	be.PutUint64(k[8:], lo)
	return k
}

// hashKeyRanges returns the ranges of a stream of n partitions.
func hashKeyRanges(n int) (starts, ends [][16]byte) {
	starts, ends = make([][16]byte, n), make([][16]byte, n)
	for i := range n {
		starts[i], ends[i] = hashKeyRange(i, n)
	}
	return starts, ends
}

// ParseHashKey parses a decimal hash key in [0, 2^128) (Kinesis
// ExplicitHashKey). It returns a *ValidationError for anything else.
func ParseHashKey(s string) ([16]byte, error) {
	var k [16]byte
	if len(s) == 0 || len(s) > 39 { // 2^128-1 has 39 digits
		return k, invalid("hash key", "%q is not a decimal number in [0, 2^128)", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return k, invalid("hash key", "%q is not a decimal number in [0, 2^128)", s)
		}
	}
	x, ok := new(big.Int).SetString(s, 10)
	if !ok || x.BitLen() > 128 {
		return k, invalid("hash key", "%q is not a decimal number in [0, 2^128)", s)
	}
	x.FillBytes(k[:])
	return k, nil
}

// FormatHashKey formats a hash key in decimal, as Kinesis shows
// StartingHashKey and EndingHashKey.
func FormatHashKey(k [16]byte) string {
	return new(big.Int).SetBytes(k[:]).String()
}
