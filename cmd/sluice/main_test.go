package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// sluice dev and sluice bench compare start nodes by running their own
	// executable with "server ...". Run from a test, that executable is
	// this test binary, which would run every test again (starting more
	// nodes each time): refuse instead.
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintf(os.Stderr, "cmd/sluice test binary started as a command (%s): tests must run the built sluice binary\n",
			strings.Join(os.Args[1:], " "))
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}
