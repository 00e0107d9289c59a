package batch

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// RecordHeader is one application header of a record. Kafka requires a
// non-null key; a nil Value is distinct from an empty one.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a batch.
type Record struct {
	// Offset is the absolute offset: BaseOffset+offsetDelta on decode.
	// Append ignores it and writes offset deltas 0..n-1.
	Offset int64
	// Timestamp is absolute, in Unix milliseconds.
	Timestamp int64
	// Key and Value distinguish nil (length -1 on the wire) from empty
	// (length 0), and both survive a round trip.
	Key, Value []byte
	// Headers is nil on decode for a record without headers.
	Headers []RecordHeader
}

// Record layout limits. On-disk format; never change.
const (
	// minRecordBody is the smallest record after its length varint:
	// attributes, timestamp delta, offset delta, key length, value length
	// and header count, one byte each.
	minRecordBody = 6
	// minRecordSize adds the one-byte length varint.
	minRecordSize = 1 + minRecordBody
	// minHeaderSize is a header with an empty key and a nil value.
	minHeaderSize = 2
	// maxRecordsSize is the most record bytes whose batch Length still
	// fits the int32 Length field.
	maxRecordsSize = math.MaxInt32 - minLength
)

// varintSize returns the encoded size of v as a zigzag varint. Kafka's
// varint (int32) and varlong (int64) share the encoding, so it serves both.
// (9*bits+64)/64 is ceil(bits/7) for 1..64 bits, without a division.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (9*bits.Len64(u|1) + 64) / 64
}

// appendVarint appends v as a zigzag varint.
func appendVarint(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// appendBytesField appends a length-prefixed byte string, length -1 for nil.
func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zigzag(-1)
	}
	dst = appendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bytesFieldSize returns the encoded size of a length-prefixed byte string.
func bytesFieldSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varintSize(int64(len(b))) + len(b)
}

// recordBodySize returns the encoded size of r after its length varint.
func recordBodySize(r *Record, tsDelta int64, offsetDelta int) int {
	n := 1 + varintSize(tsDelta) + varintSize(int64(offsetDelta)) +
		bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintSize(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintSize(int64(len(h.Key))) + len(h.Key) + bytesFieldSize(h.Value)
	}
	return n
}

// Per-record overhead bounds used to size buffers before encoding.
const (
	// overheadEstimate is a little above the varint overhead of a typical
	// record (a 1-2 byte length, timestamp delta, offset delta, key and
	// value lengths, plus attributes and header count).
	overheadEstimate       = 16
	headerOverheadEstimate = 6
)

// encodeRecords extends dst by room bytes, which the caller fills (a
// batch header), and appends recs in the uncompressed record format (see
// appendRecords). It returns ErrTooLarge, and dst unchanged, if a length
// does not fit its int32 field or the records exceed limit bytes
// (maxRecordsSize, the most a batch can hold; tests pass less).
//
// The exact size is only known once each record's varints are sized, which
// is most of the cost of encoding them, so it is not computed up front:
// one cheap pass checks the field lengths, rejects records that cannot fit
// even with minimal varints, and grows dst once by an estimate. The exact
// limit is checked after encoding.
func encodeRecords(dst []byte, room int, recs []Record, baseTimestamp int64, limit int) ([]byte, error) {
	return encodeRecordsAt(dst, room, recs, baseTimestamp, -1, limit)
}

