// Command sluice runs Sluice nodes and talks to a Sluice cluster.
//
//	sluice server --id n1 --data-dir /var/lib/sluice --bootstrap n1=h1:7170/h1:7070,...
//	sluice repair --data-dir DIR [--dry-run]      (on a stopped node: reset damaged replicas)
//	sluice dev [--nodes 3] [--dir D] [--keep]
//	sluice cluster status
//	sluice stream create|list|describe|delete|alter ...
//	sluice produce STREAM [--key K] [--value V] [--header k=v] [--format text|json]
//	sluice consume STREAM [--from earliest|latest|OFFSET|TIME] [--follow] [--max N]
//	sluice consume STREAM --group G [--from earliest|latest] [--max N] [--idle-timeout D]
//	               [--strategy S] [--instance-id ID]
//	sluice group list|describe G|delete G
//	sluice group reset-offsets G --stream S --to earliest|latest|OFFSET|TIME [--partition P,...]
//	sluice queue create Q [--stream S] [--partitions N] [--visibility D] [--max-receives N --dead-letter S]
//	             [--delay D] [--fifo] [--filter JSON]
//	sluice queue list|describe Q|delete Q|purge Q
//	sluice queue send Q [--key K] [--delay D] [--header k=v]... [VALUE]
//	sluice queue receive Q [--max N] [--wait D] [--ack]
//	sluice queue ack|nack [--delay D]|extend --visibility D Q [PARTITION:RECEIPT...]
//	sluice topic create T [--partitions N]
//	sluice topic subscribe T SUB [--filter JSON] [--visibility D] ...
//	sluice topic unsubscribe SUB | subscriptions [T] | publish T ... | receive SUB ...
//	sluice completion bash|zsh
//
// # Configuration
//
// Client commands find the cluster with --server host:port[,host:port...]
// or SLUICE_SERVER (default 127.0.0.1:7070); the client learns the other
// nodes from the one that answers. Every command takes -o text|json:
// tables and short lines for people, JSON for scripts (one object, or one
// object per line for records).
//
// sluice server reads each flag from the command line, else from the
// environment (SLUICE_ and the flag name in upper case with - as _, such
// as SLUICE_DATA_DIR), else from the TOML file --config names (keys are the
// flag names: data-dir = "/var/lib/sluice", bootstrap = ["n1=...", ...],
// heartbeat-timeout = "500ms"), else the default. Unknown keys in the file
// are an error.
//
// Flags may follow positional arguments (sluice stream create orders
// --partitions 6): reorderArgs moves them in front before urfave/cli
// parses, since it stops at the first positional argument. After "--"
// everything is positional.
//
// # Exit codes
//
//	0  success
//	1  any other error
//	2  usage: unknown command or flag, bad flag value, missing argument
//	3  the cluster is unreachable or not answering (no leader, timed out,
//	   records not acknowledged within --timeout)
//	4  not found: unknown stream, partition, consumer group, queue or
//	   subscription
//	5  already exists: the stream, queue or subscription name is taken
//	6  rejected by the cluster: invalid request, record too large, not
//	   enough nodes for the replication factor, unknown or inconsistent
//	   assignment strategy (consume --group --strategy), invalid receipt
//	   (queue ack|nack|extend: the lease ended or was replaced, or the
//	   partition's leader changed), disk full (the partition leader's free
//	   space is below its --min-free-space)
//	7  busy: the data directory is in use by another process, a listen
//	   address is taken, a consumer group has live members (group
//	   reset-offsets, group delete), or a queue uses the stream (stream
//	   delete)
//	130 interrupted (Ctrl-C) before the work was done
//
// Errors are one line on stderr. A consume --group that goes on after a
// failed commit (its partitions moved to another member meanwhile) warns
// on stderr with a line starting "sluice: warning:".
//
// # Consumer groups
//
// sluice consume STREAM --group G reads as a member of consumer group G
// (client.GroupConsumer): the group's coordinator assigns the partitions
// (--strategy, default cooperative-sticky; --instance-id makes a static
// member, which stays in the group for its session timeout after it exits
// so that a restart keeps its partitions). A partition starts at the
// group's committed offset, or where --from says when the group has none
// (earliest, the default, or latest; an offset or a time is refused: move
// the group's offsets with sluice group reset-offsets). --partition is
// refused: the group assigns the partitions.
//
// Commits are manual and at-least-once: after each batch is written to
// stdout and flushed, the offset after its last record of each partition
// is committed; before a partition is released in a rebalance, and on
// exit (Ctrl-C, --max, --idle-timeout, an error), what was printed and not
// committed yet is. With --max N it stops after the Nth record and commits
// exactly up to it, so consecutive runs read a stream once, with neither
// gap nor repeat. A record is printed again only when the process dies
// (SIGKILL, broken pipe), loses its partitions between printing and
// committing, or a commit fails.
//
// Like kafka-console-consumer --group, a group consume follows: it runs
// until Ctrl-C (exit 0) or --max; --idle-timeout D stops it (exit 0)
// once D passed with no record, counted from the last record or the last
// assignment. There is no "end of the log" stop without --idle-timeout:
// the partitions a member gets can change while it runs. Ctrl-C before
// --max is reached exits 130, as plain consume does.
//
// sluice group list and describe show the groups, members (assigned and
// owned partitions) and, per partition, the committed offset, high
// watermark and lag ("-": nothing committed). reset-offsets and delete
// are refused while the group has members (exit 7): stop them, or wait
// for their session timeout (10s). An unknown group exits 4.
//
// # Queues and topics
//
// A queue is an SQS-style view over a stream (client.CreateQueue): each
// record of the stream is a message, received with a lease for the
// visibility timeout and deleted by an ack; a message not acked in time,
// or whose partition's leader changes, is delivered again (at least
// once). sluice queue create Q makes the stream Q too (--partitions,
// default 1); --stream S views an existing stream instead (several
// queues may view one stream, each with its own acks; with --partitions
// S is created when missing). --max-receives N sends a message received
// N times to the --dead-letter stream at its next receive. A stream that
// a queue views or dead-letters to cannot be deleted while the queue
// exists (exit 7).
//
// queue send produces to the queue's stream: VALUE, or each line of
// standard input (sent in chunks; lines typed at a terminal go at once);
// --delay sets the sluice-delay-ms header. queue receive leases up to
// --max messages across the partitions, waiting up to --wait (at most
// 20s) for one when there is none, and prints each as a consumed record
// preceded by receipt=PARTITION:RECEIPT and receives=N (-o json: the
// fields receipt and receive_count). A receipt is valid on its partition
// only, hence the token. queue ack|nack|extend Q take tokens as
// arguments or, with none, whitespace-separated on standard input:
//
//	sluice queue receive jobs --max 10 -o json | jq -r .receipt | sluice queue ack jobs
//
// --ack acks what receive printed, once it is written. A token that
// failed is reported on stderr (the first, and how many) and the command
// exits 6 for an expired or replaced lease; the others were settled.
//
// A topic is a stream (topic create, topic publish = produce); topic
// subscribe T SUB creates queue SUB over T marked as a subscription,
// with an optional SNS-style filter policy over the record key and
// headers ({"headers.type": ["order"], "key": [{"prefix": "eu-"}]}).
// topic receive SUB is queue receive; ack with sluice queue ack SUB.
// topic unsubscribe deletes only subscriptions; topic subscriptions [T]
// lists them.
//
// # sluice dev
//
// sluice dev starts N node processes (this executable, "server") on
// loopback with their data under D/nX/data, each logging to D/nX/node.log,
// and waits until every node's /readyz answers 200. It prints for each
// node a line
//
//	node n1 pid 4242 client 127.0.0.1:7070 raft 127.0.0.1:40123 http 127.0.0.1:40124
//
// and the command line that restarts it (also in D/nX/cmdline, one line
// for sh), then "sluice dev: ready". A node that exits is reported (a line
// starting "sluice dev: node nX (pid P) exited") and not restarted; the
// others keep running. SIGINT or SIGTERM stops every node: SIGTERM, then
// SIGKILL after --stop-timeout. The ports of a cluster are kept in
// D/dev.json, so sluice dev --dir D starts the same cluster again.
package main
