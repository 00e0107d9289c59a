package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/metadata"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "inspect the cluster",
		Subcommands: []*cli.Command{{
			Name:   "status",
			Usage:  "list the nodes and who leads the metadata group",
			Flags:  clientFlags(),
			Action: clusterStatus,
		}},
	}
}

type nodeJSON struct {
	ID             string `json:"id"`
	State          string `json:"state"`
	ClientAddr     string `json:"client_addr"`
	RaftAddr       string `json:"raft_addr"`
	MetadataLeader bool   `json:"metadata_leader"`
}

func clusterStatus(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		info, err := cl.Cluster(ctx)
		if err != nil {
			return err
		}
		w := envOf(c).stdout
		if out == "json" {
			nodes := []nodeJSON{}
			for _, n := range info.Nodes {
				nodes = append(nodes, nodeJSON{n.ID, n.State, n.ClientAddr, n.RaftAddr, n.ID == info.MetadataLeaderID})
			}
			return writeJSON(w, map[string]any{"nodes": nodes, "metadata_leader": info.MetadataLeaderID,
				"answered_by": info.AnsweredBy})
		}
		t := newTable(w, "NODE", "STATE", "CLIENT", "RAFT", "METADATA")
		for _, n := range info.Nodes {
			role := "follower"
			if n.ID == info.MetadataLeaderID {
				role = "leader"
			}
			t.row(n.ID, n.State, n.ClientAddr, n.RaftAddr, role)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if info.MetadataLeaderID == "" {
			fmt.Fprintln(w, "no metadata leader (an election is in progress)")
		}
		return nil
	})
}

func streamCommand() *cli.Command {
	retention := &cli.StringFlag{Name: "retention", Usage: "keep records this `long` (7d, 36h; 0: unlimited)"}
	retentionBytes := &cli.StringFlag{Name: "retention-bytes",
		Usage: "keep at most this `size` per partition (500MiB, 10GB; 0: unlimited)"}
	return &cli.Command{
		Name:  "stream",
		Usage: "create, list, describe, alter and delete streams",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a stream", ArgsUsage: "NAME",
				Flags: clientFlags(
					&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Usage: "number of partitions (required)"},
					&cli.IntFlag{Name: "replicas", Aliases: []string{"r"},
						Usage: "replication factor (default: 3, or the number of nodes when fewer)"},
					retention, retentionBytes,
					&cli.StringFlag{Name: "max-record-bytes", Usage: "largest record `size` (default 1MiB)"},
				),
				Action: streamCreate,
			},
			{Name: "list", Usage: "list the streams", Flags: clientFlags(), Action: streamList},
			{Name: "describe", Usage: "show a stream and its partitions", ArgsUsage: "NAME",
				Flags: clientFlags(), Action: streamDescribe},
			{Name: "delete", Usage: "delete a stream and its records", ArgsUsage: "NAME",
				Flags: clientFlags(), Action: streamDelete},
			{Name: "alter", Usage: "change a stream's retention", ArgsUsage: "NAME",
				Flags: clientFlags(retention, retentionBytes), Action: streamAlter},
		},
	}
}

// streamFlags reads the retention flags that are set.
func streamFlags(c *cli.Context) (cfg client.StreamConfig, changes []client.StreamChange, err error) {
	if c.IsSet("retention") {
		if cfg.Retention, err = parseRetention(c.String("retention")); err != nil {
			return cfg, nil, usagef("--retention: %v", err)
		}
		changes = append(changes, client.SetRetention(cfg.Retention))
	}
	if c.IsSet("retention-bytes") {
		if cfg.RetentionBytes, err = parseBytes(c.String("retention-bytes")); err != nil {
			return cfg, nil, usagef("--retention-bytes: %v", err)
		}
		changes = append(changes, client.SetRetentionBytes(cfg.RetentionBytes))
	}
	return cfg, changes, nil
}

func streamCreate(c *cli.Context) error {
	if err := checkArgs(c, "NAME"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	cfg, _, err := streamFlags(c)
	if err != nil {
		return err
	}
	cfg.Name = c.Args().First()
	if !c.IsSet("partitions") {
		return usagef("stream create: --partitions is required")
	}
	cfg.Partitions, cfg.ReplicationFactor = c.Int("partitions"), c.Int("replicas")
	if err := checkStreamSize(cfg.Partitions, cfg.ReplicationFactor); err != nil {
		return err
	}
	if c.IsSet("max-record-bytes") {
		n, err := parseBytes(c.String("max-record-bytes"))
		if err != nil || n < 1 || n > metadata.MaxRecordBytesLimit {
			return usagef("--max-record-bytes: %q is not a size from 1B to %s", c.String("max-record-bytes"),
				formatBytes(metadata.MaxRecordBytesLimit))
		}
		cfg.MaxRecordBytes = int(n)
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		s, err := cl.CreateStream(ctx, cfg)
		if err != nil {
			return err
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toStreamJSON(s))
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "created stream %s: %s, replication factor %d, retention %s, retention bytes %s\n",
			s.Name, plural(len(s.Partitions), "partition"), s.ReplicationFactor, formatRetention(s.Retention), formatBytes(s.RetentionBytes))
		return err
	})
}

