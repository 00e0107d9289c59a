package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

func groupCommand() *cli.Command {
	return &cli.Command{
		Name:  "group",
		Usage: "list, describe, reset and delete consumer groups",
		Description: "Members join a group with sluice consume STREAM --group G (or the Go client). reset-offsets\n" +
			"and delete are refused while the group has members: stop them, or wait for their session\n" +
			"timeout (10s by default; a static member, --instance-id, stays that long after it exits).",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list the consumer groups", Flags: clientFlags(), Action: groupList},
			{Name: "describe", Usage: "show a group's members, committed offsets and lag", ArgsUsage: "GROUP",
				Flags: clientFlags(), Action: groupDescribe},
			{
				Name: "reset-offsets", Usage: "move a group's committed offsets on a stream", ArgsUsage: "GROUP",
				Description: "--to earliest moves them to the log start, latest to the high watermark (skipping\n" +
					"everything there is), an offset there (within the log), a time to the first record at or\n" +
					"after it. Refused while the group has members (exit 7).",
				Flags: clientFlags(
					&cli.StringFlag{Name: "stream", Usage: "the `STREAM` whose offsets move (required)"},
					&cli.StringFlag{Name: "to",
						Usage: "`WHERE` to (required): earliest, latest, an offset, an RFC 3339 time, or -DURATION (ago)"},
					&cli.StringSliceFlag{Name: "partition", Aliases: []string{"p"},
						Usage: "only these `partitions` (comma-separated or repeated; default: all)"},
				),
				Action: groupResetOffsets,
			},
			{Name: "delete", Usage: "delete a group and its committed offsets", ArgsUsage: "GROUP",
				Flags: clientFlags(), Action: groupDelete},
		},
	}
}

// groupError is a cluster error about a group, worded for the command
// line; it matches the cluster's error (for the exit code).
type groupError struct {
	msg string
	err error
}

func (e *groupError) Error() string { return e.msg }
func (e *groupError) Unwrap() error { return e.err }

// groupAdminError words the refusals of the group commands.
func groupAdminError(group string, err error) error {
	switch {
	case errors.Is(err, client.ErrUnknownGroup):
		return &groupError{msg: fmt.Sprintf("unknown group %q", group), err: err}
	case errors.Is(err, client.ErrGroupNotEmpty):
		return &groupError{msg: fmt.Sprintf("group %q has live members: stop them (or wait for their session timeout) first",
			group), err: err}
	}
	return err
}

// groupJSON is a group as -o json prints it. MemberInfo and Offsets are
// describe's.
type groupJSON struct {
	Group      string            `json:"group"`
	State      string            `json:"state"`
	Members    int               `json:"members"`
	Generation int32             `json:"generation"`
	Strategy   string            `json:"strategy"`
	Streams    []string          `json:"streams"`
	MemberInfo []groupMemberJSON `json:"member_info,omitempty"`
	Offsets    []groupOffsetJSON `json:"offsets,omitempty"`
}

type groupMemberJSON struct {
	MemberID         string             `json:"member_id"`
	InstanceID       string             `json:"instance_id"`
	Streams          []string           `json:"streams"`
	Assigned         map[string][]int32 `json:"assigned"`
	Owned            map[string][]int32 `json:"owned"`
	SessionTimeoutMs int64              `json:"session_timeout_ms"`
	LastHeartbeat    string             `json:"last_heartbeat,omitempty"`
}

// groupOffsetJSON is a group's offset of one partition; -1 is none
// (committed) or unknown.
type groupOffsetJSON struct {
	Stream         string `json:"stream"`
	Partition      int32  `json:"partition"`
	Committed      int64  `json:"committed"`
	LogStartOffset int64  `json:"log_start_offset"`
	HighWatermark  int64  `json:"high_watermark"`
	Lag            int64  `json:"lag"`
	CommitTime     string `json:"commit_time,omitempty"`
	Metadata       string `json:"metadata,omitempty"`
	Error          string `json:"error,omitempty"`
}

