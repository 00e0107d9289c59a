// Command sluice runs Sluice nodes and talks to a Sluice cluster.
//
//	sluice server --id n1 --data-dir /var/lib/sluice --bootstrap n1=h1:7170/h1:7070,...
//	sluice dev [--nodes 3] [--dir D] [--keep]
//	sluice cluster status
//	sluice stream create|list|describe|delete|alter ...
//	sluice produce STREAM [--key K] [--value V] [--header k=v] [--format text|json]
//	sluice consume STREAM [--from earliest|latest|OFFSET|TIME] [--follow] [--max N]
//	sluice consume STREAM --group G [--from earliest|latest] [--max N] [--idle-timeout D]
//	               [--strategy S] [--instance-id ID]
//	sluice group list|describe G|delete G
//	sluice group reset-offsets G --stream S --to earliest|latest|OFFSET|TIME [--partition P,...]
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
//	4  not found: unknown stream, partition or consumer group
//	5  already exists: the stream name is taken
//	6  rejected by the cluster: invalid request, record too large, not
//	   enough nodes for the replication factor, unknown or inconsistent
//	   assignment strategy (consume --group --strategy)
//	7  busy: the data directory is in use by another process, a listen
//	   address is taken, or a consumer group has live members (group
//	   reset-offsets, group delete)
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
