package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env carries the process's streams to the commands (tests run the app in
// process with their own).
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// envKey is the context key of the env.
type envKey struct{}

func envOf(c *cli.Context) env {
	if e, ok := c.Context.Value(envKey{}).(env); ok {
		return e
	}
	return env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
}

// run runs the command line args and returns the exit code. ctx ends on
// SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	ctx = context.WithValue(ctx, envKey{}, env{stdin: stdin, stdout: stdout, stderr: stderr})
	err := app.RunContext(ctx, reorderArgs(app, args))
	if err != nil {
		fmt.Fprintln(stderr, errorLine(err))
	}
	return exitCode(err)
}

// newApp builds the command tree.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "sluice",
		Usage: "a Raft-replicated partitioned stream store",
		Description: "Client commands reach the cluster at --server or $SLUICE_SERVER (default 127.0.0.1:7070).\n" +
			"Flags may follow arguments. Exit codes: 0 ok, 1 error, 2 usage, 3 cluster unreachable,\n" +
			"4 not found, 5 already exists, 6 rejected by the cluster, 7 busy (data dir or port in use,\n" +
			"consumer group has live members, stream used by a queue), 130 interrupted.",
		Version:              "dev",
		EnableBashCompletion: true,
		// Slice flags (--header, --bootstrap, --partition) repeat; commas
		// are split where they separate values (not in header values).
		DisableSliceFlagSeparator: true,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		// Errors are printed by run, once, and turned into exit codes there.
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         groupAction,
		Commands: []*cli.Command{
			serverCommand(),
			repairCommand(),
			devCommand(),
			clusterCommand(),
			streamCommand(),
			produceCommand(),
			consumeCommand(),
			groupCommand(),
			queueCommand(),
			topicCommand(),
			benchCommand(),
			completionCommand(),
		},
	}
	setUsageErrors(app.Commands)
	app.OnUsageError = onUsageError
	return app
}

// groupAction runs a command that only groups others: with no argument it
// shows its help, with one it reports the unknown command.
func groupAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unknown command %q (see %s --help)", c.Args().First(), commandPath(c))
	}
	return cli.ShowSubcommandHelp(c)
}

func commandPath(c *cli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" {
		return c.Command.HelpName
	}
	return c.App.Name
}

// onUsageError turns urfave/cli's flag errors into usage errors.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usagef("%s: %v (see %s --help)", commandPath(c), err, commandPath(c))
}

func setUsageErrors(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.OnUsageError = onUsageError
		if len(cmd.Subcommands) > 0 && cmd.Action == nil {
			cmd.Action = groupAction
		}
		setUsageErrors(cmd.Subcommands)
	}
}

// checkArgs requires exactly the named positional arguments.
func checkArgs(c *cli.Context, names ...string) error {
	if c.NArg() < len(names) {
		return usagef("%s: missing argument %s", commandPath(c), names[c.NArg()])
	}
	if c.NArg() > len(names) {
		return usagef("%s: unexpected argument %q", commandPath(c), c.Args().Get(len(names)))
	}
	return nil
}
