package partition

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Committed offsets of consumer groups live in the partition they are
// offsets of, replicated through its raft group (Kafka keeps them with
// the data's leader too), so they fail over with the data: one entry per
// group, the last commit that Apply accepted.

// Limits of an OffsetCommit.
const (
	// MaxGroupBytes bounds a group name (Kafka's topic name limit, which
	// group names commonly share).
	MaxGroupBytes = 249
	// MaxOffsetMetadataBytes bounds a commit's metadata (Kafka
	// offset.metadata.max.bytes).
	MaxOffsetMetadataBytes = 4096
	// MaxOffsetTableBytes bounds the encoded committed offset table of one
	// partition (at most 32+249+4096 bytes per group: some 3,800 groups
	// with the largest metadata, hundreds of thousands with little). A
	// commit that would grow it past this is refused with
	// ErrOffsetTableFull, on every replica alike: the table goes into
	// every checkpoint and snapshot, and decoders refuse tables much larger
	// (maxSnapshotOffsets), so it must stay bounded.
	MaxOffsetTableBytes = 16 << 20
)

// OffsetCommit is what a caller proposes: the group's position in this
// partition.
type OffsetCommit struct {
	// Group names the consumer group: 1 to MaxGroupBytes bytes of UTF-8,
	// no control characters.
	Group string
	// Incarnation identifies one life of the group (a group deleted and
	// created again gets a higher one); at least 1.
	Incarnation uint64
	// Generation is the group's generation (rebalance count) at commit
	// time; at least 0.
	Generation int32
	// Offset is the next offset the group will consume: from 0 up to the
	// log end. Below the log start is allowed (the consumer resets).
	Offset int64
	// Metadata is the client's, stored as given; at most
	// MaxOffsetMetadataBytes bytes.
	Metadata string
}

// CommittedOffset is a stored entry: the accepted commit and the leader's
// time of it.
type CommittedOffset struct {
	Group       string
	Incarnation uint64
	Generation  int32
	Offset      int64
	Metadata    string
	CommitTime  int64 // the leader's wall clock in the commit command, Unix ms
}

func (e *CommittedOffset) commit() OffsetCommit {
	return OffsetCommit{Group: e.Group, Incarnation: e.Incarnation, Generation: e.Generation, Offset: e.Offset, Metadata: e.Metadata}
}

// validate checks c's fields against the limits above; the error is an
// *InvalidOffsetCommitError.
func (c OffsetCommit) validate() error {
	if err := validateGroupIncarnation(c.Group, c.Incarnation); err != nil {
		return err
	}
	switch {
	case c.Generation < 0:
		return &InvalidOffsetCommitError{Field: "generation", Reason: fmt.Sprintf("%d is negative", c.Generation)}
	case c.Offset < 0:
		return &InvalidOffsetCommitError{Field: "offset", Reason: fmt.Sprintf("%d is negative", c.Offset)}
	case len(c.Metadata) > MaxOffsetMetadataBytes:
		return &InvalidOffsetCommitError{Field: "metadata",
			Reason: fmt.Sprintf("%d bytes, limit %d", len(c.Metadata), MaxOffsetMetadataBytes)}
	}
	return nil
}

func validateGroupIncarnation(group string, incarnation uint64) error {
	if err := validateGroup(group); err != nil {
		return err
	}
	if incarnation < 1 {
		return &InvalidOffsetCommitError{Field: "incarnation", Reason: "0; incarnations start at 1"}
	}
	return nil
}

func validateGroup(g string) error {
	if reason := nameProblem(g); reason != "" {
		return &InvalidOffsetCommitError{Field: "group", Reason: reason}
	}
	return nil
}

// nameProblem says what is wrong with a group or queue name, or returns
// "": a name is 1 to MaxGroupBytes bytes of UTF-8 without control
// characters.
func nameProblem(g string) string {
	if len(g) == 0 || len(g) > MaxGroupBytes {
		return fmt.Sprintf("%d bytes, want 1 to %d", len(g), MaxGroupBytes)
	}
	if !utf8.ValidString(g) {
		return fmt.Sprintf("%q is not UTF-8", g)
	}
	if i := strings.IndexFunc(g, unicode.IsControl); i >= 0 {
		return fmt.Sprintf("%q has a control character at byte %d", g, i)
	}
	return ""
}

