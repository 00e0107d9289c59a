// Package batch encodes, validates and decodes record batches in the Kafka
// RecordBatch v2 format (magic 2). A batch is Sluice's unit of storage,
// replication and transfer: segment files hold batches back to back, the
// raft log carries them, and fetches return them, all byte for byte in this
// format, so the server can validate a batch and stamp its base offset and
// leader epoch without re-encoding any record.
//
// # Batch layout
//
// All integers are big endian. On-disk format; never change.
//
//	pos  size  field                  notes
//	  0     8  BaseOffset             offset of the first record; outside the CRC
//	  8     4  Length                 bytes after this field: Size() = 12 + Length
//	 12     4  PartitionLeaderEpoch   stamped by the leader; outside the CRC
//	 16     1  Magic                  always 2
//	 17     4  CRC                    CRC-32C (Castagnoli) of bytes [21, Size())
//	 21     2  Attributes             see below; the CRC region starts here
//	 23     4  LastOffsetDelta        last offset - BaseOffset
//	 27     8  BaseTimestamp          Unix ms; timestamp deltas are from this
//	 35     8  MaxTimestamp           Unix ms, the largest record timestamp
//	 43     8  ProducerID             -1 = no idempotent producer
//	 51     2  ProducerEpoch          -1 with no producer
//	 53     4  BaseSequence           sequence of the first record, -1 with no producer
//	 57     4  NumRecords             number of records that follow
//	 61     …  records                NumRecords records; one compressed block
//	                                  if the codec is not none
//
// Attributes bits: 0-2 compression codec (0 none, 1 gzip, 2 snappy, 3 lz4,
// 4 zstd), 3 timestamp type (0 CreateTime, 1 LogAppendTime), 4
// transactional, 5 control batch. Other bits are ignored.
//
// # Record layout
//
// Varints are zigzag-encoded LEB128: "varint" is an int32 of at most 5
// bytes, "varlong" an int64 of at most 10. Lengths of -1 mean nil.
//
//	field            type     notes
//	length           varint   bytes of the record after this field
//	attributes       int8     unused, written as 0
//	timestampDelta   varlong  timestamp - BaseTimestamp
//	offsetDelta      varint   offset - BaseOffset; strictly increasing, <= LastOffsetDelta
//	keyLength        varint   -1 = nil key
//	key              bytes
//	valueLength      varint   -1 = nil value
//	value            bytes
//	headersCount     varint
//	headers          repeated: keyLength varint (>= 0), key (string),
//	                 valueLength varint (-1 = nil), value
//
// Compression: gzip and zstd are single (or concatenated) standard
// streams, lz4 is the LZ4 frame format, and snappy is a raw snappy block
// when written; on read, the xerial framing that Java clients write
// ("\x82SNAPPY\x00", version and compatible version as two int32s, then
// [int32 length][raw snappy block] chunks) is accepted too.
//
// # Invariants
//
//   - A batch that Validate accepts has a sane header (ParseHeader), is
//     complete, and its CRC matches. BaseOffset and PartitionLeaderEpoch
//     are outside the CRC: SetBaseOffset and SetPartitionLeaderEpoch keep a
//     batch valid, and a flipped bit there is not detected.
//   - A batch that DecodeRecords accepts also holds exactly NumRecords
//     well-formed records with no bytes left over.
//   - Decoders bound every length by the bytes remaining before allocating,
//     bound decompressed output by the caller's limit, and never panic.
//
// # Concurrency and ownership
//
// All functions are safe for concurrent use. Codec state (gzip and lz4
// readers and writers, the zstd encoder and decoder) is pooled or shared
// and built on first use. Append only reads its records and returns bytes
// that alias nothing of them. DecodeRecords returns records that alias b
// (uncompressed) or a buffer it allocated (compressed); see its comment.
package batch
