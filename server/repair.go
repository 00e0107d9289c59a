package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"

	"github.com/sluicedb/sluice/internal/fsutil"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/partition"
	"github.com/sluicedb/sluice/replication"
)

// ErrNoOtherReplica reports a damaged replica that Repair leaves as it is:
// its raft group has no other voter to refill it from.
var ErrNoOtherReplica = errors.New("server: no other replica")

// RepairConfig describes a repair of a stopped node's data directory.
type RepairConfig struct {
	DataDir string
	// DryRun checks and reports without changing anything: Pebble is
	// opened read-only and no file is moved.
	DryRun bool
	// Now stamps the quarantine directory. Nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// RepairReport is what Repair found and did.
type RepairReport struct {
	// Checked is the number of replicas checked.
	Checked int
	// Damaged lists the damaged replicas, by partition id.
	Damaged []DamagedReplica
	// Quarantine is the directory the damaged replicas' files were moved
	// to; empty on a dry run or when nothing was moved.
	Quarantine string
}

// DamagedReplica is one damaged replica and what Repair did with it.
type DamagedReplica struct {
	Partition   string // the partition's raft group id
	Incarnation uint64 // the replica's incarnation (records.go)
	Dir         string // its log directory
	Damage      error  // what the check found (a *segment.CorruptError names file, position and offset)
	// Voters are the voters of the group's latest raft configuration this
	// node holds: the replicas that can refill it.
	Voters []string
	// Refused says why the replica was left as it is (ErrNoOtherReplica),
	// or is nil when it was (or, on a dry run, would be) reset.
	Refused error
	// MovedTo is where its files went (empty on a dry run).
	MovedTo string

	rec replicaRecord // as the check found it
}

// Repair checks every replica in a stopped node's data directory the way
// the node opens them, and resets each damaged one so that its raft group
// refills it from the partition's other replicas:
//
//  1. its snapshots are moved to the quarantine directory
//     <DataDir>/repair/<time>/ (they may share the damaged files);
//  2. its raft log entries are deleted, keeping the group's term and vote
//     (so that the node never votes twice in a term), with its checkpoint;
//     its replica record moves to a new incarnation, so that the node
//     opens it empty;
//  3. its log directory is moved to the quarantine, with everything that
//     was readable in it, and a REPAIR.txt saying what was wrong.
//
// At the next start the replica is a member of its group with an empty
// log: the leader sends it a snapshot (or the whole log), as to a new
// replica. A crash during a repair leaves the damage in place until the
// last step, so the node refuses to start again and Repair can run again.
//
// A damaged replica whose group has no other voter is refused
// (ErrNoOtherReplica) and left as it is: resetting it would lose the
// partition. Repair only one node of a partition at a time, while the
// others are healthy: the records the damaged copy held survive on them.
//
// Repair takes the data directory's lock: the node must be stopped
// (ErrDataDirInUse otherwise).
func Repair(cfg RepairConfig) (*RepairReport, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pebbleDir := filepath.Join(cfg.DataDir, "pebble")
	if _, err := os.Stat(pebbleDir); err != nil {
		return nil, fmt.Errorf("%w: %s is not a sluice data directory (no pebble/ in it): %v", ErrInvalidConfig, cfg.DataDir, err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if lock != nil {
			_ = lock.Close()
		}
	}()
	// Check with Pebble read-only; open it for writing only when there is
	// a replica to reset, so that a repair that finds nothing to do
	// changes nothing, and then reset only what the check found.
	report, err := check(cfg, pebbleDir)
	if err != nil || cfg.DryRun || !slices.ContainsFunc(report.Damaged, func(d DamagedReplica) bool { return d.Refused == nil }) {
		return report, err
	}
	db, err := pebble.Open(pebbleDir, pebbleOptions(Config{Logger: cfg.Logger}))
	if err != nil {
		return report, fmt.Errorf("server: open pebble: %w", err)
	}
	defer db.Close()
	r := &repairer{cfg: cfg, db: db, store: replication.NewStore(db), report: report}
	for i := range report.Damaged {
		if d := &report.Damaged[i]; d.Refused == nil {
			if err := r.reset(d); err != nil {
				return report, err
			}
		}
	}
	return report, nil
}

// check opens the node's Pebble read-only and checks every live replica.
func check(cfg RepairConfig, pebbleDir string) (*RepairReport, error) {
	opts := pebbleOptions(Config{Logger: cfg.Logger})
	opts.ReadOnly = true
	db, err := pebble.Open(pebbleDir, opts)
	if err != nil {
		return nil, fmt.Errorf("server: open pebble: %w", err)
	}
	defer db.Close()
	records, err := loadRecords(db)
	if err != nil {
		return nil, err
	}
	r := &repairer{cfg: cfg, db: db, store: replication.NewStore(db), report: &RepairReport{}}
	ids := make([]string, 0, len(records))
	for id := range records {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if rec := records[id]; rec.state == replicaLive {
			if err := r.check(id, rec); err != nil {
				return r.report, err
			}
		}
	}
	return r.report, nil
}

type repairer struct {
	cfg    RepairConfig
	db     *pebble.DB
	store  *replication.Store
	report *RepairReport
}

// check checks one replica and adds it to the report if it is damaged.
func (r *repairer) check(id string, rec replicaRecord) error {
	r.report.Checked++
	dir := incarnationDirOf(r.cfg.DataDir, id, rec.incarnation)
	damage := partition.Check(partition.Config{ID: rec.stateID(id), DB: r.db, Log: log.Config{FS: vfs.Default, Dir: dir}})
	if damage == nil {
		return nil
	}
	if !isDamage(damage) {
		return fmt.Errorf("server: check partition %s: %w", id, damage)
	}
	d := DamagedReplica{Partition: id, Incarnation: rec.incarnation, Dir: dir, Damage: damage, rec: rec}
	gs, err := r.store.Group(id)
	if err != nil {
		return err
	}
	snaps, err := partition.ListSnapshots(vfs.Default, snapshotDirOf(r.cfg.DataDir, id))
	if err != nil {
		return fmt.Errorf("server: partition %s: %w", id, err)
	}
	conf, _, err := replication.LatestConfiguration(gs, snaps)
	if err != nil {
		return err
	}
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			d.Voters = append(d.Voters, string(s.ID))
		}
	}
	if len(d.Voters) == 1 {
		d.Refused = fmt.Errorf("%w: partition %s has one replica (%s): resetting it would lose the partition; "+
			"its files are left as they are", ErrNoOtherReplica, id, d.Voters[0])
	}
	r.report.Damaged = append(r.report.Damaged, d)
	return nil
}

