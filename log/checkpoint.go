package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/sluicedb/sluice/internal/fsutil"
)

// The log start offset checkpoint. On-disk format; never change:
//
//	0  8  log start offset (int64, big endian)
//	8  4  CRC-32C of bytes [0, 8)
const (
	checkpointName = "log-start-offset"
	checkpointSize = 12
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encodeCheckpoint(offset int64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, checkpointSize), uint64(offset))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeCheckpoint returns the log start offset stored in b.
func decodeCheckpoint(b []byte) (int64, error) {
	if len(b) != checkpointSize {
		return 0, fmt.Errorf("%w: checkpoint is %d bytes, want %d", ErrCorrupt, len(b), checkpointSize)
	}
	if got, want := crc32.Checksum(b[:8], crcTable), binary.BigEndian.Uint32(b[8:]); got != want {
		return 0, fmt.Errorf("%w: checkpoint CRC %08x, want %08x", ErrCorrupt, got, want)
	}
	off := int64(binary.BigEndian.Uint64(b))
	if off < 0 {
		return 0, fmt.Errorf("%w: checkpoint offset %d is negative", ErrCorrupt, off)
	}
	return off, nil
}

// readCheckpoint returns the stored log start offset, or ok = false when
// there is no checkpoint.
func readCheckpoint(fs vfs.FS, dir string) (off int64, ok bool, err error) {
	name := fs.PathJoin(dir, checkpointName)
	f, err := fs.Open(name)
	if err != nil {
		if fsutil.IsNotExist(err) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("log: open %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, checkpointSize+1))
	if err != nil {
		return 0, false, fmt.Errorf("log: read %s: %w", name, err)
	}
	off, err = decodeCheckpoint(b)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", name, err)
	}
	return off, true, nil
}

// writeCheckpoint durably replaces the checkpoint.
func writeCheckpoint(fs vfs.FS, dir string, offset int64) error {
	if err := fsutil.WriteFileAtomic(fs, fs.PathJoin(dir, checkpointName), encodeCheckpoint(offset)); err != nil {
		return fmt.Errorf("log: checkpoint: %w", err)
	}
	return nil
}
