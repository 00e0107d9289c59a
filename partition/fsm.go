package partition

import (
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/batch"
	"github.com/sluicedb/sluice/log"
	"github.com/sluicedb/sluice/replication"
	"github.com/sluicedb/sluice/segment"
)

var _ replication.StateMachine = (*Replica)(nil)

// Apply applies one committed command (replication.StateMachine). It is
// deterministic: offsets come from the log end, timestamps and expiry from
// the command, the epoch from the raft term.
//
// A command that does not decode, or a log write that fails, is fatal: the
// replica stops rather than skip an entry or diverge. A produce that the
// partition refuses (a bad batch, a sequence error), or an offset commit
// (fields out of range, an older generation, past the log end), is
// answered with the error on every replica alike and changes nothing; so
// is a queue op (queuestate.go), each op of a command alone.
func (r *Replica) Apply(e replication.Entry) any {
	if e.Index <= r.applied.Load() {
		// Already in the log: the raft group replays from its last snapshot
		// and the replica is ahead of that.
		return nil
	}
	c, err := decodeCommand(e.Data)
	if err != nil {
		return replication.Fatal(fmt.Errorf("partition %s: raft entry %d: %w", r.cfg.ID, e.Index, err))
	}
	var resp any
	checkpointNow := false
	switch c.typ {
	case cmdProduce:
		r.clock = max(r.clock, c.timestamp)
		resp = r.applyProduce(c.batch, e.Term)
	case cmdAdvanceLogStart:
		resp = r.applyAdvanceLogStart(c.offset)
		checkpointNow = true
	case cmdCommitOffset:
		r.clock = max(r.clock, c.timestamp)
		resp = r.applyCommitOffset(c.commit, c.timestamp)
	case cmdCommitOffsets:
		r.clock = max(r.clock, c.timestamp)
		out := make([]any, len(c.commits))
		for i, e := range c.commits {
			out[i] = r.applyCommitOffset(e, c.timestamp)
		}
		resp = commitResults(out)
	case cmdDeleteGroupOffsets:
		resp = r.applyDeleteGroupOffsets(c.commit.Group, c.commit.Incarnation)
	case cmdQueueUpdate:
		r.clock = max(r.clock, c.timestamp)
		resp = r.applyQueueUpdate(c.queue, c.queueOps)
	case cmdQueueDelete:
		resp = r.applyQueueDelete(c.queue)
	}
	if fe, ok := resp.(*replication.FatalError); ok {
		return fe
	}
	r.applied.Store(e.Index)
	r.sinceCheckpoint++
	r.bytesSinceCheckpoint += int64(len(e.Data))
	if checkpointNow || r.sinceCheckpoint >= r.cfg.CheckpointEvery || r.bytesSinceCheckpoint >= r.cfg.CheckpointBytes {
		if err := r.checkpoint(); err != nil {
			return replication.Fatal(err)
		}
	}
	return resp
}

func (r *Replica) applyProduce(b []byte, term uint64) any {
	h, err := batch.Validate(b)
	if err != nil || len(b) != h.Size() || h.NumRecords == 0 {
		return fmt.Errorf("%w: %w", ErrInvalidBatch, errors.Join(err, fmt.Errorf("%d bytes", len(b))))
	}
	if st := r.producers[h.ProducerID]; st != nil && st.lastSeen < r.clock-ProducerExpiry {
		delete(r.producers, h.ProducerID)
	}
	dupBase, dup, err := r.producers.check(h)
	if err != nil {
		return err
	}
	if dup {
		return ProduceResult{BaseOffset: dupBase, LastOffset: dupBase + int64(h.LastOffsetDelta), Duplicate: true}
	}
	// Stamp a copy: raft may still be sending e.Data to other replicas.
	r.scratch = append(r.scratch[:0], b...)
	batch.SetPartitionLeaderEpoch(r.scratch, int32(term))
	lg := r.log()
	h, err = lg.Append(r.scratch)
	if err != nil {
		if errors.Is(err, segment.ErrInvalidBatch) {
			return fmt.Errorf("%w: %w", ErrInvalidBatch, err)
		}
		return replication.Fatal(fmt.Errorf("partition %s: append: %w", r.cfg.ID, err))
	}
	r.producers.record(h, r.clock)
	// Apply runs after commit, so everything in the log is committed.
	lg.SetHighWatermark(h.LastOffset() + 1)
	return ProduceResult{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset()}
}

