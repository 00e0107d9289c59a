package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// A replica record is what a node knows of its replica of one partition,
// kept in the node's Pebble beside the raft and partition state:
//
//   - its incarnation. A partition can leave a node and come back; each
//     time it comes back after its files were deleted, the replica starts
//     afresh under a new incarnation: the partition state id (the key of
//     its checkpoint in Pebble, partition.Config.ID) and the log directory
//     both carry it, so that nothing an earlier incarnation left behind is
//     ever read again;
//   - whether it is in use, being removed, or gone. Removal marks the
//     record first, then stops the replica and deletes its raft state,
//     log and snapshots; a crash in between leaves the mark, and the
//     removal is finished (at the next start, before anything is opened
//     again under that partition id);
//   - the metadata version it was opened at: after a restart the local
//     metadata replica may be behind, and a View older than that version
//     that lacks the partition says nothing about whether its stream was
//     deleted.
//
// On-disk format; never change (add a version instead):
//
//	key:   's' | uvarint(len(id)) | id | 'r'   (id: the partition's raft group id)
//	value: version u8 = 1, state u8, incarnation u64, metadata version u64
const (
	recordVersion = 1
	recordSize    = 1 + 1 + 8 + 8
	recordPrefix  = 's'
	recordKind    = 'r'
)

type replicaState uint8

// On-disk values; never change.
const (
	replicaLive     replicaState = 1 // in use (opened, or about to be)
	replicaRemoving replicaState = 2 // being deleted: files may be partly gone
	replicaGone     replicaState = 3 // deleted; the incarnation is kept
)

type replicaRecord struct {
	state       replicaState
	incarnation uint64
	version     uint64 // metadata version when the replica was opened
}

// stateID is the partition state id of the record's incarnation: the
// partition id itself for the first one.
func (r replicaRecord) stateID(id string) string {
	if r.incarnation == 0 {
		return id
	}
	return id + "@" + strconv.FormatUint(r.incarnation, 10)
}

func recordKey(id string) []byte {
	k := []byte{recordPrefix}
	k = binary.AppendUvarint(k, uint64(len(id)))
	k = append(k, id...)
	return append(k, recordKind)
}

func (r replicaRecord) encode() []byte {
	b := []byte{recordVersion, byte(r.state)}
	b = binary.BigEndian.AppendUint64(b, r.incarnation)
	return binary.BigEndian.AppendUint64(b, r.version)
}

func decodeRecord(b []byte) (replicaRecord, error) {
	if len(b) != recordSize || b[0] != recordVersion {
		return replicaRecord{}, fmt.Errorf("%w: %d bytes, version %d", ErrCorrupt, len(b), firstByte(b))
	}
	r := replicaRecord{state: replicaState(b[1]), incarnation: binary.BigEndian.Uint64(b[2:]), version: binary.BigEndian.Uint64(b[10:])}
	if r.state < replicaLive || r.state > replicaGone {
		return replicaRecord{}, fmt.Errorf("%w: state %d", ErrCorrupt, r.state)
	}
	return r, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// parseRecordKey returns the partition id of a record key.
func parseRecordKey(k []byte) (string, bool) {
	if len(k) < 2 || k[0] != recordPrefix || k[len(k)-1] != recordKind {
		return "", false
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || n != uint64(len(k)-2-w) {
		return "", false
	}
	id := string(k[1+w : len(k)-1])
	if !bytes.Equal(recordKey(id), k) {
		return "", false // an overlong length: not a key recordKey writes
	}
	return id, true
}

// loadRecords reads every replica record of db.
func loadRecords(db *pebble.DB) (map[string]replicaRecord, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{recordPrefix}, UpperBound: []byte{recordPrefix + 1}})
	if err != nil {
		return nil, fmt.Errorf("server: read replica records: %w", err)
	}
	out := map[string]replicaRecord{}
	for ok := it.First(); ok; ok = it.Next() {
		id, ok := parseRecordKey(it.Key())
		if !ok {
			_ = it.Close()
			return nil, fmt.Errorf("%w: key %q", ErrCorrupt, it.Key())
		}
		r, err := decodeRecord(it.Value())
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("partition %s: %w", id, err)
		}
		out[id] = r
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("server: read replica records: %w", err)
	}
	return out, nil
}

// storeRecord writes (or, with del, deletes) the record of id durably. It
// waits on SyncWait rather than using DB.Set, as partition's checkpoints
// do: that is where Pebble returns a failed WAL write or fsync.
func storeRecord(db *pebble.DB, id string, r replicaRecord, del bool) error {
	b := db.NewBatch()
	defer b.Close()
	var err error
	if del {
		err = b.Delete(recordKey(id), nil)
	} else {
		err = b.Set(recordKey(id), r.encode(), nil)
	}
	if err == nil {
		err = db.ApplyNoSyncWait(b, pebble.Sync)
	}
	if err == nil {
		err = b.SyncWait()
	}
	if err != nil {
		return fmt.Errorf("server: partition %s: write replica record: %w", id, err)
	}
	return nil
}
