package partition

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// raft groups of the snapshot store tests and every Pebble must be shut
// down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
