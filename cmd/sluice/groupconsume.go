package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/consumergroup"
)

// groupConsumeOptions are consume's flags with --group, checked.
type groupConsumeOptions struct {
	stream, group        string
	strategy, instanceID string
	start                client.StartAt
	max                  int
	idle                 time.Duration // 0: follow until Ctrl-C or max
	jsonOut              bool
}

func parseGroupConsume(c *cli.Context) (groupConsumeOptions, error) {
	o := groupConsumeOptions{stream: c.Args().First(), group: c.String("group"), strategy: c.String("strategy"),
		instanceID: c.String("instance-id"), max: c.Int("max"), idle: c.Duration("idle-timeout")}
	out, err := outputFormat(c)
	if err != nil {
		return o, err
	}
	o.jsonOut = out == "json"
	if o.group == "" {
		return o, usagef("--group: empty group name")
	}
	if err := consumergroup.ValidGroupName(o.group); err != nil {
		return o, usagef("--group %q: %v", o.group, err)
	}
	if c.IsSet("partition") {
		return o, usagef("--partition cannot be used with --group: the group assigns the partitions")
	}
	from, err := parseFrom(c.String("from"), time.Now())
	if err != nil {
		return o, usagef("--from: %v", err)
	}
	if from.kind != "earliest" && from.kind != "latest" {
		return o, usagef("--from %s: with --group, --from only says where a partition the group has no offset for starts "+
			"(earliest or latest); to move the group's offsets run: sluice group reset-offsets %s --stream %s --to %s",
			c.String("from"), o.group, o.stream, c.String("from"))
	}
	o.start = from.at
	if o.max < 0 {
		return o, usagef("--max %d: want 0 (no limit) or more", o.max)
	}
	if o.idle < 0 {
		return o, usagef("--idle-timeout %s: want 0 (follow) or more", o.idle)
	}
	return o, nil
}

// groupConsume runs consume --group: a member of the group that prints
// what Poll returns and commits it once written out. Poll, the callbacks
// (called from Poll and Close) and the commits all run on this goroutine.
func groupConsume(c *cli.Context) error {
	o, err := parseGroupConsume(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	setupCtx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()
	cl, err := connect(setupCtx, c)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer cl.Close()
	// The coordinator accepts a member of a stream that does not exist
	// (and assigns it nothing): say so instead of waiting for ever.
	if _, err := cl.DescribeStream(setupCtx, o.stream); err != nil {
		return interrupted(ctx, err)
	}
	// A cursor subscription of the stream named like the group is read
	// through the group, with its filter applied by the server.
	var filter string
	if qs, err := cl.ListQueues(setupCtx); err == nil {
		for _, q := range qs {
			if q.Name == o.group && q.Cursor && q.Stream == o.stream {
				filter = q.Filter
			}
		}
	}
	r := &groupRun{stderr: envOf(c).stderr, timeout: c.Duration("timeout"), max: o.max, idle: o.idle,
		printed: map[client.StreamPartition]int64{}, committed: map[client.StreamPartition]int64{}}
	g, err := cl.NewGroupConsumer(setupCtx, client.GroupConfig{Group: o.group, Streams: []string{o.stream},
		Strategy: o.strategy, InstanceID: o.instanceID, StartAt: o.start,
		OnAssigned: r.onAssigned, OnRevoked: r.onRevoked, OnLost: r.onLost, Consumer: client.ConsumerConfig{Filter: filter}})
	if err != nil {
		return interrupted(ctx, joinError(o, err))
	}
	r.g, r.active = g, time.Now()

	w := bufio.NewWriterSize(envOf(c).stdout, 64<<10)
	loopErr := r.loop(ctx, w, o.jsonOut)
	// What was printed is committed on every exit (Ctrl-C and errors too):
	// exactly the records written out.
	commitErr := r.commit(ctx, nil)
	if commitErr != nil {
		commitErr = fmt.Errorf("group %q: commit on exit (records printed since the last commit will be read again): %w",
			o.group, commitErr)
	}
	if err := g.Close(); err != nil {
		warnf(r.stderr, "%v", err)
	}
	switch {
	case loopErr != nil && ctx.Err() == nil:
		if commitErr != nil {
			warnf(r.stderr, "%v", commitErr)
		}
		return loopErr
	case commitErr != nil:
		return commitErr
	case ctx.Err() != nil && (o.max == 0 || r.count < o.max):
		if o.max == 0 {
			return nil // Ctrl-C is how a group consume without --max ends
		}
		return errInterrupted
	}
	return nil
}

// joinError words the coordinator's refusals of a join.
func joinError(o groupConsumeOptions, err error) error {
	switch {
	case errors.Is(err, client.ErrUnknownStrategy):
		return &groupError{msg: fmt.Sprintf("--strategy %q: the cluster knows no such assignment strategy (want %s)",
			o.strategy, strings.Join(consumergroup.StrategyNames(), ", ")), err: err}
	case errors.Is(err, client.ErrInconsistentStrategy):
		strategy := o.strategy
		if strategy == "" {
			strategy = "cooperative-sticky (the default)"
		}
		return &groupError{msg: fmt.Sprintf("group %q: its members use another assignment strategy than --strategy %s",
			o.group, strategy), err: err}
	}
	return err
}

// groupMember is what a groupRun uses of a *client.GroupConsumer.
type groupMember interface {
	Poll(ctx context.Context) ([]client.Record, error)
	CommitOffsets(ctx context.Context, offsets map[client.StreamPartition]int64) error
}

// groupRun is one consume --group.
type groupRun struct {
	g       groupMember
	stderr  io.Writer
	timeout time.Duration // bounds each commit
	max     int
	count   int           // records printed
	idle    time.Duration // --idle-timeout
	// active is when the last record came, or partitions were assigned:
	// --idle-timeout counts from there.
	active time.Time
	// printed: owned partition -> the offset after the last record written
	// out. committed: owned partition -> the offset this run last
	// committed. A partition leaves both when it is released or lost.
	printed, committed map[client.StreamPartition]int64
}

// loop polls, prints and commits until --max, --idle-timeout, an error or
// the end of ctx (which it returns).
func (r *groupRun) loop(ctx context.Context, w *bufio.Writer, jsonOut bool) error {
	for r.max == 0 || r.count < r.max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if r.idle > 0 {
			deadline := r.active.Add(r.idle)
			if !time.Now().Before(deadline) {
				return nil
			}
			pollCtx, cancel = context.WithDeadline(ctx, deadline)
		}
		recs, err := r.g.Poll(pollCtx)
		idle := pollCtx.Err() != nil && ctx.Err() == nil
		cancel()
		// Poll may return records with an error: print them first.
		if perr := r.print(w, recs, jsonOut); perr != nil {
			return perr
		}
		if len(recs) > 0 {
			r.active = time.Now()
		}
		if cerr := r.commit(ctx, nil); cerr != nil {
			if !membershipChanged(cerr) {
				return cerr
			}
			// The partitions moved on (this member was removed, or the
			// generation is over): their next owner reads from the last
			// commit; the next Poll drops them here.
			warnf(r.stderr, "%v (records may be read again)", cerr)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case idle:
			// --idle-timeout: the loop checks whether it passed (an
			// assignment meanwhile starts it again).
		default:
			return err
		}
	}
	return nil
}

