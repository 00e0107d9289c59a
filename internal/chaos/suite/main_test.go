package suite

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicedb/sluice/internal/chaos/proccluster"
)

// binary is the sluice binary TestMain builds for the cluster's nodes.
var binary string

func TestMain(m *testing.M) {
	os.Exit(proccluster.RunTests(m, &binary, func() error { return goleak.Find() }))
}