// applyAdvanceLogStart moves the log start and marks every offset below
// it done in every queue: retention deleted those messages. The queues
// take the command's offset, not the log's start, so that a replay after
// a crash (which may find the log start already moved) does the same.
func (r *Replica) applyAdvanceLogStart(offset int64) any {
	if err := r.log().AdvanceLogStart(offset); err != nil {
		if errors.Is(err, log.ErrOffsetOutOfRange) {
			return err
		}
		return replication.Fatal(fmt.Errorf("partition %s: advance log start: %w", r.cfg.ID, err))
	}
	if len(r.queues.table) > 0 {
		r.queues.Lock()
		r.ackBelowLocked(offset)
		r.queues.Unlock()
	}
	return nil
}

// applyCommitOffset stores c unless it is invalid, from an older
// (incarnation, generation) than the stored entry, past the log end (which
// every replica has alike at this entry), or would overflow the table.
func (r *Replica) applyCommitOffset(c OffsetCommit, ts int64) any {
	if err := c.validate(); err != nil {
		return err
	}
	old, had := r.offsets.table[c.Group]
	if had && (old.Incarnation > c.Incarnation || (old.Incarnation == c.Incarnation && old.Generation > c.Generation)) {
		return &StaleGenerationError{Group: c.Group,
			GotIncarnation: c.Incarnation, GotGeneration: c.Generation,
			StoredIncarnation: old.Incarnation, StoredGeneration: old.Generation}
	}
	if end := r.log().LogEndOffset(); c.Offset > end {
		return &OffsetBeyondLogEndError{Group: c.Group, Offset: c.Offset, LogEnd: end}
	}
	e := CommittedOffset{Group: c.Group, Incarnation: c.Incarnation, Generation: c.Generation,
		Offset: c.Offset, Metadata: c.Metadata, CommitTime: ts}
	size := r.offsetBytes + offsetEntrySize(&e)
	if had {
		size -= offsetEntrySize(&old)
	}
	if size > MaxOffsetTableBytes {
		return fmt.Errorf("%w: group %q: %d bytes, limit %d", ErrOffsetTableFull, c.Group, size, MaxOffsetTableBytes)
	}
	r.offsets.Lock()
	r.offsets.table[c.Group] = e
	r.offsets.Unlock()
	r.offsetBytes = size
	return e
}

// applyDeleteGroupOffsets removes group's entry if its incarnation is at
// most incarnation.
func (r *Replica) applyDeleteGroupOffsets(group string, incarnation uint64) any {
	if err := validateGroupIncarnation(group, incarnation); err != nil {
		return err
	}
	old, ok := r.offsets.table[group]
	if !ok || old.Incarnation > incarnation {
		return nil
	}
	r.offsets.Lock()
	delete(r.offsets.table, group)
	r.offsets.Unlock()
	r.offsetBytes -= offsetEntrySize(&old)
	return nil
}

// checkpoint makes the log durable and then records the state that matches
// it, so that a restart can cut the log back to it and replay the rest.
func (r *Replica) checkpoint() error {
	lg := r.log()
	if err := lg.Sync(); err != nil {
		return fmt.Errorf("partition %s: sync log: %w", r.cfg.ID, err)
	}
	r.producers.expireBefore(r.clock - ProducerExpiry)
	ck := checkpoint{applied: r.applied.Load(), logEnd: lg.LogEndOffset(), clock: r.clock, producers: r.producers,
		offsets: r.offsets.table, queues: r.queues.table}
	if err := storeCheckpoint(r.cfg.DB, r.cfg.ID, &ck); err != nil {
		return err
	}
	r.sinceCheckpoint, r.bytesSinceCheckpoint = 0, 0
	return nil
}
