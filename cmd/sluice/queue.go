package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/consumergroup"
)

// Limits the queue commands check before asking the cluster (the
// server's).
const (
	maxVisibility  = 12 * time.Hour
	maxMaxReceives = 1000
)

func queueCommand() *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "SQS-style queues over streams: create, send, receive, ack",
		Description: "A queue is a view over a stream: a message is a record of the stream, received with a\n" +
			"lease (--visibility) and deleted by an ack. receive prints each message's receipt as\n" +
			"PARTITION:RECEIPT (receipts are valid on their partition only); ack, nack and extend take\n" +
			"these tokens as arguments, or one per line of standard input. Delivery is at least once.",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a queue (and its stream, unless --stream names an existing one)",
				ArgsUsage: "QUEUE",
				Description: "Without --stream the queue's stream is named like the queue and created when it does not\n" +
					"exist, with --partitions partitions (default 1). With --stream S the queue views S, which\n" +
					"must exist unless --partitions is given. Several queues may view one stream.",
				Flags: clientFlags(append(deliveryFlags(),
					&cli.StringFlag{Name: "stream", Usage: "the `STREAM` the queue views (default: one named like the queue)"},
					&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Usage: "partitions of the stream, when it is created (default 1)"},
					&cli.StringFlag{Name: "retention", Usage: "keep messages this `long` (7d, 36h; default unlimited): " +
						"the retention of the stream, when it is created"},
					&cli.StringFlag{Name: "filter", Usage: "deliver only the records an SNS-style filter `POLICY` (JSON) accepts"},
				)...),
				Action: queueCreate,
			},
			{Name: "delete", Usage: "delete a queue (its stream and records stay)", ArgsUsage: "QUEUE",
				Flags: clientFlags(), Action: queueDelete},
			{Name: "list", Usage: "list the queues and topic subscriptions", Flags: clientFlags(), Action: queueList},
			{Name: "describe", Usage: "show a queue and, per partition, its floor, pending and in-flight messages",
				ArgsUsage: "QUEUE", Flags: clientFlags(), Action: queueDescribe},
			{Name: "purge", Usage: "delete every message sent so far (in flight ones too)", ArgsUsage: "QUEUE",
				Flags: clientFlags(), Action: queuePurge},
			{Name: "redrive", Usage: "move the queue's dead-lettered messages back to it", ArgsUsage: "QUEUE",
				Flags: clientFlags(), Action: queueRedrive},
			queueSendCommand(),
			queueReceiveCommand("QUEUE"),
			{Name: "ack", Usage: "delete received messages", ArgsUsage: "QUEUE [PARTITION:RECEIPT...]",
				Flags: clientFlags(), Action: settleAction("ack")},
			{Name: "nack", Usage: "give received messages back (visible again after --delay)",
				ArgsUsage: "QUEUE [PARTITION:RECEIPT...]",
				Flags:     clientFlags(&cli.DurationFlag{Name: "delay", Usage: "make them visible again after `D` (at most 15m)"}),
				Action:    settleAction("nack")},
			{Name: "extend", Usage: "keep received messages invisible for --visibility from now",
				ArgsUsage: "QUEUE [PARTITION:RECEIPT...]",
				Flags: clientFlags(&cli.DurationFlag{Name: "visibility",
					Usage: "the leases end `D` from now (required; 0: visible again at once; at most 12h)"}),
				Action: settleAction("extend")},
		},
	}
}

// deliveryFlags are the settings of queue create and topic subscribe.
func deliveryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "visibility", Usage: "a received message stays invisible this `long` unless acked (default 30s, at most 12h)"},
		&cli.IntFlag{Name: "max-receives", Usage: "after `N` receives a message goes to --dead-letter at its next (0: unlimited)"},
		&cli.StringFlag{Name: "dead-letter", Usage: "the `STREAM` that messages received --max-receives times go to"},
		&cli.DurationFlag{Name: "delay", Usage: "delay every message's first delivery by `D` (at most 15m)"},
		&cli.BoolFlag{Name: "fifo", Usage: "deliver a key's messages in order, one in flight at a time"},
	}
}

