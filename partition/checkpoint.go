package partition

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// A checkpoint is the state machine state that matches a durable prefix of
// the log: everything applied up to raft index applied, with the log ending
// at logEnd. On restart the log is cut back to logEnd and raft replays the
// entries after applied. On-disk format (a Pebble value); never change:
//
//	version u8 = 3, applied u64, logEnd i64, clock i64, producer table
//	  (see producers.appendTo), offset table (see offsetTable.appendTo),
//	  queue table (see queueTable.appendTo)
//
// Older versions still decode: version 1, written before committed
// offsets existed, ends after the producer table (no committed offsets,
// no queues); version 2, written before queues existed, ends after the
// offset table (no queues). Version 3 is always written.
type checkpoint struct {
	applied   uint64
	logEnd    int64
	clock     int64 // the largest leader timestamp applied (monotonic)
	producers producers
	offsets   offsetTable // never nil once decoded
	queues    queueTable  // never nil once decoded
}

const (
	checkpointVersion   = 3
	checkpointVersionV2 = 2 // no queue table
	checkpointVersionV1 = 1 // no offset table, no queue table
)

// checkpointKey is the Pebble key of a partition's checkpoint: a prefix
// byte, the length-prefixed id, a kind byte.
func checkpointKey(id string) []byte {
	k := []byte{'p'}
	k = binary.AppendUvarint(k, uint64(len(id)))
	k = append(k, id...)
	return append(k, 'c')
}

func (c *checkpoint) encode() []byte {
	b := []byte{checkpointVersion}
	b = binary.BigEndian.AppendUint64(b, c.applied)
	b = binary.BigEndian.AppendUint64(b, uint64(c.logEnd))
	b = binary.BigEndian.AppendUint64(b, uint64(c.clock))
	b = c.producers.appendTo(b)
	b = c.offsets.appendTo(b)
	return c.queues.appendTo(b)
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	if len(b) < 25 || b[0] < checkpointVersionV1 || b[0] > checkpointVersion {
		return checkpoint{}, fmt.Errorf("%w: checkpoint of %d bytes", ErrCorrupt, len(b))
	}
	c := checkpoint{
		applied: binary.BigEndian.Uint64(b[1:]),
		logEnd:  int64(binary.BigEndian.Uint64(b[9:])),
		clock:   int64(binary.BigEndian.Uint64(b[17:])),
	}
	if c.logEnd < 0 {
		return checkpoint{}, fmt.Errorf("%w: checkpoint log end %d", ErrCorrupt, c.logEnd)
	}
	p, rest, err := decodeProducers(b[25:])
	if err != nil {
		return checkpoint{}, err
	}
	c.offsets, c.queues = offsetTable{}, queueTable{}
	if b[0] >= checkpointVersionV2 {
		if c.offsets, rest, err = decodeOffsetTable(rest); err != nil {
			return checkpoint{}, err
		}
	}
	if b[0] >= checkpointVersion {
		// The table is the rest of the value.
		if len(rest) > maxSnapshotQueues {
			return checkpoint{}, fmt.Errorf("%w: checkpoint queue table of %d bytes", ErrCorrupt, len(rest))
		}
		if c.queues, rest, err = decodeQueueTable(rest, c.logEnd); err != nil {
			return checkpoint{}, err
		}
	}
	if len(rest) != 0 {
		return checkpoint{}, fmt.Errorf("%w: %d bytes after the checkpoint", ErrCorrupt, len(rest))
	}
	c.producers = p
	return c, nil
}

// loadCheckpoint returns the stored checkpoint, or ok = false.
func loadCheckpoint(db *pebble.DB, id string) (c checkpoint, ok bool, err error) {
	v, closer, err := db.Get(checkpointKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("partition %s: read checkpoint: %w", id, err)
	}
	defer closer.Close()
	c, err = decodeCheckpoint(v)
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("partition %s: %w", id, err)
	}
	return c, true, nil
}

// storeCheckpoint writes c durably. It waits on SyncWait rather than using
// DB.Set: Pebble hands a failed WAL write or fsync of Set to its logger's
// Fatalf and may report success, while SyncWait returns it.
func storeCheckpoint(db *pebble.DB, id string, c *checkpoint) error {
	b := db.NewBatch()
	defer b.Close()
	err := b.Set(checkpointKey(id), c.encode(), nil)
	if err == nil {
		err = db.ApplyNoSyncWait(b, pebble.Sync)
	}
	if err == nil {
		err = b.SyncWait()
	}
	if err != nil {
		return fmt.Errorf("partition %s: write checkpoint: %w", id, err)
	}
	return nil
}