// print writes recs out, up to --max, and notes their positions once
// flushed.
func (r *groupRun) print(w *bufio.Writer, recs []client.Record, jsonOut bool) error {
	if len(recs) == 0 {
		return nil
	}
	written := map[client.StreamPartition]int64{}
	for i := range recs {
		if r.max > 0 && r.count >= r.max {
			break
		}
		if err := writeRecord(w, &recs[i], jsonOut); err != nil {
			return err
		}
		r.count++
		written[client.StreamPartition{Stream: recs[i].Stream, Partition: recs[i].Partition}] = recs[i].Offset + 1
	}
	if err := w.Flush(); err != nil {
		return err
	}
	maps.Copy(r.printed, written)
	return nil
}

// commit commits the positions printed and not committed yet, of parts
// (nil: all). Cancelling ctx does not cut it short (it is how Ctrl-C
// ends a run, which commits last); --timeout bounds it.
func (r *groupRun) commit(ctx context.Context, parts []client.StreamPartition) error {
	offsets := map[client.StreamPartition]int64{}
	for sp, off := range r.printed {
		if done, ok := r.committed[sp]; (!ok || done != off) && (parts == nil || slices.Contains(parts, sp)) {
			offsets[sp] = off
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.g.CommitOffsets(cctx, offsets); err != nil {
		return err
	}
	maps.Copy(r.committed, offsets)
	return nil
}

// forget drops released partitions.
func (r *groupRun) forget(parts []client.StreamPartition) {
	for _, sp := range parts {
		delete(r.printed, sp)
		delete(r.committed, sp)
	}
}

func (r *groupRun) onAssigned(_ context.Context, _ []client.StreamPartition) { r.active = time.Now() }

// onRevoked commits what was printed of partitions about to be released
// (after each batch it is committed already, so this is mostly nothing).
func (r *groupRun) onRevoked(ctx context.Context, parts []client.StreamPartition) {
	if err := r.commit(ctx, parts); err != nil {
		warnf(r.stderr, "commit before release: %v (records may be read again)", err)
	}
	r.forget(parts)
}

// onLost drops partitions of a lost membership: another member may own
// them now, so nothing is committed.
func (r *groupRun) onLost(_ context.Context, parts []client.StreamPartition) {
	for _, sp := range parts {
		if off, ok := r.printed[sp]; ok && r.committed[sp] != off {
			warnf(r.stderr, "lost stream %q partition %d before committing offset %d (records may be read again)",
				sp.Stream, sp.Partition, off)
		}
	}
	r.forget(parts)
}

// membershipChanged reports a commit refused because the member no longer
// owns the partitions as it thought: not fatal to a consume.
func membershipChanged(err error) bool {
	return errors.Is(err, client.ErrUnknownMember) || errors.Is(err, client.ErrNotAssigned) ||
		errors.Is(err, client.ErrStaleGeneration)
}

// warnf prints a warning line on stderr: "sluice: warning: ...".
func warnf(w io.Writer, format string, args ...any) {
	msg := strings.TrimPrefix(errorLine(fmt.Errorf(format, args...)), "sluice: ")
	fmt.Fprintln(w, "sluice: warning: "+msg)
}
