package netproxy

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed reports use of a closed Proxy or Mesh.
	ErrClosed = errors.New("netproxy: closed")

	// ErrInvalid reports an invalid argument: a missing or malformed
	// address, a negative delay, an unknown Fault, an empty node id or port
	// kind, a node in both groups of a Split. The error says which.
	ErrInvalid = errors.New("netproxy: invalid argument")

	// ErrUnknownNode reports a Mesh call naming a node the mesh does not
	// have, or a port kind the named node does not have.
	ErrUnknownNode = errors.New("netproxy: unknown node or port kind")

	// ErrDial reports a connection the proxy could not forward because
	// dialing its target failed (refused, timed out, no route). The client's
	// connection is reset. Match with errors.Is; errors.As with *DialError
	// gives the proxy and the target. State.LastDialError holds the latest.
	ErrDial = errors.New("netproxy: dial target")
)

// DialError is a failed dial of a proxy's target. It matches ErrDial and
// unwraps to the dialer's error.
type DialError struct {
	Proxy  string // the proxy's name (Config.Name), or its listen address
	Target string
	Err    error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("netproxy: %s: dial target %s: %v", e.Proxy, e.Target, e.Err)
}

// Is reports whether target is ErrDial.
func (e *DialError) Is(target error) bool { return target == ErrDial }

// Unwrap returns the dialer's error.
func (e *DialError) Unwrap() error { return e.Err }