// parseDelivery reads the delivery flags into cfg.
func parseDelivery(c *cli.Context, cfg *client.QueueConfig) error {
	if c.IsSet("visibility") {
		cfg.VisibilityTimeout = c.Duration("visibility")
		if cfg.VisibilityTimeout < time.Millisecond || cfg.VisibilityTimeout > maxVisibility {
			return usagef("--visibility %v: want 1ms to %v", cfg.VisibilityTimeout, maxVisibility)
		}
	}
	if cfg.MaxReceives = c.Int("max-receives"); cfg.MaxReceives < 0 || cfg.MaxReceives > maxMaxReceives {
		return usagef("--max-receives %d: want 0 (unlimited) to %d", cfg.MaxReceives, maxMaxReceives)
	}
	cfg.DeadLetterStream = c.String("dead-letter")
	if cfg.MaxReceives > 0 && cfg.DeadLetterStream == "" {
		return usagef("--max-receives needs --dead-letter: the stream where such messages go")
	}
	if cfg.DeadLetterStream != "" && cfg.MaxReceives == 0 {
		return usagef("--dead-letter needs --max-receives: no message goes there without it")
	}
	if cfg.Delay = c.Duration("delay"); cfg.Delay < 0 || cfg.Delay > client.MaxMessageDelay {
		return usagef("--delay %v: want 0 to %v", cfg.Delay, client.MaxMessageDelay)
	}
	cfg.FIFO = c.Bool("fifo")
	if c.IsSet("filter") {
		if cfg.Filter = c.String("filter"); !json.Valid([]byte(cfg.Filter)) {
			return usagef("--filter %q: not JSON (want a filter policy such as {\"headers.type\": [\"order\"]})", cfg.Filter)
		}
		if _, err := consumergroup.ParseFilter(cfg.Filter); err != nil {
			return usagef("--filter %q: %v", cfg.Filter, err)
		}
	}
	return nil
}

// queueError is a cluster error about a queue, worded for the command
// line; it matches the cluster's error (for the exit code).
type queueError struct {
	msg string
	err error
}

func (e *queueError) Error() string { return e.msg }
func (e *queueError) Unwrap() error { return e.err }

// queueAdminError words the refusals of the queue commands; kind is
// "queue" or "subscription".
func queueAdminError(kind, name string, err error) error {
	switch {
	case errors.Is(err, client.ErrUnknownQueue):
		return &queueError{msg: fmt.Sprintf("unknown %s %q", kind, name), err: err}
	case errors.Is(err, client.ErrQueueExists):
		return &queueError{msg: fmt.Sprintf("%s %q already exists (queues and subscriptions share names)", kind, name), err: err}
	}
	return err
}

func queueCreate(c *cli.Context) error {
	if err := checkArgs(c, "QUEUE"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	cfg := client.QueueConfig{Name: c.Args().First(), Stream: c.String("stream")}
	if err := parseDelivery(c, &cfg); err != nil {
		return err
	}
	if c.IsSet("partitions") {
		cfg.Partitions = c.Int("partitions")
		if err := checkStreamSize(cfg.Partitions, 0); err != nil {
			return err
		}
	}
	cfg.CreateStream = cfg.Stream == "" || cfg.Partitions > 0
	if c.IsSet("retention") {
		if cfg.Retention, err = parseRetention(c.String("retention")); err != nil {
			return usagef("--retention: %v", err)
		}
		if !cfg.CreateStream {
			return usagef("--retention sets the retention of the stream the queue creates: with --stream, give --partitions too " +
				"(or set an existing stream's retention with sluice stream alter)")
		}
	}
	if cfg.Stream == "" {
		cfg.Stream = cfg.Name
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		q, err := cl.CreateQueue(ctx, cfg)
		if err != nil {
			return queueAdminError("queue", cfg.Name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toQueueJSON(q))
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "created queue %s on stream %s: %s\n", q.Name, q.Stream, deliveryText(q))
		return err
	})
}

func queueDelete(c *cli.Context) error {
	if err := checkArgs(c, "QUEUE"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		if err := cl.DeleteQueue(ctx, name); err != nil {
			return queueAdminError("queue", name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, map[string]string{"deleted": name})
		}
		_, err := fmt.Fprintf(envOf(c).stdout, "deleted queue %s\n", name)
		return err
	})
}

func queuePurge(c *cli.Context) error {
	return queueCountAction(c, "purged", func(ctx context.Context, cl *client.Client, name string) (int64, error) {
		return cl.PurgeQueue(ctx, name)
	}, func(n int64, name string) string {
		return fmt.Sprintf("purged %s from queue %s", plural(int(n), "message"), name)
	})
}

