package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/localnats"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/server"
)

// Exit codes (documented in doc.go).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitNotFound    = 4
	exitExists      = 5
	exitRejected    = 6
	exitBusy        = 7
	exitInterrupted = 130
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errInterrupted reports that a signal stopped the command before it
// finished its work.
var errInterrupted = errors.New("interrupted")

// exitCode classifies err.
func exitCode(err error) int {
	var ue *usageError
	var ce cli.ExitCoder // urfave/cli's help: "No help topic for 'X'" (sluice help X)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &ce):
		return exitUsage
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.Is(err, server.ErrDataDirInUse), errors.Is(err, syscall.EADDRINUSE), errors.Is(err, client.ErrGroupNotEmpty),
		errors.Is(err, client.ErrStreamInUse):
		return exitBusy
	case errors.Is(err, server.ErrInvalidConfig), errors.Is(err, bench.ErrInvalidWorkload),
		errors.Is(err, bench.ErrUnsupported), errors.Is(err, localnats.ErrNoBinary):
		return exitUsage
	case errors.Is(err, client.ErrUnknownStream), errors.Is(err, client.ErrUnknownPartition),
		errors.Is(err, client.ErrUnknownGroup), errors.Is(err, client.ErrUnknownQueue):
		return exitNotFound
	case errors.Is(err, client.ErrStreamExists), errors.Is(err, client.ErrQueueExists):
		return exitExists
	case errors.Is(err, client.ErrRecordTooLarge), errors.Is(err, client.ErrInvalidArgument),
		errors.Is(err, client.ErrNotEnoughNodes), errors.Is(err, client.ErrInvalidBatch),
		errors.Is(err, client.ErrUnknownStrategy), errors.Is(err, client.ErrInconsistentStrategy),
		errors.Is(err, client.ErrInvalidReceipt), errors.Is(err, client.ErrDiskFull):
		return exitRejected
	case errors.Is(err, client.ErrUnreachable), errors.Is(err, client.ErrUnavailable),
		errors.Is(err, client.ErrNoLeader), errors.Is(err, client.ErrTimeout), errors.Is(err, client.ErrDeliveryTimeout),
		errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	return exitError
}

// errorLine renders err as the one line printed on stderr: "sluice: ..."
// with any newlines folded.
func errorLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if errors.Is(err, context.DeadlineExceeded) && !strings.Contains(msg, "timeout") {
		msg += " (no answer within --timeout)"
	}
	if !strings.HasPrefix(msg, "sluice") {
		msg = "sluice: " + msg
	}
	return msg
}

// listenError makes a failure to listen say which flag named the address.
func listenError(flagName, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("--%s %s: %w (another process listens there)", flagName, addr, syscall.EADDRINUSE)
	}
	return fmt.Errorf("--%s %s: %w", flagName, addr, err)
}

// plural returns "1 record" or "n records".
func plural[T int | int64](n T, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
