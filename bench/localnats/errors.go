package localnats

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoBinary is matched (with errors.Is) by the error FindBinary returns
// when no nats-server binary can be found.
var ErrNoBinary = errors.New("localnats: no nats-server binary")

// installHint tells a user how to get the binary.
const installHint = "install it with bench/install-nats-server.sh (or set SLUICE_NATS_SERVER to a nats-server " +
	Version + " binary)"

// NoBinaryError lists where FindBinary looked. It matches ErrNoBinary.
type NoBinaryError struct {
	// Tried holds the places searched, in order, each with the reason it
	// was rejected.
	Tried []string
}

func (e *NoBinaryError) Error() string {
	return fmt.Sprintf("localnats: nats-server not found (tried %s): %s", strings.Join(e.Tried, "; "), installHint)
}

// Is reports whether target is ErrNoBinary.
func (e *NoBinaryError) Is(target error) bool { return target == ErrNoBinary }

// StartError is returned by Start when a node did not start or the cluster
// did not become ready in time.
type StartError struct {
	// Node is the name of the node that failed (such as "nats-1").
	Node string
	// LogTail is the end of the node's log file.
	LogTail string
	// Err is the cause.
	Err error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("localnats: node %s: %v\n--- end of %s log ---\n%s", e.Node, e.Err, e.Node, e.LogTail)
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }
