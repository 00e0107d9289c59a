package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the flag urfave/cli appends to ask for completions.
const completionFlag = "--generate-bash-completion"

// reorderArgs returns args with the flags of the command they invoke moved
// in front of its positional arguments, so that "stream create NAME
// --partitions 6" parses as "stream create --partitions 6 NAME"
// (urfave/cli/v2 stops parsing flags at the first positional argument).
// A flag that takes a value keeps the word after it. After "--" every word
// is positional. Args of an unknown command, and completion requests, are
// returned as they are.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == completionFlag {
		return args
	}
	out := []string{args[0]}
	cmds, flags := app.Commands, app.Flags
	var leaf *cli.Command
	i := 1
	for i < len(args) {
		a := args[i]
		if isFlagWord(a) {
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			return args // "--", a positional of the app, or an unknown command
		}
		out = append(out, a)
		i++
		leaf, cmds, flags = cmd, cmd.Subcommands, cmd.Flags
		if len(cmd.Subcommands) == 0 {
			break
		}
	}
	if leaf == nil || len(leaf.Subcommands) > 0 {
		return args
	}
	var pos []string
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case isFlagWord(a):
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	for _, p := range pos {
		if isFlagWord(p) || p == "--" {
			out = append(out, "--")
			break
		}
	}
	return append(out, pos...)
}

// isFlagWord reports whether a looks like a flag ("-" alone is a
// positional argument: standard input, by convention).
func isFlagWord(a string) bool {
	return len(a) > 1 && a[0] == '-' && a != "--"
}

// takesValue reports whether the flag word a (such as "--key" or "-o")
// names a flag of flags that needs the next word as its value. A word with
// "=" carries its value; an unknown flag is taken as boolean (urfave/cli
// reports it).
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if v, ok := f.(interface{ TakesValue() bool }); ok {
				return v.TakesValue()
			}
			return false
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