func queueRedrive(c *cli.Context) error {
	return queueCountAction(c, "redriven", func(ctx context.Context, cl *client.Client, name string) (int64, error) {
		n, err := cl.RedriveQueue(ctx, name)
		if err != nil && n > 0 {
			fmt.Fprintf(envOf(c).stderr, "moved %s back to queue %s before the error\n", plural(int(n), "message"), name)
		}
		return n, err
	}, func(n int64, name string) string {
		return fmt.Sprintf("moved %s from the dead-letter stream back to queue %s", plural(int(n), "message"), name)
	})
}

// queueCountAction runs an action on the queue QUEUE that answers a count
// of messages, and prints it: as {"queue": ..., key: n} with -o json, else
// text(n, queue).
func queueCountAction(c *cli.Context, key string, action func(context.Context, *client.Client, string) (int64, error),
	text func(int64, string) string) error {
	if err := checkArgs(c, "QUEUE"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		n, err := action(ctx, cl, name)
		if err != nil {
			return queueAdminError("queue", name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, map[string]any{"queue": name, key: n})
		}
		_, err = fmt.Fprintln(envOf(c).stdout, text(n, name))
		return err
	})
}

func queueList(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	return listQueues(c, false, "")
}

// listQueues lists the queues, or only the subscriptions (of topic, when
// not "").
func listQueues(c *cli.Context, subscriptions bool, topic string) error {
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		all, err := cl.ListQueues(ctx)
		if err != nil {
			return err
		}
		var qs []client.QueueInfo
		for _, q := range all {
			if (!subscriptions || q.Subscription) && (topic == "" || q.Stream == topic) {
				qs = append(qs, q)
			}
		}
		w := envOf(c).stdout
		if out == "json" {
			list := []queueJSON{}
			for _, q := range qs {
				list = append(list, toQueueJSON(q))
			}
			key := "queues"
			if subscriptions {
				key = "subscriptions"
			}
			return writeJSON(w, map[string]any{key: list})
		}
		if subscriptions {
			t := newTable(w, "SUBSCRIPTION", "TOPIC", "FILTER", "READ BY", "VISIBILITY", "MAX RECEIVES", "DEAD LETTER", "CREATED")
			for _, q := range qs {
				if q.Cursor {
					t.row(q.Name, q.Stream, orDash(q.Filter), "cursor", "-", "-", "-", formatTime(q.CreatedAt))
					continue
				}
				t.row(q.Name, q.Stream, orDash(q.Filter), "acks", q.VisibilityTimeout.String(), maxReceivesText(q.MaxReceives),
					orDash(q.DeadLetterStream), formatTime(q.CreatedAt))
			}
			return t.flush()
		}
		t := newTable(w, "QUEUE", "STREAM", "KIND", "VISIBILITY", "MAX RECEIVES", "DEAD LETTER", "DELAY", "FIFO", "CREATED")
		for _, q := range qs {
			t.row(q.Name, q.Stream, kindText(q), q.VisibilityTimeout.String(), maxReceivesText(q.MaxReceives),
				orDash(q.DeadLetterStream), q.Delay.String(), yesNo(q.FIFO), formatTime(q.CreatedAt))
		}
		return t.flush()
	})
}

func queueDescribe(c *cli.Context) error {
	if err := checkArgs(c, "QUEUE"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		q, err := cl.DescribeQueue(ctx, name)
		if err != nil {
			return queueAdminError("queue", name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toQueueJSON(q))
		}
		return writeQueueDescription(envOf(c).stdout, q)
	})
}

