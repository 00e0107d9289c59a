package client

import (
	"bytes"
	"crypto/md5"
	"sort"
)

// HashKey returns the hash key of a partition key (the Kinesis rule): its
// MD5 digest, read as a 128-bit big-endian unsigned integer. The partition
// whose inclusive range [start, end] holds it owns the key. This is the
// rule of package metadata (metadata.HashKey and PartitionForHashKey).
func HashKey(key []byte) [16]byte { return md5.Sum(key) }

// partitionForHashKey returns the partition whose range holds k, or -1 if
// none does. The ranges are sorted, contiguous and cover the whole space
// in the metadata the cluster hands out; a gap (a malformed answer) owns
// nothing.
func partitionForHashKey(parts []partMeta, k [16]byte) int {
	// The first partition whose range ends at or after k.
	i := sort.Search(len(parts), func(i int) bool { return bytes.Compare(parts[i].end[:], k[:]) >= 0 })
	if i == len(parts) || bytes.Compare(parts[i].start[:], k[:]) > 0 {
		return -1
	}
	return i
}
