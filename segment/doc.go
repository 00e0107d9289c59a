// Package segment stores one contiguous range of a partition's log: a .log
// file of Kafka RecordBatch v2 batches and its sparse .index and .timeindex.
//
// # Files
//
// A segment is named by its base offset, the offset of its first record,
// written as 20 decimal digits:
//
//	00000000000000004096.log        batches, back to back
//	00000000000000004096.index      sparse offset index
//	00000000000000004096.timeindex  sparse time index
//	00000000000000004096.<pos>.broken  a torn tail cut off by recovery (kept for people, never read)
//
// # .log layout (on-disk format; never change)
//
// The file is a sequence of batches with no padding and no file header. Each
// batch is a Kafka RecordBatch v2 exactly as package batch encodes it
// (big endian; see batch/doc.go for the record layout):
//
//	offset  size  field
//	0       8     base offset          stamped by Append; contiguous across batches
//	8       4     batch length         bytes after this field; batch size = 12 + length
//	12      4     partition leader epoch
//	16      1     magic = 2
//	17      4     CRC-32C (Castagnoli) of bytes [21, 12+length)
//	21      2     attributes (codec, timestamp type, transactional, control)
//	23      4     last offset delta    last offset = base offset + delta
//	27      8     base timestamp (ms)
//	35      8     max timestamp (ms)
//	43      8     producer id
//	51      2     producer epoch
//	53      4     base sequence
//	57      4     record count
//	61      ...   records (compressed as one block when the codec is not none)
//
// The base offset and leader epoch lie outside the CRC, so stamping them
// needs no re-encoding. Offsets are contiguous: each batch's base offset is
// the previous batch's last offset + 1, and the first is the segment's base
// offset.
//
// # .index layout (on-disk format; never change)
//
// A sequence of 8-byte entries, strictly increasing in both fields:
//
//	0  4  relative offset   base offset of a batch - segment base offset (uint32)
//	4  4  position          byte position of that batch in the .log (uint32)
//
// An entry is added for the first batch appended after at least
// Options.IndexInterval bytes (default 4 KiB) since the previous entry; the
// first batch, at position 0, needs none. The 32-bit fields bound a segment
// to 4 GiB and 2^32 offsets (Append returns ErrFull beyond).
//
// # .timeindex layout (on-disk format; never change)
//
// A sequence of 12-byte entries, strictly increasing in both fields:
//
//	0  8  timestamp (ms)    the largest max timestamp of all batches before the relative offset
//	8  4  relative offset   an offset that also has an .index entry
//
// An entry is added beside an .index entry when the largest timestamp seen so
// far grew since the last time entry. To find the first batch with max
// timestamp >= t, start at the last entry whose timestamp is below t and scan.
//
// # Durability
//
// Append writes the batch with WriteAt at the end of the published size.
// Sync fsyncs the .log and only then writes the index entries added since
// the previous Sync, so an index entry on disk always points at durable
// bytes. Seal fsyncs all three files and the directory. A failed fsync makes
// the segment refuse further writes (ErrFailed); reads go on.
//
// # Recovery
//
// Open, for the active (last) segment:
//
//  1. Load .index and .timeindex; drop a missing or malformed one.
//  2. Find the durable point: the last index entry that lies inside the
//     file. Entries reach the .index only after the bytes they cover, the
//     batch the entry points at included, were fsynced; so that batch and
//     every one before it are durable, even if damage now hides the header
//     the entry points at.
//  3. Read every batch whole, checking framing, offset contiguity and CRC.
//  4. At the first bad batch: if it lies after the batch at the durable
//     point it is a torn write; copy the rest of the file to a .broken file,
//     log it, and truncate the .log there. At or before the durable point it
//     is damage to durable data: ErrCorrupt.
//  5. Fsync the .log (batches kept past the durable point may have been in
//     the page cache only), then rebuild the indexes from the walk; keep the
//     index files if they are a prefix of the rebuilt ones and decoded
//     cleanly, else rewrite them atomically.
//
// A sealed segment is read the same way, but any damage (a flipped byte, a
// zeroed sector, a short tail) is a *CorruptError naming the file and
// position: sealed data was fsynced, so damage there is not a torn write,
// and repair is an explicit decision. Open therefore reads every byte of the
// log once; that is the price of refusing to serve damaged data.
//
// # Concurrency
//
// One writer goroutine calls Append, Sync, Seal, TruncateTo and Close.
// Readers call Read, FindTimestamp and the accessors concurrently with
// Append: the writer publishes size and next offset atomically after the
// bytes are written, and readers never read past the published size. The
// in-memory indexes are guarded by mu (readers RLock). TruncateTo, Close
// and Remove must be excluded from readers by the caller.
package segment