func toGroupJSON(g client.GroupInfo) groupJSON {
	streams := g.Streams
	if streams == nil {
		streams = []string{}
	}
	return groupJSON{Group: g.Group, State: g.State, Members: g.Members, Generation: g.Generation,
		Strategy: g.Strategy, Streams: streams}
}

func toGroupOffsetJSON(o client.GroupOffset) groupOffsetJSON {
	j := groupOffsetJSON{Stream: o.Stream, Partition: o.Partition, Committed: o.Committed,
		LogStartOffset: o.LogStartOffset, HighWatermark: o.HighWatermark, Lag: o.Lag, Metadata: o.Metadata}
	if !o.CommitTime.IsZero() {
		j.CommitTime = o.CommitTime.UTC().Format(time.RFC3339Nano)
	}
	if o.Err != nil {
		j.Error = o.Err.Error()
	}
	return j
}

// partsByStream maps partitions to stream -> partition numbers.
func partsByStream(parts []client.StreamPartition) map[string][]int32 {
	out := map[string][]int32{}
	for _, sp := range parts {
		out[sp.Stream] = append(out[sp.Stream], sp.Partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// partsText renders partitions for a table cell: "orders:0-2,5 pay:1";
// "-" for none.
func partsText(parts []client.StreamPartition) string {
	if len(parts) == 0 {
		return "-"
	}
	by := partsByStream(parts)
	streams := make([]string, 0, len(by))
	for s := range by {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	var out []string
	for _, s := range streams {
		out = append(out, s+":"+rangesText(slices.Compact(by[s])))
	}
	return strings.Join(out, " ")
}

// rangesText renders sorted numbers as ranges: 0-2,5.
func rangesText(ns []int32) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(ns[i])))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(ns[j])))
		}
		i = j + 1
	}
	return b.String()
}

func groupList(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		groups, err := cl.ListGroups(ctx)
		if err != nil {
			return err
		}
		w := envOf(c).stdout
		if out == "json" {
			list := []groupJSON{}
			for _, g := range groups {
				list = append(list, toGroupJSON(g))
			}
			return writeJSON(w, map[string]any{"groups": list})
		}
		t := newTable(w, "GROUP", "STATE", "MEMBERS", "GENERATION", "STRATEGY", "STREAMS")
		for _, g := range groups {
			t.row(g.Group, g.State, strconv.Itoa(g.Members), strconv.Itoa(int(g.Generation)), g.Strategy,
				listText(g.Streams))
		}
		return t.flush()
	})
}

func groupDescribe(c *cli.Context) error {
	if err := checkArgs(c, "GROUP"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	group := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		d, err := cl.DescribeGroup(ctx, group)
		if err != nil {
			return groupAdminError(group, err)
		}
		w := envOf(c).stdout
		if out == "json" {
			return writeJSON(w, toGroupDescriptionJSON(d))
		}
		return writeGroupDescription(w, d)
	})
}

func toGroupDescriptionJSON(d client.GroupDescription) groupJSON {
	j := toGroupJSON(d.GroupInfo)
	j.MemberInfo, j.Offsets = []groupMemberJSON{}, []groupOffsetJSON{}
	for _, m := range d.Members {
		mj := groupMemberJSON{MemberID: m.MemberID, InstanceID: m.InstanceID, Streams: m.Streams,
			Assigned: partsByStream(m.Assigned), Owned: partsByStream(m.Owned),
			SessionTimeoutMs: m.SessionTimeout.Milliseconds()}
		if mj.Streams == nil {
			mj.Streams = []string{}
		}
		if !m.LastHeartbeat.IsZero() {
			mj.LastHeartbeat = m.LastHeartbeat.UTC().Format(time.RFC3339Nano)
		}
		j.MemberInfo = append(j.MemberInfo, mj)
	}
	for _, o := range d.Offsets {
		j.Offsets = append(j.Offsets, toGroupOffsetJSON(o))
	}
	return j
}