// reset moves the replica aside and makes the node open it empty (see
// Repair for the order of the steps).
func (r *repairer) reset(d *DamagedReplica) error {
	rec := d.rec
	gs, err := r.store.Group(d.Partition)
	if err != nil {
		return err
	}
	if r.report.Quarantine == "" {
		r.report.Quarantine = filepath.Join(r.cfg.DataDir, "repair", r.cfg.Now().UTC().Format("20060102T150405Z"))
	}
	q := filepath.Join(r.report.Quarantine, d.Partition)
	if err := os.MkdirAll(q, 0o755); err != nil {
		return fmt.Errorf("server: repair: %w", err)
	}
	if err := moveIfExists(snapshotDirOf(r.cfg.DataDir, d.Partition), filepath.Join(q, "snapshots")); err != nil {
		return err
	}
	first, _ := gs.FirstIndex()
	last, _ := gs.LastIndex()
	if err := gs.DeleteRange(first, last); err != nil {
		return err
	}
	if err := partition.DeleteState(r.db, rec.stateID(d.Partition)); err != nil {
		return err
	}
	next := replicaRecord{state: replicaLive, incarnation: rec.incarnation + 1, version: rec.version}
	if err := storeRecord(r.db, d.Partition, next, false); err != nil {
		return err
	}
	note := fmt.Sprintf("sluice repair, %s\npartition %s, incarnation %d\ndamage: %v\nvoters: %s\n"+
		"The replica was reset to incarnation %d, to be refilled from the other replicas.\n"+
		"log/ holds its log directory as it was: every segment before the damage is intact.\n",
		r.cfg.Now().UTC().Format(time.RFC3339), d.Partition, rec.incarnation, d.Damage, strings.Join(d.Voters, ", "), next.incarnation)
	if err := os.WriteFile(filepath.Join(q, "REPAIR.txt"), []byte(note), 0o644); err != nil {
		return fmt.Errorf("server: repair: %w", err)
	}
	if err := moveIfExists(d.Dir, filepath.Join(q, "log")); err != nil {
		return err
	}
	d.MovedTo = q
	r.cfg.Logger.Info("server: repair: replica reset", "partition", d.Partition, "moved_to", q, "damage", d.Damage)
	return nil
}

// moveIfExists renames from to to, durably; a missing from is not an
// error.
func moveIfExists(from, to string) error {
	if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("server: repair: %w", err)
	}
	for _, dir := range []string{filepath.Dir(from), filepath.Dir(to)} {
		if err := fsutil.SyncDir(vfs.Default, dir); err != nil {
			return fmt.Errorf("server: repair: %w", err)
		}
	}
	return nil
}
