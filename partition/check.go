package partition

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/log"
)

// Check reads the replica's log and checkpoint the way Open does, without
// changing anything, and reports what Open would refuse: damage inside a
// segment (a *segment.CorruptError naming the file, position and offset),
// segments that are not contiguous (log.ErrCorrupt), or a log that ends
// before the checkpoint's durable end (ErrCorrupt: files are missing). A
// replica with a restore under way is not judged: Open finishes the
// restore first. cfg needs ID, DB, Log.FS and Log.Dir.
func Check(cfg Config) error {
	if cfg.ID == "" || cfg.DB == nil || cfg.Log.Dir == "" || cfg.Log.FS == nil {
		return fmt.Errorf("partition: config needs ID, DB, Log.FS and Log.Dir")
	}
	fs, dir := cfg.Log.FS, cfg.Log.Dir
	for _, p := range []string{dir + restoreSuffix, fs.PathJoin(dir, restoreCheckpoint)} {
		if _, err := fs.Stat(p); err == nil {
			return nil
		}
	}
	var end int64 // a missing directory: Open creates an empty log at 0
	if _, err := fs.Stat(dir); !fsutil.IsNotExist(err) {
		if end, err = log.Check(fs, dir); err != nil {
			return fmt.Errorf("partition %s: %w", cfg.ID, err)
		}
	}
	ck, ok, err := loadCheckpoint(cfg.DB, cfg.ID)
	if err != nil {
		return err
	}
	if ok && end < ck.logEnd {
		return fmt.Errorf("%w: partition %s: log ends at %d, checkpoint says %d is durable", ErrCorrupt, cfg.ID, end, ck.logEnd)
	}
	return nil
}

// DeleteState deletes the replica's checkpoint from db, durably: the state
// of an incarnation that will not be opened again.
func DeleteState(db *pebble.DB, id string) error {
	b := db.NewBatch()
	defer b.Close()
	err := b.Delete(checkpointKey(id), nil)
	if err == nil {
		err = db.ApplyNoSyncWait(b, pebble.Sync)
	}
	if err == nil {
		err = b.SyncWait()
	}
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("partition %s: delete checkpoint: %w", id, err)
	}
	return nil
}
