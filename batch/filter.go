package batch

import (
	"fmt"
	"math"
)

// AppendFiltered appends to dst the batch at the start of b (see
// DecodeRecords for the checks and maxDecompressed) holding only the
// records keep accepts, in the form compaction leaves a Kafka batch in:
// the same base offset, last offset delta, timestamps, producer fields and
// attributes, records at their own offsets (with gaps), uncompressed. A
// batch whose records are all dropped stays as a batch of none, which
// tells a reader to move past its offsets. A control batch is copied as
// it is. It returns the extended slice and the records kept; on error, dst
// unchanged.
//
// Kept records' keys, values and header values alias b or a buffer of
// the call only while it runs: the result owns its bytes.
func AppendFiltered(dst, b []byte, keep func(*Record) bool, maxDecompressed int) ([]byte, int, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return dst, 0, err
	}
	if h.Size() > len(b) {
		return dst, 0, fmt.Errorf("%w: batch at base offset %d is %d bytes, %d remain", ErrTruncated, h.BaseOffset, h.Size(), len(b))
	}
	if h.Control() {
		recs, err := DecodeRecords(b, nil, maxDecompressed) // validates it
		if err != nil {
			return dst, 0, err
		}
		return append(dst, b[:h.Size()]...), len(recs), nil
	}
	recs, err := DecodeRecords(b, nil, maxDecompressed)
	if err != nil {
		return dst, 0, err
	}
	kept := recs[:0]
	for i := range recs {
		if keep(&recs[i]) {
			kept = append(kept, recs[i])
		}
	}
	start := len(dst)
	dst, err = encodeRecordsAt(dst, HeaderSize, kept, h.BaseTimestamp, h.BaseOffset, maxRecordsSize)
	if err != nil {
		return dst[:start], 0, err
	}
	length := len(dst) - start - lengthPrefix
	if length > math.MaxInt32 {
		return dst[:start], 0, fmt.Errorf("%w: filtered batch is %d bytes", ErrTooLarge, length)
	}
	out := h
	out.Length = int32(length)
	out.Attributes = h.Attributes &^ attrCodecMask
	out.NumRecords = int32(len(kept))
	putHeader(dst[start:], &out)
	sealCRC(dst[start:])
	return dst, len(kept), nil
}
