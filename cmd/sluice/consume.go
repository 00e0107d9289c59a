package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

// timeStartQuiet is how long consume without --follow waits for the first
// record of a partition read from a time: the client does not say where a
// time resolved to, so a partition with no record at or after the time
// is taken as done when none came within this long.
const timeStartQuiet = 2 * time.Second

func consumeCommand() *cli.Command {
	return &cli.Command{
		Name:  "consume",
		Usage: "read records from a stream",
		Description: "Without --follow, reading stops at the end of each partition as it was when the\n" +
			"command started, or after --max records; with --follow it goes on until Ctrl-C or --max.\n" +
			"-o json prints one object per record: stream, partition, offset, timestamp (RFC 3339),\n" +
			"key (null: none), value, headers (key_base64/value_base64 when not UTF-8).\n\n" +
			"With --group G, the command reads as a member of consumer group G: the group assigns\n" +
			"the partitions, each starts at the group's committed offset (--from earliest|latest\n" +
			"where there is none), and what is printed is committed once it is written out (after\n" +
			"each batch, and on exit: exactly the records printed). It follows until Ctrl-C (exit 0)\n" +
			"or --max, or until --idle-timeout passes without a record (counted from the last record\n" +
			"or assignment). To start a group elsewhere, use sluice group reset-offsets.",
		ArgsUsage: "STREAM",
		Flags: clientFlags(
			&cli.StringFlag{Name: "from", Value: "earliest",
				Usage: "`WHERE` to start: earliest, latest, an offset, an RFC 3339 time, or -DURATION (ago); " +
					"with --group: earliest or latest, for partitions the group has no offset for"},
			&cli.StringSliceFlag{Name: "partition", Aliases: []string{"p"},
				Usage: "read only these `partitions` (comma-separated or repeated)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "wait for new records (implied by --group)"},
			&cli.IntFlag{Name: "max", Aliases: []string{"n"}, Usage: "stop after `N` records (0: no limit)"},
			&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Usage: "consume as a member of consumer group `G`, committing what is printed"},
			&cli.StringFlag{Name: "strategy", Usage: "with --group: the assignment `strategy`: range, roundrobin or cooperative-sticky (default)"},
			&cli.StringFlag{Name: "instance-id", Usage: "with --group: a static member `ID` (a restart within the session timeout keeps its partitions)"},
			&cli.DurationFlag{Name: "idle-timeout", Usage: "with --group: stop once no record came for `D` (0: follow)"},
		),
		Action: consume,
	}
}

// startSpec is a parsed --from.
type startSpec struct {
	at     client.StartAt
	kind   string // earliest, latest, offset or time
	offset int64  // kind offset
}

// parseFrom turns --from into a start position; now anchors "-DURATION".
func parseFrom(s string, now time.Time) (startSpec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "earliest", "beginning", "oldest", "start":
		return startSpec{at: client.Earliest(), kind: "earliest"}, nil
	case "latest", "end", "newest":
		return startSpec{at: client.Latest(), kind: "latest"}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return startSpec{}, fmt.Errorf("offset %d is negative", n)
		}
		return startSpec{at: client.Offset(n), kind: "offset", offset: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return startSpec{at: client.Time(t), kind: "time"}, nil
	}
	if strings.HasPrefix(s, "-") {
		if d, err := parseRetention(s[1:]); err == nil && d > 0 {
			return startSpec{at: client.Time(now.Add(-d)), kind: "time"}, nil
		}
	}
	return startSpec{}, fmt.Errorf("%q is not earliest, latest, an offset, an RFC 3339 time or -DURATION", s)
}

// consumeRun tracks where each partition ends (without --follow).
type consumeRun struct {
	follow bool
	max    int
	count  int
	isTime bool
	end    map[int32]int64 // the high watermark as of start
	done   map[int32]bool
	seen   map[int32]bool
}

// finished reports whether every partition reached its end, or max.
func (r *consumeRun) finished() bool {
	if r.max > 0 && r.count >= r.max {
		return true
	}
	if r.follow {
		return false
	}
	for p := range r.end {
		if !r.done[p] {
			return false
		}
	}
	return true
}

// keep reports whether rec is to be printed, and counts it.
func (r *consumeRun) keep(rec *client.Record) bool {
	if r.max > 0 && r.count >= r.max {
		return false
	}
	if !r.follow {
		end, ok := r.end[rec.Partition]
		if !ok || r.done[rec.Partition] || rec.Offset >= end {
			return false
		}
		r.seen[rec.Partition] = true
		if rec.Offset+1 >= end {
			r.done[rec.Partition] = true
		}
	}
	r.count++
	return true
}