// writeQueueDescription prints describe's summary and partition table.
func writeQueueDescription(w io.Writer, q client.QueueInfo) error {
	if q.Cursor {
		_, err := fmt.Fprintf(w, "subscription %s\ntopic %s, read through a cursor by consumer group %s, filter %s, created %s\n"+
			"(its position and lag: sluice group describe %s)\n", q.Name, q.Stream, q.Name, orDash(q.Filter),
			formatTime(q.CreatedAt), q.Name)
		return err
	}
	fmt.Fprintf(w, "%s %s\nstream %s, %s, filter %s, created %s\n\n", kindText(q), q.Name, q.Stream, deliveryText(q),
		orDash(q.Filter), formatTime(q.CreatedAt))
	t := newTable(w, "PARTITION", "FLOOR", "HIGH WATERMARK", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST")
	approx := false
	for _, p := range q.Partitions {
		oldest := "-"
		if !p.Oldest.IsZero() {
			oldest = ageText(time.Since(p.Oldest)) + " ago"
		}
		visible := offsetText(p.Visible)
		if p.Approximate {
			visible, approx = "~"+visible, true
		}
		t.row(strconv.Itoa(int(p.Partition)), offsetText(p.Floor), offsetText(p.HighWatermark), visible,
			offsetText(p.InFlight), offsetText(p.Delayed), oldest)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if approx {
		fmt.Fprintln(w, "~: the leader looked at the first 4 MiB of pending records and counted the rest as visible")
	}
	if q.DeadLetterStream != "" {
		var n int64
		known := true
		for _, p := range q.DeadLetter {
			if p.Messages < 0 {
				known = false
				continue
			}
			n += p.Messages
		}
		text := strconv.FormatInt(n, 10)
		if !known {
			text = "at least " + text + " (a partition's leader did not answer)"
		}
		fmt.Fprintf(w, "\ndead-lettered, not redriven: %s in stream %s\n", text, q.DeadLetterStream)
	}
	return nil
}

// ageText renders an age to the second (to the millisecond below one).
func ageText(d time.Duration) string {
	if d < time.Second {
		return max(d, 0).Truncate(time.Millisecond).String()
	}
	return d.Truncate(time.Second).String()
}

// deliveryText renders a queue's delivery settings on one line.
func deliveryText(q client.QueueInfo) string {
	s := fmt.Sprintf("visibility %v, max receives %s", q.VisibilityTimeout, maxReceivesText(q.MaxReceives))
	if q.DeadLetterStream != "" {
		s += ", dead letter " + q.DeadLetterStream
	}
	return s + fmt.Sprintf(", delay %v, fifo %s", q.Delay, yesNo(q.FIFO))
}

func kindText(q client.QueueInfo) string {
	if q.Subscription {
		return "subscription"
	}
	return "queue"
}

func maxReceivesText(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// queueJSON is a queue as -o json prints it; PartitionStats is
// describe's (-1: unknown).
type queueJSON struct {
	Name                string               `json:"name"`
	Stream              string               `json:"stream"`
	Subscription        bool                 `json:"subscription"`
	VisibilityTimeoutMs int64                `json:"visibility_timeout_ms"`
	MaxReceives         int                  `json:"max_receives"`
	DeadLetterStream    string               `json:"dead_letter_stream"`
	DelayMs             int64                `json:"delay_ms"`
	FIFO                bool                 `json:"fifo"`
	Filter              string               `json:"filter"`
	Cursor              bool                 `json:"cursor,omitempty"`
	CreatedAt           string               `json:"created_at,omitempty"`
	PartitionStats      []queuePartitionJSON `json:"partition_stats,omitempty"`
	DeadLetterStats     []deadLetterJSON     `json:"dead_letter_stats,omitempty"`
}

type queuePartitionJSON struct {
	Partition     int32  `json:"partition"`
	Floor         int64  `json:"floor"`
	HighWatermark int64  `json:"high_watermark"`
	Pending       int64  `json:"pending"`
	InFlight      int64  `json:"in_flight"`
	Visible       int64  `json:"visible"`
	Delayed       int64  `json:"delayed"`
	Oldest        string `json:"oldest,omitempty"`
	Approximate   bool   `json:"approximate,omitempty"`
}

type deadLetterJSON struct {
	Partition   int32 `json:"partition"`
	Messages    int64 `json:"messages"`
	Approximate bool  `json:"approximate,omitempty"`
}

func toQueueJSON(q client.QueueInfo) queueJSON {
	j := queueJSON{Name: q.Name, Stream: q.Stream, Subscription: q.Subscription,
		VisibilityTimeoutMs: q.VisibilityTimeout.Milliseconds(), MaxReceives: q.MaxReceives,
		DeadLetterStream: q.DeadLetterStream, DelayMs: q.Delay.Milliseconds(), FIFO: q.FIFO, Filter: q.Filter, Cursor: q.Cursor}
	if !q.CreatedAt.IsZero() {
		j.CreatedAt = q.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	for _, p := range q.Partitions {
		pj := queuePartitionJSON{Partition: p.Partition, Floor: p.Floor, HighWatermark: p.HighWatermark, Pending: p.Pending,
			InFlight: p.InFlight, Visible: p.Visible, Delayed: p.Delayed, Approximate: p.Approximate}
		if !p.Oldest.IsZero() {
			pj.Oldest = p.Oldest.UTC().Format(time.RFC3339Nano)
		}
		j.PartitionStats = append(j.PartitionStats, pj)
	}
	for _, p := range q.DeadLetter {
		j.DeadLetterStats = append(j.DeadLetterStats, deadLetterJSON(p))
	}
	return j
}
