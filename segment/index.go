package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// On-disk format; never change.
const (
	indexEntrySize     = 8  // relative offset uint32, position uint32
	timeIndexEntrySize = 12 // timestamp int64, relative offset uint32
)

// errIndex is the cause inside a CorruptError for a bad index file. Index
// files are derived data, so callers rebuild rather than refuse to open.
var errIndex = errors.New("segment: bad index")

// indexEntry maps a relative offset to the file position of the batch that
// starts there.
type indexEntry struct {
	rel uint32 // offset - segment base offset
	pos uint32 // byte position in the .log file
}

// timeEntry says that every batch whose base offset is below base+rel has a
// max timestamp of at most ts. Entries are strictly increasing in ts and rel.
type timeEntry struct {
	ts  int64
	rel uint32
}

func appendIndexEntry(dst []byte, e indexEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, e.rel)
	return binary.BigEndian.AppendUint32(dst, e.pos)
}

func appendTimeEntry(dst []byte, e timeEntry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
	return binary.BigEndian.AppendUint32(dst, e.rel)
}

// decodeIndex decodes a whole .index file. Entries must be strictly
// increasing in both fields. A trailing partial entry (a torn write) is an
// error like any other: the caller decides whether to rebuild.
func decodeIndex(b []byte) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errIndex, len(b), indexEntrySize)
	}
	out := make([]indexEntry, 0, len(b)/indexEntrySize)
	for i := 0; i < len(b); i += indexEntrySize {
		e := indexEntry{
			rel: binary.BigEndian.Uint32(b[i:]),
			pos: binary.BigEndian.Uint32(b[i+4:]),
		}
		if n := len(out); n > 0 && (e.rel <= out[n-1].rel || e.pos <= out[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d (%d@%d) does not follow (%d@%d)",
				errIndex, n, e.rel, e.pos, out[n-1].rel, out[n-1].pos)
		}
		out = append(out, e)
	}
	return out, nil
}

// decodeTimeIndex decodes a whole .timeindex file, with the same rules as
// decodeIndex.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errIndex, len(b), timeIndexEntrySize)
	}
	out := make([]timeEntry, 0, len(b)/timeIndexEntrySize)
	for i := 0; i < len(b); i += timeIndexEntrySize {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(b[i:])),
			rel: binary.BigEndian.Uint32(b[i+8:]),
		}
		if n := len(out); n > 0 && (e.ts <= out[n-1].ts || e.rel <= out[n-1].rel) {
			return nil, fmt.Errorf("%w: time entry %d (%d@%d) does not follow (%d@%d)",
				errIndex, n, e.ts, e.rel, out[n-1].ts, out[n-1].rel)
		}
		out = append(out, e)
	}
	return out, nil
}

// floorIndex returns the position of the last entry whose relative offset is
// at most rel, or 0 (the segment start) when there is none.
func floorIndex(entries []indexEntry, rel uint32) int64 {
	e := floorEntry(entries, rel)
	return int64(e.pos)
}

// floorEntry returns the last entry whose relative offset is at most rel,
// or the zero entry (the segment start) when there is none.
func floorEntry(entries []indexEntry, rel uint32) indexEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].rel > rel })
	if i == 0 {
		return indexEntry{}
	}
	return entries[i-1]
}

// floorTime returns the relative offset from which a scan for the first batch
// with max timestamp >= ts can start: that of the last entry whose ts is
// below ts (all batches before it are older), or 0.
func floorTime(entries []timeEntry, ts int64) uint32 {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].ts >= ts })
	if i == 0 {
		return 0
	}
	return entries[i-1].rel
}
