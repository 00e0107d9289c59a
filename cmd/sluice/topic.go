package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/client"
)

func topicCommand() *cli.Command {
	publish := produceCommand()
	publish.Name, publish.Usage, publish.ArgsUsage = "publish", "publish records to a topic (as sluice produce)", "TOPIC"
	publish.Action = func(c *cli.Context) error {
		if err := checkArgs(c, "TOPIC"); err != nil {
			return err
		}
		return produce(c)
	}
	return &cli.Command{
		Name:  "topic",
		Usage: "SNS-style topics: a stream with subscriptions, each a filtered queue",
		Description: "A topic is a stream; a subscription is a queue over it (sluice queue ... works on it too)\n" +
			"with an optional SNS-style filter policy over the records' keys and headers. Every\n" +
			"subscription gets each published record its filter accepts, and acks it on its own:\n" +
			"receive with sluice topic receive SUB, ack with sluice queue ack SUB PARTITION:RECEIPT...\n" +
			"A --cursor subscription is read in order instead, Kafka-style, by the consumer group of its\n" +
			"name: sluice consume TOPIC --group SUB (the server applies the filter).",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a topic (a stream)", ArgsUsage: "TOPIC",
				Flags: clientFlags(
					&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Value: 1, Usage: "number of partitions"},
					&cli.IntFlag{Name: "replicas", Aliases: []string{"r"},
						Usage: "replication factor (default: 3, or the number of nodes when fewer)"},
					&cli.StringFlag{Name: "retention", Usage: "keep records this `long` (7d, 36h; 0: unlimited)"},
				),
				Action: topicCreate,
			},
			{
				Name: "subscribe", Usage: "add a subscription (a queue over the topic)", ArgsUsage: "TOPIC SUBSCRIPTION",
				Flags: clientFlags(append(deliveryFlags(),
					&cli.StringFlag{Name: "filter", Usage: "deliver only the records an SNS-style filter `POLICY` (JSON) accepts"},
					&cli.BoolFlag{Name: "cursor", Usage: "read in order through the consumer group SUBSCRIPTION " +
						"(sluice consume TOPIC --group SUBSCRIPTION) instead of per-message acks"},
				)...),
				Action: topicSubscribe,
			},
			{Name: "unsubscribe", Usage: "delete a subscription", ArgsUsage: "SUBSCRIPTION",
				Flags: clientFlags(), Action: topicUnsubscribe},
			{Name: "subscriptions", Usage: "list the subscriptions (of TOPIC)", ArgsUsage: "[TOPIC]",
				Flags: clientFlags(), Action: topicSubscriptions},
			publish,
			queueReceiveCommand("SUBSCRIPTION"),
		},
	}
}

func topicCreate(c *cli.Context) error {
	if err := checkArgs(c, "TOPIC"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	cfg := client.StreamConfig{Name: c.Args().First(), Partitions: c.Int("partitions"), ReplicationFactor: c.Int("replicas")}
	if err := checkStreamSize(cfg.Partitions, cfg.ReplicationFactor); err != nil {
		return err
	}
	if c.IsSet("retention") {
		if cfg.Retention, err = parseRetention(c.String("retention")); err != nil {
			return usagef("--retention: %v", err)
		}
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		s, err := cl.CreateStream(ctx, cfg)
		if err != nil {
			if errors.Is(err, client.ErrStreamExists) {
				return &queueError{msg: fmt.Sprintf("topic %q already exists (topics are streams)", cfg.Name), err: err}
			}
			return err
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toStreamJSON(s))
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "created topic %s: %s, replication factor %d, retention %s\n",
			s.Name, plural(len(s.Partitions), "partition"), s.ReplicationFactor, formatRetention(s.Retention))
		return err
	})
}

func topicSubscribe(c *cli.Context) error {
	if err := checkArgs(c, "TOPIC", "SUBSCRIPTION"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	cfg := client.QueueConfig{Stream: c.Args().Get(0), Name: c.Args().Get(1), Subscription: true, Cursor: c.Bool("cursor")}
	if cfg.Cursor {
		for _, f := range []string{"visibility", "max-receives", "dead-letter", "delay", "fifo"} {
			if c.IsSet(f) {
				return usagef("--cursor does not go with --%s: a cursor subscription is read in order by its consumer group, "+
					"with no per-message delivery settings", f)
			}
		}
	}
	if err := parseDelivery(c, &cfg); err != nil {
		return err
	}
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		q, err := cl.CreateQueue(ctx, cfg)
		if errors.Is(err, client.ErrUnknownStream) {
			return &queueError{msg: fmt.Sprintf("unknown topic %q (or dead-letter stream %q)", cfg.Stream, cfg.DeadLetterStream), err: err}
		}
		if err != nil {
			return queueAdminError("subscription", cfg.Name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, toQueueJSON(q))
		}
		if q.Cursor {
			_, err = fmt.Fprintf(envOf(c).stdout, "subscribed %s to topic %s: filter %s, cursor: sluice consume %s --group %s\n",
				q.Name, q.Stream, orDash(q.Filter), q.Stream, q.Name)
			return err
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "subscribed %s to topic %s: filter %s, %s\n", q.Name, q.Stream, orDash(q.Filter),
			deliveryText(q))
		return err
	})
}

func topicUnsubscribe(c *cli.Context) error {
	if err := checkArgs(c, "SUBSCRIPTION"); err != nil {
		return err
	}
	out, err := outputFormat(c)
	if err != nil {
		return err
	}
	name := c.Args().First()
	return adminCall(c, func(ctx context.Context, cl *client.Client) error {
		all, err := cl.ListQueues(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(q client.QueueInfo) bool { return q.Name == name })
		switch {
		case i < 0:
			return &queueError{msg: fmt.Sprintf("unknown subscription %q", name), err: client.ErrUnknownQueue}
		case !all[i].Subscription:
			return &queueError{msg: fmt.Sprintf("%q is a queue, not a subscription (sluice queue delete removes it)", name),
				err: client.ErrUnknownQueue}
		}
		q := all[i]
		if err := cl.DeleteQueue(ctx, name); err != nil {
			return queueAdminError("subscription", name, err)
		}
		if out == "json" {
			return writeJSON(envOf(c).stdout, map[string]string{"unsubscribed": name, "topic": q.Stream})
		}
		_, err = fmt.Fprintf(envOf(c).stdout, "unsubscribed %s from topic %s\n", name, q.Stream)
		return err
	})
}

func topicSubscriptions(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("%s: unexpected argument %q", commandPath(c), c.Args().Get(1))
	}
	return listQueues(c, true, c.Args().First())
}