func consume(c *cli.Context) error {
	if err := checkArgs(c, "STREAM"); err != nil {
		return err
	}
	if c.IsSet("group") {
		return groupConsume(c)
	}
	for _, f := range []string{"strategy", "instance-id", "idle-timeout"} {
		if c.IsSet(f) {
			return usagef("--%s needs --group", f)
		}
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	from, err := parseFrom(c.String("from"), time.Now())
	if err != nil {
		return usagef("--from: %v", err)
	}
	if c.Int("max") < 0 {
		return usagef("--max %d: want 0 (no limit) or more", c.Int("max"))
	}
	parts, err := parsePartitions(c.StringSlice("partition"))
	if err != nil {
		return err
	}
	ctx, stream := c.Context, c.Args().First()
	run := &consumeRun{follow: c.Bool("follow"), max: c.Int("max"), end: map[int32]int64{},
		done: map[int32]bool{}, seen: map[int32]bool{}}

	setupCtx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()
	cl, err := connect(setupCtx, c)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer cl.Close()
	info, err := describeWithOffsets(setupCtx, cl, stream)
	if err != nil {
		return interrupted(ctx, err)
	}
	if parts == nil {
		for _, p := range info.Partitions {
			parts = append(parts, p.Partition)
		}
	}
	for _, p := range parts {
		if int(p) >= len(info.Partitions) {
			return &client.Error{Code: client.CodeUnknownPartition,
				Msg: fmt.Sprintf("stream %q has no partition %d (it has %d)", stream, p, len(info.Partitions))}
		}
		run.initPartition(info.Partitions[p], from)
	}
	k, err := cl.NewConsumer(client.ConsumerConfig{Follow: run.follow})
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.Assign(setupCtx, stream, parts, from.at); err != nil {
		return interrupted(ctx, err)
	}
	w := bufio.NewWriterSize(envOf(c).stdout, 64<<10)
	err = run.loop(ctx, k, w, out == "json")
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if ctx.Err() != nil && run.follow && run.max == 0 {
		return nil // Ctrl-C is how --follow ends
	}
	return interrupted(ctx, err)
}

// initPartition sets where p ends and whether it is done already.
func (r *consumeRun) initPartition(p client.PartitionInfo, from startSpec) {
	r.end[p.Partition] = p.HighWatermark
	empty := p.HighWatermark <= max(p.LogStartOffset, 0)
	switch {
	case from.kind == "latest", empty:
		r.done[p.Partition] = true
	case from.kind == "offset":
		r.done[p.Partition] = from.offset >= p.HighWatermark
	case from.kind == "time":
		r.isTime = true
	}
}

// loop polls and prints until finished or ctx ends.
func (r *consumeRun) loop(ctx context.Context, k *client.Consumer, w *bufio.Writer, jsonOut bool) error {
	quietUntil := time.Now().Add(timeStartQuiet)
	for !r.finished() {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		waitTime := r.isTime && !r.follow && r.unseenTimePartitions()
		if waitTime {
			pollCtx, cancel = context.WithDeadline(ctx, quietUntil)
		}
		recs, err := k.Poll(pollCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && waitTime && errors.Is(err, context.DeadlineExceeded) {
				r.markUnseenDone()
				continue
			}
			return err
		}
		for i := range recs {
			if !r.keep(&recs[i]) {
				continue
			}
			if err := writeRecord(w, &recs[i], jsonOut); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// parsePartitions parses the --partition values: numbers, comma-separated
// or repeated. None is nil (every partition).
func parsePartitions(values []string) ([]int32, error) {
	var parts []int32
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || n < 0 {
				return nil, usagef("--partition %q: want partition numbers (0 or more)", v)
			}
			if !slices.Contains(parts, int32(n)) {
				parts = append(parts, int32(n))
			}
		}
	}
	return parts, nil
}

// writeRecord prints one record as text or as a line of JSON.
func writeRecord(w *bufio.Writer, rec *client.Record, jsonOut bool) error {
	if !jsonOut {
		return writeRecordText(w, rec)
	}
	b, err := encodeRecordJSON(rec)
	if err != nil {
		return err
	}
	_, _ = w.Write(b)
	return w.WriteByte('\n')
}

func (r *consumeRun) unseenTimePartitions() bool {
	for p := range r.end {
		if !r.done[p] && !r.seen[p] {
			return true
		}
	}
	return false
}

func (r *consumeRun) markUnseenDone() {
	for p := range r.end {
		if !r.seen[p] {
			r.done[p] = true
		}
	}
}

// describeWithOffsets describes a stream until every partition's offsets
// are known (a partition without a leader has none), or ctx ends.
func describeWithOffsets(ctx context.Context, cl *client.Client, stream string) (client.StreamInfo, error) {
	backoff := 50 * time.Millisecond
	for {
		info, err := cl.DescribeStream(ctx, stream)
		if err != nil {
			return info, err
		}
		known := true
		for _, p := range info.Partitions {
			known = known && p.HighWatermark >= 0
		}
		if known {
			return info, nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return info, fmt.Errorf("stream %q: partition offsets unknown (no leader?): %w", stream, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
