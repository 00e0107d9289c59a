package batch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
)

// HeaderSize is the size of the fixed batch header. On-disk format; never change.
const HeaderSize = 61

// Magic is the only record batch version this package reads and writes.
// On-disk format; never change.
const Magic = 2

// Byte positions of the header fields. On-disk format; never change.
const (
	posBaseOffset      = 0
	posLength          = 8
	posLeaderEpoch     = 12
	posMagic           = 16
	posCRC             = 17
	posAttributes      = 21
	posLastOffsetDelta = 23
	posBaseTimestamp   = 27
	posMaxTimestamp    = 35
	posProducerID      = 43
	posProducerEpoch   = 51
	posBaseSequence    = 53
	posNumRecords      = 57

	// lengthPrefix is the number of bytes the Length field does not count:
	// BaseOffset and Length itself. Size() = lengthPrefix + Length.
	lengthPrefix = 12
	// minLength is the smallest valid Length: a header with no records.
	minLength = HeaderSize - lengthPrefix
	// crcStart is where the CRC-covered region begins (Attributes). The
	// fields before it (BaseOffset, Length, PartitionLeaderEpoch, Magic,
	// CRC) are outside the CRC so that a broker can stamp BaseOffset and
	// PartitionLeaderEpoch without recomputing it.
	crcStart = posAttributes
)

// Attribute bits. On-disk format; never change.
const (
	attrCodecMask     = 0x07
	attrTimestampType = 0x08 // 0 = CreateTime, 1 = LogAppendTime
	attrTransactional = 0x10
	attrControl       = 0x20
)

// castagnoli is the CRC-32C table. MakeTable also selects the hardware
// implementation where the CPU has one. Read-only after initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec is the compression codec of a batch's records, stored in the low
// three bits of Attributes. On-disk format; never change the values.
type Codec int8

// Codecs, with the values Kafka assigns them.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// String returns the lower-case name Kafka uses for the codec
// ("none", "gzip", "snappy", "lz4", "zstd"), or "codec(N)" for an unknown value.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// valid reports whether c is one of the known codecs.
func (c Codec) valid() bool { return c >= None && c <= Zstd }

// Header is the decoded fixed part of a batch. Field order and meaning
// follow the byte layout in doc.go.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field; Size() = 12 + Length
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32 // CRC-32C of the bytes from Attributes to the end of the batch
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64 // -1 = no producer id
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size returns the total number of bytes of the batch, header included.
func (h Header) Size() int { return lengthPrefix + int(h.Length) }

// LastOffset returns the offset of the batch's last record. With log
// compaction the last record may be gone, but LastOffset still is the last
// offset the batch accounts for.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec returns the compression codec from Attributes.
func (h Header) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether the timestamps are the broker's append time
// (attribute bit 3) rather than the producer's create time.
func (h Header) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// Transactional reports whether the batch belongs to a transaction (attribute bit 4).
func (h Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds control records, such as
// transaction markers, rather than user data (attribute bit 5).
func (h Header) Control() bool { return h.Attributes&attrControl != 0 }

// ParseHeader decodes and sanity-checks the fixed HeaderSize-byte header at
// the start of b. b may be longer than HeaderSize; the rest is not looked
// at, and in particular the CRC is not checked (use Validate).
//
// It returns ErrTruncated if len(b) < HeaderSize, and an error wrapping
// ErrCorrupt if the magic is not 2, Length is smaller than an empty batch,
// NumRecords or LastOffsetDelta is negative, LastOffsetDelta cannot hold
// NumRecords distinct offsets, or the codec is unknown. On error the
// returned Header is the zero value.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[posBaseOffset:])),
		Length:               int32(be.Uint32(b[posLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[posLeaderEpoch:])),
		Magic:                int8(b[posMagic]),
		CRC:                  be.Uint32(b[posCRC:]),
		Attributes:           int16(be.Uint16(b[posAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[posLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[posBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[posMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[posProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[posProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[posBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[posNumRecords:])),
	}
	if err := h.check(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// check returns an error wrapping ErrCorrupt if a field is out of range.
func (h *Header) check() error {
	switch {
	case h.Magic != Magic:
		return fmt.Errorf("%w: magic %d at base offset %d, want %d", ErrCorrupt, h.Magic, h.BaseOffset, Magic)
	case h.Length < minLength:
		return fmt.Errorf("%w: length %d at base offset %d, minimum %d", ErrCorrupt, h.Length, h.BaseOffset, minLength)
	case h.NumRecords < 0:
		return fmt.Errorf("%w: record count %d at base offset %d", ErrCorrupt, h.NumRecords, h.BaseOffset)
	case h.LastOffsetDelta < 0:
		return fmt.Errorf("%w: last offset delta %d at base offset %d", ErrCorrupt, h.LastOffsetDelta, h.BaseOffset)
	case h.NumRecords > 0 && h.LastOffsetDelta < h.NumRecords-1:
		return fmt.Errorf("%w: last offset delta %d at base offset %d cannot hold %d records",
			ErrCorrupt, h.LastOffsetDelta, h.BaseOffset, h.NumRecords)
	case !h.Codec().valid():
		return fmt.Errorf("%w: unknown codec %d at base offset %d", ErrCorrupt, h.Codec(), h.BaseOffset)
	}
	return nil
}

// Validate parses the header of the batch that starts at b[0], checks that
// b holds the whole batch (len(b) >= Size(), else ErrTruncated) and that
// the CRC over b[21:Size()] matches (else ErrCorrupt). Bytes after Size()
// are ignored. It does not look inside the records and does not allocate
// unless it returns an error.
//
// Header errors are those of ParseHeader and come with a zero Header. For
// the size and CRC errors the parsed Header is returned as well, so that a
// caller can report or skip the batch.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	// Compare in int64 so that a huge Length cannot overflow int on 32-bit
	// platforms.
	if int64(len(b)) < lengthPrefix+int64(h.Length) {
		return h, fmt.Errorf("%w: batch at base offset %d is %d bytes, have %d",
			ErrTruncated, h.BaseOffset, lengthPrefix+int64(h.Length), len(b))
	}
	if got := crc32.Checksum(b[crcStart:h.Size()], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: crc %#08x at base offset %d, computed %#08x", ErrCorrupt, h.CRC, h.BaseOffset, got)
	}
	return h, nil
}

// SetBaseOffset overwrites the BaseOffset field of the batch at b[0]. The
// field is outside the CRC, so the batch stays valid. It does nothing if
// len(b) < HeaderSize.
func SetBaseOffset(b []byte, off int64) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint64(b[posBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the PartitionLeaderEpoch field of the
// batch at b[0]. The field is outside the CRC, so the batch stays valid. It
// does nothing if len(b) < HeaderSize.
func SetPartitionLeaderEpoch(b []byte, e int32) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(e))
}

// putHeader writes every field of h into b[:HeaderSize], CRC included as
// given; see sealCRC.
func putHeader(b []byte, h *Header) {
	be := binary.BigEndian
	b = b[:HeaderSize]
	be.PutUint64(b[posBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[posLength:], uint32(h.Length))
	be.PutUint32(b[posLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[posMagic] = byte(h.Magic)
	be.PutUint32(b[posCRC:], h.CRC)
	be.PutUint16(b[posAttributes:], uint16(h.Attributes))
	be.PutUint32(b[posLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[posBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[posMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[posProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[posProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[posBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[posNumRecords:], uint32(h.NumRecords))
}

// sealCRC computes the CRC of the complete batch b (len(b) == Size()) and
// stores it in the header.
func sealCRC(b []byte) {
	binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[crcStart:], castagnoli))
}