// checkStreamSize checks --partitions (1..metadata.MaxPartitions) and
// --replicas (0: the default, else 1..metadata.MaxReplicationFactor) of
// a stream to create: the cluster's limits, checked before asking it
// (and before the client narrows them to int32).
func checkStreamSize(partitions, replicas int) error {
	switch {
	case partitions < 1:
		return usagef("--partitions %d: want at least 1", partitions)
	case partitions > metadata.MaxPartitions:
		return usagef("--partitions %d: want at most %d", partitions, metadata.MaxPartitions)
	case replicas < 0 || replicas > metadata.MaxReplicationFactor:
		return usagef("--replicas %d: want 1 to %d (0: the default)", replicas, metadata.MaxReplicationFactor)
	}
	return nil
}

func streamList(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		streams, err := cl.ListStreams(ctx)
		if err != nil {
			return err
		}
		w := envOf(c).stdout
		if out == "json" {
			list := []streamJSON{}
			for _, s := range streams {
				list = append(list, toStreamJSON(s))
			}
			return writeJSON(w, map[string]any{"streams": list})
		}
		t := newTable(w, "NAME", "PARTITIONS", "REPLICAS", "RETENTION", "RETENTION BYTES", "CREATED")
		for _, s := range streams {
			t.row(s.Name, strconv.Itoa(len(s.Partitions)), strconv.Itoa(s.ReplicationFactor),
				formatRetention(s.Retention), formatBytes(s.RetentionBytes), formatTime(s.CreatedAt))
		}
		return t.flush()
	})
}

func streamDescribe(c *cli.Context) error {
	if err := checkArgs(c, "NAME"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		s, err := cl.DescribeStream(ctx, c.Args().First())
		if err != nil {
			return err
		}
		w := envOf(c).stdout
		if out == "json" {
			return writeJSON(w, toStreamJSON(s))
		}
		fmt.Fprintf(w, "stream %s\n%s, replication factor %d, retention %s, retention bytes %s, max record %s, created %s\n\n",
			s.Name, plural(len(s.Partitions), "partition"), s.ReplicationFactor, formatRetention(s.Retention),
			formatBytes(s.RetentionBytes), formatBytes(int64(s.MaxRecordBytes)), formatTime(s.CreatedAt))
		t := newTable(w, "PARTITION", "LEADER", "REPLICAS", "LOG START", "HIGH WATERMARK")
		for _, p := range s.Partitions {
			leader := p.LeaderID
			if leader == "" {
				leader = "-"
			}
			t.row(strconv.Itoa(int(p.Partition)), leader, strings.Join(p.Replicas, ","),
				offsetText(p.LogStartOffset), offsetText(p.HighWatermark))
		}
		return t.flush()
	})
}

func streamDelete(c *cli.Context) error {
	if err := checkArgs(c, "NAME"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		if err := cl.DeleteStream(ctx, name); err != nil {
			return err
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, map[string]string{"deleted": name})
		}
		_, err := fmt.Fprintf(envOf(c).stdout, "deleted stream %s\n", name)
		return err
	})
}

func streamAlter(c *cli.Context) error {
	if err := checkArgs(c, "NAME"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	_, changes, err := streamFlags(c)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return usagef("stream alter: nothing to change (give --retention and/or --retention-bytes)")
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		s, err := cl.AlterStream(ctx, c.Args().First(), changes...)
		if err != nil {
			return err
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toStreamJSON(s))
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "altered stream %s: retention %s, retention bytes %s\n",
			s.Name, formatRetention(s.Retention), formatBytes(s.RetentionBytes))
		return err
	})
}

// streamJSON is a stream as -o json prints it.
type streamJSON struct {
	Name              string          `json:"name"`
	Partitions        int             `json:"partitions"`
	ReplicationFactor int             `json:"replication_factor"`
	RetentionMs       int64           `json:"retention_ms"`
	RetentionBytes    int64           `json:"retention_bytes"`
	MaxRecordBytes    int             `json:"max_record_bytes"`
	CreatedAt         string          `json:"created_at,omitempty"`
	PartitionInfo     []partitionJSON `json:"partition_info"`
}

type partitionJSON struct {
	Partition      int32    `json:"partition"`
	Group          string   `json:"group"`
	Leader         string   `json:"leader"`
	LeaderAddr     string   `json:"leader_addr"`
	Replicas       []string `json:"replicas"`
	LogStartOffset int64    `json:"log_start_offset"`
	HighWatermark  int64    `json:"high_watermark"`
	HashKeyStart   string   `json:"hash_key_start"`
	HashKeyEnd     string   `json:"hash_key_end"`
}

func toStreamJSON(s client.StreamInfo) streamJSON {
	j := streamJSON{Name: s.Name, Partitions: len(s.Partitions), ReplicationFactor: s.ReplicationFactor,
		RetentionMs: s.Retention.Milliseconds(), RetentionBytes: s.RetentionBytes, MaxRecordBytes: s.MaxRecordBytes,
		PartitionInfo: []partitionJSON{}}
	if !s.CreatedAt.IsZero() {
		j.CreatedAt = s.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	for _, p := range s.Partitions {
		replicas := p.Replicas
		if replicas == nil {
			replicas = []string{}
		}
		j.PartitionInfo = append(j.PartitionInfo, partitionJSON{Partition: p.Partition, Group: p.GroupID,
			Leader: p.LeaderID, LeaderAddr: p.LeaderAddr, Replicas: replicas,
			LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark,
			HashKeyStart: hex.EncodeToString(p.HashKeyStart[:]), HashKeyEnd: hex.EncodeToString(p.HashKeyEnd[:])})
	}
	return j
}

func offsetText(o int64) string {
	if o < 0 {
		return "?"
	}
	return strconv.FormatInt(o, 10)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