// CommitOffset stores c as group c.Group's committed offset in this
// partition: it replicates the commit and returns the stored entry once it
// is committed and applied. It blocks until then or until ctx ends.
// Errors: ErrInvalidOffsetCommit (nothing proposed), ErrNoProposer;
// ErrStaleGeneration, ErrOffsetBeyondLogEnd, ErrOffsetTableFull (applied
// and refused: nothing stored); the replication errors
// (replication.ErrNotLeader, ErrOutcomeUnknown, …).
//
// Concurrent commits share raft entries (group commit): while one
// commit-offsets command is in flight the others queue, and the caller
// whose turn comes next proposes everything queued (up to
// maxCommitBatch) as one command. No goroutine is started: the callers
// take turns.
func (r *Replica) CommitOffset(ctx context.Context, c OffsetCommit) (CommittedOffset, error) {
	res, errs := r.CommitOffsets(ctx, []OffsetCommit{c})
	return res[0], errs[0]
}

// CommitOffsets commits several offsets (of different groups, or the same
// group's in order) as CommitOffset does, together: they go into the same
// raft entry. It returns a result and an error per commit; a commit that
// does not validate is refused alone.
func (r *Replica) CommitOffsets(ctx context.Context, cs []OffsetCommit) ([]CommittedOffset, []error) {
	res, errs := make([]CommittedOffset, len(cs)), make([]error, len(cs))
	var valid []OffsetCommit
	var at []int
	for i, c := range cs {
		if err := c.validate(); err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, c)
		at = append(at, i)
	}
	if len(valid) == 0 {
		return res, errs
	}
	if r.proposer.Load() == nil {
		for _, i := range at {
			errs[i] = ErrNoProposer
		}
		return res, errs
	}
	for len(valid) > maxCommitBatch { // a caller's own batch beyond one command
		rest, restErrs := r.CommitOffsets(ctx, valid[maxCommitBatch:])
		for k := range rest {
			res[at[maxCommitBatch+k]], errs[at[maxCommitBatch+k]] = rest[k], restErrs[k]
		}
		valid, at = valid[:maxCommitBatch], at[:maxCommitBatch]
	}
	out, err := r.commits.Do(ctx, struct{}{}, valid, r.proposeCommits)
	for k, i := range at {
		if err != nil {
			errs[i] = err // ended while waiting: never proposed
			continue
		}
		res[i], errs[i] = out.res[k], out.errs[k]
	}
	return res, errs
}

// commitsOut is one CommitOffsets call's share of a proposal's results.
type commitsOut struct {
	res  []CommittedOffset
	errs []error
}

// commitResults is Apply's answer to a commit-offsets command: per entry a
// CommittedOffset or an error.
type commitResults []any

// commitProposeTimeout bounds a batch's proposal: the batch is others'
// commits too, so the proposing caller's own cancellation does not cut it
// short.
const commitProposeTimeout = 10 * time.Second

// proposeCommits proposes the commits of several CommitOffsets calls as
// one command (turns.Batcher's step) and splits the results.
func (r *Replica) proposeCommits(ctx context.Context, _ struct{}, calls [][]OffsetCommit) []commitsOut {
	var cs []OffsetCommit
	for _, c := range calls {
		cs = append(cs, c...)
	}
	pctx, cancel := context.WithTimeout(ctx, commitProposeTimeout)
	resp, err := r.propose(pctx, appendCommitOffsets(nil, r.cfg.Now().UnixMilli(), cs))
	cancel()
	results, ok := resp.(commitResults)
	if err == nil && (!ok || len(results) != len(cs)) {
		err = fmt.Errorf("partition %s: unexpected apply result %T", r.cfg.ID, resp)
	}
	outs := make([]commitsOut, len(calls))
	k := 0
	for i, c := range calls {
		o := commitsOut{res: make([]CommittedOffset, len(c)), errs: make([]error, len(c))}
		for j := range c {
			switch {
			case err != nil:
				o.errs[j] = err
			default:
				if rerr, isErr := results[k].(error); isErr {
					o.errs[j] = rerr
				} else if e, isEntry := results[k].(CommittedOffset); isEntry {
					o.res[j] = e
				} else {
					o.errs[j] = fmt.Errorf("partition %s: unexpected commit result %T", r.cfg.ID, results[k])
				}
			}
			k++
		}
		outs[i] = o
	}
	return outs
}

// DeleteGroupOffsets removes group's entry if its incarnation is at most
// incarnation (a later life of the group keeps its offsets); no entry is
// not an error. It blocks until the delete is applied or ctx ends. Errors:
// ErrInvalidOffsetCommit (nothing proposed), ErrNoProposer, the
// replication errors.
func (r *Replica) DeleteGroupOffsets(ctx context.Context, group string, incarnation uint64) error {
	cmd, err := encodeDeleteGroupOffsets(group, incarnation)
	if err != nil {
		return err
	}
	_, err = r.propose(ctx, cmd)
	return err
}

