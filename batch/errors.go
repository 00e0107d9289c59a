package batch

import "errors"

// Sentinel errors. Functions wrap them with %w and add where the problem is
// (field, record index, byte position, base offset), so match them with
// errors.Is, never by string.
var (
	// ErrTruncated reports that b ends before the batch does: fewer than
	// HeaderSize bytes, or fewer than the header's Size(). On the tail of a
	// log this is a torn write; the batch may be complete once more bytes
	// arrive.
	ErrTruncated = errors.New("batch: truncated")

	// ErrCorrupt reports bytes that cannot be a valid batch: a bad magic, a
	// header field out of range, a CRC mismatch, a record that does not
	// parse, or a compressed payload that does not decompress.
	ErrCorrupt = errors.New("batch: corrupt")

	// ErrTooLarge reports that a batch would exceed a size limit: on decode,
	// the decompressed records exceed the caller's maxDecompressed; on
	// encode, a length does not fit the format's int32 fields.
	ErrTooLarge = errors.New("batch: too large")

	// ErrEmpty reports an attempt to encode a batch with no records.
	ErrEmpty = errors.New("batch: no records")

	// ErrUnknownCodec reports an EncodeOptions.Codec outside None..Zstd.
	// A stored batch with an unknown codec is ErrCorrupt instead.
	ErrUnknownCodec = errors.New("batch: unknown compression codec")
)
