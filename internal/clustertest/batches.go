package clustertest

import "github.com/sluicedb/sluice/batch"

// lastOffset returns the last offset of the last whole batch in b.
func lastOffset(b []byte) int64 {
	last := int64(-1)
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			return last
		}
		last = h.LastOffset()
		b = b[h.Size():]
	}
	return last
}
