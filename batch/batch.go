package batch

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// Producer fields Kafka writes for a batch without an idempotent producer.
const (
	noProducerID    = -1
	noProducerEpoch = -1
	noSequence      = -1
)

// EncodeOptions are the batch-level fields Append writes.
type EncodeOptions struct {
	// Codec compresses the records as one block; None stores them as is.
	Codec Codec
	// ProducerID is the idempotent producer's id, or -1 for none. With -1,
	// ProducerEpoch and BaseSequence are ignored and written as -1, as
	// Kafka does.
	ProducerID    int64
	ProducerEpoch int16
	// BaseSequence is the producer sequence number of the first record.
	BaseSequence int32
	// BaseOffset is the offset of the first record. A server that assigns
	// offsets later overwrites it with SetBaseOffset.
	BaseOffset int64
	// PartitionLeaderEpoch is stamped by the leader; producers write -1.
	PartitionLeaderEpoch int32
}

// scratchPool holds buffers for the uncompressed records of a batch that is
// about to be compressed. Buffers above maxPooledScratch are dropped rather
// than pinned in the pool.
var scratchPool sync.Pool // of *[]byte

const maxPooledScratch = 4 << 20

// Append encodes recs as one complete batch, header and CRC included, and
// appends it to dst. Offset deltas are 0..len(recs)-1 (Record.Offset is
// ignored), BaseTimestamp is the first record's timestamp and MaxTimestamp
// the largest; the timestamp type is CreateTime.
//
// It returns the extended slice. On error it returns dst unchanged in
// length: ErrEmpty for no records, ErrUnknownCodec for a bad
// opts.Codec, ErrTooLarge if a length does not fit the format. recs is
// only read; nothing in the result aliases it.
func Append(dst []byte, recs []Record, opts EncodeOptions) ([]byte, error) {
	if len(recs) == 0 {
		return dst, ErrEmpty
	}
	if len(recs) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: %d records", ErrTooLarge, len(recs))
	}
	if !opts.Codec.valid() {
		return dst, fmt.Errorf("%w: %d", ErrUnknownCodec, opts.Codec)
	}
	baseTS, maxTS := recs[0].Timestamp, recs[0].Timestamp
	for i := range recs {
		maxTS = max(maxTS, recs[i].Timestamp)
	}
	start := len(dst)
	var err error
	if opts.Codec == None {
		dst, err = encodeRecords(dst, HeaderSize, recs, baseTS, maxRecordsSize)
	} else {
		dst, err = appendCompressed(dst, HeaderSize, recs, baseTS, opts.Codec)
	}
	if err != nil {
		return dst[:start], err
	}
	length := len(dst) - start - lengthPrefix
	if length > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: compressed batch is %d bytes", ErrTooLarge, length)
	}

	h := Header{
		BaseOffset:           opts.BaseOffset,
		Length:               int32(length),
		PartitionLeaderEpoch: opts.PartitionLeaderEpoch,
		Magic:                Magic,
		Attributes:           int16(opts.Codec),
		LastOffsetDelta:      int32(len(recs) - 1),
		BaseTimestamp:        baseTS,
		MaxTimestamp:         maxTS,
		ProducerID:           opts.ProducerID,
		ProducerEpoch:        opts.ProducerEpoch,
		BaseSequence:         opts.BaseSequence,
		NumRecords:           int32(len(recs)),
	}
	if opts.ProducerID == noProducerID {
		h.ProducerEpoch, h.BaseSequence = noProducerEpoch, noSequence
	}
	b := dst[start:]
	putHeader(b, &h)
	sealCRC(b)
	return dst, nil
}

// appendCompressed is encodeRecords for a compressed batch: it encodes the
// records into a pooled scratch buffer and appends them compressed.
func appendCompressed(dst []byte, room int, recs []Record, baseTimestamp int64, c Codec) ([]byte, error) {
	sp, _ := scratchPool.Get().(*[]byte)
	if sp == nil {
		sp = new([]byte)
	}
	raw, err := encodeRecords((*sp)[:0], 0, recs, baseTimestamp, maxRecordsSize)
	if err == nil {
		start := len(dst)
		dst, err = compress(c, slices.Grow(dst, room)[:start+room], raw)
	}
	if cap(raw) <= maxPooledScratch {
		*sp = raw[:0]
		scratchPool.Put(sp)
	}
	return dst, err
}

// DecodeRecords validates the batch at the start of b (see Validate; bytes
// after its Size() are ignored), decompresses its records if needed and
// appends them to dst, with absolute offsets and timestamps. For a
// LogAppendTime batch every record's timestamp is MaxTimestamp, as in Kafka.
//
// Ownership: for an uncompressed batch, Key, Value and header Values alias
// b, so b must stay unmodified while the records are in use. For a
// compressed batch they alias one buffer allocated by this call, which the
// records own. Header keys are copied.
//
// maxDecompressed bounds the decompressed size of a compressed batch (it
// does not limit uncompressed batches); beyond it the error wraps
// ErrTooLarge, and maxDecompressed <= 0 rejects any compressed records.
// Every length is checked against the bytes remaining before anything is
// allocated for it, so neither a lying header nor a lying record makes it
// allocate more than a small multiple of len(b) + maxDecompressed.
//
// Errors wrap ErrTruncated, ErrCorrupt or ErrTooLarge. On error dst is
// returned with its original length, though elements past it may have been
// overwritten. It does not panic on any input.
func DecodeRecords(b []byte, dst []Record, maxDecompressed int) ([]Record, error) {
	h, err := Validate(b)
	if err != nil {
		return dst, err
	}
	data := b[HeaderSize:h.Size()]
	if c := h.Codec(); c != None {
		if data, err = decompress(c, data, maxDecompressed); err != nil {
			return dst, fmt.Errorf("batch at base offset %d: %w", h.BaseOffset, err)
		}
	}
	n := len(dst)
	dst, err = parseRecords(data, &h, dst)
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}