// propose replicates cmd and returns Apply's result; a result that is an
// error is returned as the error.
func (r *Replica) propose(ctx context.Context, cmd []byte) (any, error) {
	box := r.proposer.Load()
	if box == nil {
		return nil, ErrNoProposer
	}
	resp, err := box.p.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if rerr, ok := resp.(error); ok {
		return nil, rerr
	}
	return resp, nil
}

// CommittedOffset returns group's entry, as applied on this replica
// (read the leader, after a barrier, for the latest). Safe from any
// goroutine.
func (r *Replica) CommittedOffset(group string) (CommittedOffset, bool) {
	r.offsets.RLock()
	defer r.offsets.RUnlock()
	e, ok := r.offsets.table[group]
	return e, ok
}

// CommittedOffsets returns every entry, sorted by group, in a new slice
// the caller owns. Safe from any goroutine.
func (r *Replica) CommittedOffsets() []CommittedOffset {
	r.offsets.RLock()
	out := make([]CommittedOffset, 0, len(r.offsets.table))
	for _, e := range r.offsets.table {
		out = append(out, e)
	}
	r.offsets.RUnlock()
	slices.SortFunc(out, func(a, b CommittedOffset) int { return strings.Compare(a.Group, b.Group) })
	return out
}

// offsetTable is the committed offsets by group. It is state machine
// state: checkpointed and snapshotted (see Replica.offsets for who may
// touch it).
type offsetTable map[string]CommittedOffset

// Encoding of the table, in checkpoints and snapshots (versions 2 and 3).
// On-disk format; never change:
//
//	count u32, then per entry (ascending group, bytewise):
//	group length u16, group, incarnation u64, generation i32, offset i64,
//	commit time i64, metadata length u16, metadata
//
// Every entry satisfies OffsetCommit's limits.
const offsetEntryFixed = 2 + 8 + 4 + 8 + 8 + 2

// maxSnapshotOffsets bounds an encoded table on decode. It is well above
// MaxOffsetTableBytes, which Apply enforces, so that limit may move.
const maxSnapshotOffsets = 64 << 20

func offsetEntrySize(e *CommittedOffset) int64 {
	return int64(offsetEntryFixed + len(e.Group) + len(e.Metadata))
}

// size is the length of t's encoding.
func (t offsetTable) size() int64 {
	n := int64(4)
	for _, e := range t {
		n += offsetEntrySize(&e)
	}
	return n
}

func (t offsetTable) appendTo(dst []byte) []byte {
	groups := make([]string, 0, len(t))
	for g := range t {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(len(groups)))
	for _, g := range groups {
		e := t[g]
		dst = appendString16(dst, e.Group)
		dst = be.AppendUint64(dst, e.Incarnation)
		dst = be.AppendUint32(dst, uint32(e.Generation))
		dst = be.AppendUint64(dst, uint64(e.Offset))
		dst = be.AppendUint64(dst, uint64(e.CommitTime))
		dst = appendString16(dst, e.Metadata)
	}
	return dst
}

// decodeOffsetTable decodes a table and returns the bytes after it.
// Errors match ErrCorrupt.
func decodeOffsetTable(b []byte) (offsetTable, []byte, error) {
	d := decoder{b: b, what: "offset table"}
	n := d.u32("count")
	if d.err == nil && uint64(n) > uint64(len(d.b)/offsetEntryFixed) {
		d.fail("%d entries in %d bytes", n, len(d.b))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	t := make(offsetTable, n)
	prev := ""
	for i := uint32(0); i < n; i++ {
		var e CommittedOffset
		e.Group = string(d.take(int(d.u16("group length")), "group"))
		e.Incarnation = d.u64("incarnation")
		e.Generation = int32(d.u32("generation"))
		e.Offset = int64(d.u64("offset"))
		e.CommitTime = int64(d.u64("commit time"))
		e.Metadata = string(d.take(int(d.u16("metadata length")), "metadata"))
		if d.err != nil {
			return nil, nil, d.err
		}
		if i > 0 && e.Group <= prev {
			return nil, nil, fmt.Errorf("%w: offset table: entry %d (group %q) out of order", ErrCorrupt, i, e.Group)
		}
		if err := e.commit().validate(); err != nil {
			// Not wrapped: a stored entry that breaks the limits is
			// corruption, not a refused request.
			ie := err.(*InvalidOffsetCommitError)
			return nil, nil, fmt.Errorf("%w: offset table: entry %d: %s: %s", ErrCorrupt, i, ie.Field, ie.Reason)
		}
		prev = e.Group
		t[e.Group] = e
	}
	return t, d.b, nil
}