// writeGroupDescription prints describe's summary line, members table and
// offsets table.
func writeGroupDescription(w io.Writer, d client.GroupDescription) error {
	fmt.Fprintf(w, "group %s\n%s, %s, generation %d, strategy %s, streams %s\n\n", d.Group, d.State,
		plural(d.GroupInfo.Members, "member"), d.Generation, orDash(d.Strategy), listText(d.Streams))
	if len(d.Members) == 0 {
		fmt.Fprint(w, "no members\n\n")
	} else {
		t := newTable(w, "MEMBER", "INSTANCE", "ASSIGNED", "OWNED", "LAST HEARTBEAT")
		for _, m := range d.Members {
			t.row(m.MemberID, orDash(m.InstanceID), partsText(m.Assigned), partsText(m.Owned), formatTime(m.LastHeartbeat))
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return writeOffsetTable(w, d.Offsets)
}

// writeOffsetTable prints a group's offsets, then the partitions that
// could not be read.
func writeOffsetTable(w io.Writer, offsets []client.GroupOffset) error {
	t := newTable(w, "STREAM", "PARTITION", "COMMITTED", "HIGH WATERMARK", "LAG", "LAST COMMIT")
	var failed []client.GroupOffset
	for _, o := range offsets {
		if o.Err != nil {
			failed = append(failed, o)
			t.row(o.Stream, strconv.Itoa(int(o.Partition)), "?", "?", "?", "?")
			continue
		}
		committed, lag := "-", "-"
		if o.Committed >= 0 {
			committed, lag = strconv.FormatInt(o.Committed, 10), offsetText(o.Lag)
		}
		t.row(o.Stream, strconv.Itoa(int(o.Partition)), committed, offsetText(o.HighWatermark), lag,
			formatTime(o.CommitTime))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, o := range failed {
		fmt.Fprintf(w, "stream %s partition %d: %v\n", o.Stream, o.Partition, o.Err)
	}
	return nil
}

func groupResetOffsets(c *cli.Context) error {
	if err := checkArgs(c, "GROUP"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	group, stream := c.Args().First(), c.String("stream")
	if stream == "" {
		return usagef("group reset-offsets: --stream is required")
	}
	if !c.IsSet("to") {
		return usagef("group reset-offsets: --to is required (earliest, latest, an offset, an RFC 3339 time or -DURATION)")
	}
	to, err := parseFrom(c.String("to"), time.Now())
	if err != nil {
		return usagef("--to: %v", err)
	}
	parts, err := parsePartitions(c.StringSlice("partition"))
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		offsets, err := cl.ResetGroupOffsets(ctx, group, stream, parts, to.at)
		if err != nil {
			return groupAdminError(group, err)
		}
		w := envOf(c).stdout
		if out == "json" {
			list := []groupOffsetJSON{}
			for _, o := range offsets {
				list = append(list, toGroupOffsetJSON(o))
			}
			j := struct {
				Group   string            `json:"group"`
				Stream  string            `json:"stream"`
				Offsets []groupOffsetJSON `json:"offsets"`
			}{group, stream, list}
			if err := writeJSON(w, j); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(w, "reset the offsets of group %s on stream %s to %s\n", group, stream, to.at)
			if err := writeOffsetTable(w, offsets); err != nil {
				return err
			}
		}
		return resetFailures(group, offsets)
	})
}

// resetFailures returns an error naming the partitions whose offsets were
// not reset (wrapping the first one's error), or nil.
func resetFailures(group string, offsets []client.GroupOffset) error {
	var first *client.GroupOffset
	n := 0
	for i := range offsets {
		if offsets[i].Err != nil {
			if first == nil {
				first = &offsets[i]
			}
			n++
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("group %q: the offsets of %s were not reset; stream %q partition %d: %w",
		group, plural(n, "partition"), first.Stream, first.Partition, first.Err)
}

func groupDelete(c *cli.Context) error {
	if err := checkArgs(c, "GROUP"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	group := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		if err := cl.DeleteGroup(ctx, group); err != nil {
			return groupAdminError(group, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, map[string]string{"deleted": group})
		}
		_, err := fmt.Fprintf(envOf(c).stdout, "deleted group %s\n", group)
		return err
	})
}

// listText joins names with commas; "-" for none.
func listText(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