// encodeRecordsAt is encodeRecords with offset deltas Record.Offset -
// baseOffset, kept as they are (a batch with gaps, as compaction or a
// filter leaves it), or 0..len(recs)-1 when baseOffset is negative.
func encodeRecordsAt(dst []byte, room int, recs []Record, baseTimestamp, baseOffset int64, limit int) ([]byte, error) {
	lower, estimate := 0, 0
	for i := range recs {
		r := &recs[i]
		if len(r.Key) > math.MaxInt32 || len(r.Value) > math.MaxInt32 || len(r.Headers) > math.MaxInt32 {
			return dst, fmt.Errorf("%w: record %d: key, value or header count over 2 GiB", ErrTooLarge, i)
		}
		data := len(r.Key) + len(r.Value)
		for j := range r.Headers {
			h := &r.Headers[j]
			if len(h.Key) > math.MaxInt32 || len(h.Value) > math.MaxInt32 {
				return dst, fmt.Errorf("%w: record %d header %d over 2 GiB", ErrTooLarge, i, j)
			}
			data += len(h.Key) + len(h.Value)
		}
		lower += data + minRecordSize + minHeaderSize*len(r.Headers)
		estimate += data + overheadEstimate + headerOverheadEstimate*len(r.Headers)
		if lower > limit {
			return dst, fmt.Errorf("%w: records exceed %d bytes at record %d", ErrTooLarge, limit, i)
		}
	}
	start := len(dst)
	dst = slices.Grow(dst, room+min(estimate, limit))[:start+room]
	dst = appendRecords(dst, recs, baseTimestamp, baseOffset)
	if n := len(dst) - start - room; n > limit {
		return dst[:start], fmt.Errorf("%w: records are %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	return dst, nil
}

// appendRecords appends recs in the uncompressed record format, with
// offset deltas 0..n-1 (or from baseOffset, when not negative) and
// timestamp deltas from baseTimestamp. Deltas use
// wrapping arithmetic, which the decoder undoes exactly. Lengths must fit
// int32 (encodeRecords checks); growing dst beforehand makes this loop
// allocation free.
func appendRecords(dst []byte, recs []Record, baseTimestamp, baseOffset int64) []byte {
	for i := range recs {
		r := &recs[i]
		tsDelta := r.Timestamp - baseTimestamp
		delta := i
		if baseOffset >= 0 {
			delta = int(r.Offset - baseOffset)
		}
		dst = appendVarint(dst, int64(recordBodySize(r, tsDelta, delta)))
		dst = append(dst, 0) // record attributes: unused in magic 2
		dst = appendVarint(dst, tsDelta)
		dst = appendVarint(dst, int64(delta))
		dst = appendBytesField(dst, r.Key)
		dst = appendBytesField(dst, r.Value)
		dst = appendVarint(dst, int64(len(r.Headers)))
		for j := range r.Headers {
			h := &r.Headers[j]
			dst = appendVarint(dst, int64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendBytesField(dst, h.Value)
		}
	}
	return dst
}

// readVarint32 decodes a Kafka varint from b[pos:]: a zigzag int32 of at
// most 5 bytes. It returns the position after it, and ok=false if b ends
// first, the encoding is longer than 5 bytes, or it sets bits beyond 32.
// It is written to stay within the inlining budget: it runs several times
// per record.
func readVarint32(b []byte, pos int) (v int32, next int, ok bool) {
	var u uint32
	for i, shift := pos, uint(0); i < len(b) && shift < 35; i, shift = i+1, shift+7 {
		c := b[i]
		u |= uint32(c&0x7f) << shift
		if c < 0x80 {
			if shift == 28 && c > 0x0f {
				break // bits beyond 32
			}
			return int32(u>>1) ^ -int32(u&1), i + 1, true
		}
	}
	return 0, pos, false
}

// readVarint64 decodes a Kafka varlong from b[pos:]: a zigzag int64 of at
// most 10 bytes, failing like readVarint32.
func readVarint64(b []byte, pos int) (v int64, next int, ok bool) {
	var u uint64
	for i, shift := pos, uint(0); i < len(b) && shift < 70; i, shift = i+1, shift+7 {
		c := b[i]
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if shift == 63 && c > 1 {
				break // bits beyond 64
			}
			return int64(u>>1) ^ -int64(u&1), i + 1, true
		}
	}
	return 0, pos, false
}

// readBytesField decodes a length-prefixed byte string (length -1 = nil)
// that must end within b. The result aliases b with its capacity clipped,
// so appending to it cannot overwrite the next field.
func readBytesField(b []byte, pos int) (v []byte, next int, ok bool) {
	n, p, ok := readVarint32(b, pos)
	if !ok || n < -1 || int(n) > len(b)-p {
		return nil, pos, false
	}
	if n == -1 {
		return nil, p, true
	}
	end := p + int(n)
	return b[p:end:end], end, true
}

// recordError returns an error wrapping ErrCorrupt for record i that
// starts at byte pos of the (decompressed) records.
func recordError(h *Header, i, pos int, what string) error {
	return fmt.Errorf("%w: batch at base offset %d: record %d at records byte %d: %s",
		ErrCorrupt, h.BaseOffset, i, pos, what)
}

// parseRecords decodes exactly h.NumRecords records that must fill data
// exactly, and appends them to dst. Keys and values alias data; header keys
// are copied into strings. Every length is checked against the bytes left
// before it is used, and the record count against the smallest possible
// record size before dst grows, so lying counts cannot force allocation.
func parseRecords(data []byte, h *Header, dst []Record) ([]Record, error) {
	n := int(h.NumRecords)
	if n > len(data)/minRecordSize {
		return dst, fmt.Errorf("%w: batch at base offset %d: %d records cannot fit in %d bytes",
			ErrCorrupt, h.BaseOffset, n, len(data))
	}
	dst = slices.Grow(dst, n)
	var hdrs []RecordHeader // shared backing array for all records' headers
	logAppendTime := h.LogAppendTime()
	prevDelta := int32(-1)
	pos := 0
	for i := range n {
		length, p, ok := readVarint32(data, pos)
		if !ok || length < minRecordBody || int(length) > len(data)-p {
			return dst, recordError(h, i, pos, "bad record length")
		}
		end := p + int(length)
		rec := data[:end] // every field of this record must end within it
		p++               // record attributes: unused in magic 2
		tsDelta, p, ok := readVarint64(rec, p)
		if !ok {
			return dst, recordError(h, i, pos, "bad timestamp delta")
		}
		offsetDelta, p, ok := readVarint32(rec, p)
		if !ok || offsetDelta <= prevDelta || offsetDelta > h.LastOffsetDelta {
			return dst, recordError(h, i, pos, "bad or out-of-order offset delta")
		}
		prevDelta = offsetDelta
		// Key and value are readBytesField written out, so that the
		// varint reads inline.
		var key, value []byte
		kl, p, ok := readVarint32(rec, p)
		if !ok || kl < -1 || int(kl) > end-p {
			return dst, recordError(h, i, pos, "bad key length")
		}
		if kl >= 0 {
			key, p = rec[p:p+int(kl):p+int(kl)], p+int(kl)
		}
		vl, p, ok := readVarint32(rec, p)
		if !ok || vl < -1 || int(vl) > end-p {
			return dst, recordError(h, i, pos, "bad value length")
		}
		if vl >= 0 {
			value, p = rec[p:p+int(vl):p+int(vl)], p+int(vl)
		}
		count, p, ok := readVarint32(rec, p)
		if !ok || count < 0 || int(count) > (end-p)/minHeaderSize {
			return dst, recordError(h, i, pos, "bad header count")
		}
		var rh []RecordHeader
		if count > 0 {
			first := len(hdrs)
			for range count {
				var hkl int32
				hkl, p, ok = readVarint32(rec, p)
				if !ok || hkl < 0 || int(hkl) > end-p {
					return dst, recordError(h, i, pos, "bad header key length")
				}
				hk := string(rec[p : p+int(hkl)])
				var hv []byte
				hv, p, ok = readBytesField(rec, p+int(hkl))
				if !ok {
					return dst, recordError(h, i, pos, "bad header value length")
				}
				hdrs = append(hdrs, RecordHeader{Key: hk, Value: hv})
			}
			rh = hdrs[first:len(hdrs):len(hdrs)]
		}
		if p != end {
			return dst, recordError(h, i, pos, "record length does not match its fields")
		}
		ts := h.BaseTimestamp + tsDelta // wraps exactly as appendRecords did
		if logAppendTime {
			ts = h.MaxTimestamp // Kafka: the broker's time applies to every record
		}
		// Fill the element in place (dst has room for n): appending a
		// composite literal builds it on the stack and copies it, which
		// costs more than all of the parsing.
		dst = dst[:len(dst)+1]
		r := &dst[len(dst)-1]
		r.Offset = h.BaseOffset + int64(offsetDelta)
		r.Timestamp = ts
		r.Key = key
		r.Value = value
		r.Headers = rh
		pos = end
	}
	if pos != len(data) {
		return dst, fmt.Errorf("%w: batch at base offset %d: %d bytes after the last of %d records",
			ErrCorrupt, h.BaseOffset, len(data)-pos, n)
	}
	return dst, nil
}
