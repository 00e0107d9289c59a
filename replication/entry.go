package replication

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// A raft log entry is stored as one Pebble value (the key holds the group
// and index, see store.go). Layout of version 1; on-disk format; never
// change (a new layout gets a new version byte, and decodeEntry keeps
// reading every old one):
//
//	offset  size     field
//	0       1        version, 1
//	1       8        index, uint64 big-endian (must equal the key's index)
//	9       8        term, uint64 big-endian
//	17      1        type, raft.LogType (0 LogCommand .. 5 LogConfiguration)
//	18      8        appendedAt, int64 big-endian Unix nanoseconds; 0 is the zero time.Time
//	26      uvarint  len(data), minimal encoding
//	        len      data
//	        uvarint  len(extensions), minimal encoding
//	        len      extensions
//
// Nothing follows the extensions. There is no checksum: Pebble checksums
// its WAL records and sstable blocks.
const (
	entryVersion1  = 1
	entryHeaderLen = 26
	// maxLogType is the highest raft.LogType the codec accepts. Raft v1.8
	// defines 0..5; a new type needs a decision here, not a silent pass.
	maxLogType = raft.LogConfiguration
)

// encodedEntryLen returns the number of bytes encodeEntry appends for l.
func encodedEntryLen(l *raft.Log) int {
	return entryHeaderLen +
		uvarintLen(uint64(len(l.Data))) + len(l.Data) +
		uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions)
}

// encodeEntry appends the encoding of l to dst and returns the extended
// slice. It does not validate l: StoreLogs checks the index and type first
// (validEntry), so that nothing is written that decodeEntry would refuse.
//
// The zero AppendedAt encodes as 0, and so does time.Unix(0, 0), which
// therefore decodes as the zero time. Times outside the int64 nanosecond
// range (years 1678..2262) do not round-trip; raft stamps time.Now().
func encodeEntry(dst []byte, l *raft.Log) []byte {
	n := len(dst)
	size := encodedEntryLen(l)
	dst = slices.Grow(dst, size)[:n+size]
	putEntry(dst[n:], l)
	return dst
}

// putEntry writes the encoding of l into b, which must be exactly
// encodedEntryLen(l) bytes long (StoreLogs writes straight into a Pebble
// batch this way).
func putEntry(b []byte, l *raft.Log) {
	b[0] = entryVersion1
	binary.BigEndian.PutUint64(b[1:], l.Index)
	binary.BigEndian.PutUint64(b[9:], l.Term)
	b[17] = byte(l.Type)
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	binary.BigEndian.PutUint64(b[18:], uint64(at))
	p := entryHeaderLen
	p += binary.PutUvarint(b[p:], uint64(len(l.Data)))
	p += copy(b[p:], l.Data)
	p += binary.PutUvarint(b[p:], uint64(len(l.Extensions)))
	copy(b[p:], l.Extensions)
}

// decodeEntry decodes one encoded entry from b into *l, overwriting every
// field. Data and Extensions are copied (they never alias b) and are nil
// when empty; AppendedAt is the zero time when stored as 0.
//
// Every length is checked against the bytes left before anything is
// allocated. An unknown version or type, a truncated header, a length past
// the end, a non-minimal varint, or trailing bytes return an error wrapping
// ErrCorruptEntry, and *l is left unchanged.
func decodeEntry(b []byte, l *raft.Log) error {
	if len(b) < entryHeaderLen {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorruptEntry, len(b), entryHeaderLen)
	}
	if b[0] != entryVersion1 {
		return fmt.Errorf("%w: unknown version %d", ErrCorruptEntry, b[0])
	}
	typ := raft.LogType(b[17])
	if typ > maxLogType {
		return fmt.Errorf("%w: unknown type %d", ErrCorruptEntry, b[17])
	}
	rest := b[entryHeaderLen:]
	data, rest, err := cutBytes(rest, "data")
	if err != nil {
		return err
	}
	ext, rest, err := cutBytes(rest, "extensions")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptEntry, len(rest))
	}

	var appendedAt time.Time
	if at := int64(binary.BigEndian.Uint64(b[18:])); at != 0 {
		appendedAt = time.Unix(0, at)
	}
	// One allocation holds both byte fields; the three-index slices keep an
	// append to Data from running into Extensions.
	var buf []byte
	if n := len(data) + len(ext); n > 0 {
		buf = make([]byte, n)
	}
	*l = raft.Log{
		Index:      binary.BigEndian.Uint64(b[1:]),
		Term:       binary.BigEndian.Uint64(b[9:]),
		Type:       typ,
		AppendedAt: appendedAt,
	}
	if len(data) > 0 {
		l.Data = buf[:len(data):len(data)]
		copy(l.Data, data)
	}
	if len(ext) > 0 {
		l.Extensions = buf[len(data):]
		copy(l.Extensions, ext)
	}
	return nil
}

// cutBytes splits a uvarint-length-prefixed field off the front of b. The
// length must be minimally encoded (so that re-encoding gives the same
// bytes) and must fit in what is left of b. The field aliases b.
func cutBytes(b []byte, field string) (val, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, nil, fmt.Errorf("%w: bad %s length varint", ErrCorruptEntry, field)
	}
	if w != uvarintLen(n) {
		return nil, nil, fmt.Errorf("%w: non-minimal %s length varint", ErrCorruptEntry, field)
	}
	b = b[w:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: %s length %d exceeds the %d bytes left", ErrCorruptEntry, field, n, len(b))
	}
	return b[:n], b[n:], nil
}

// uvarintLen returns the number of bytes binary.PutUvarint writes for v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// validEntry reports why l cannot be stored, or nil. Raft indexes start at
// 1 (0 means "empty" in FirstIndex and LastIndex), and a type the codec
// does not know would be written but refused on read.
func validEntry(l *raft.Log) error {
	if l.Index == 0 {
		return fmt.Errorf("%w: index 0", ErrInvalidEntry)
	}
	if l.Type > maxLogType {
		return fmt.Errorf("%w: index %d: unknown type %d", ErrInvalidEntry, l.Index, l.Type)
	}
	return nil
}
