package cmd

import (
	"fmt"
	"os"
	"testing"

	"github.com/dsys-dev/dsys/queue"
)

// TestMain makes the test binary a command guard when run as one (as a
// worker running in a test starts it: /proc/self/exe is this binary).
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == queue.CommandGuardArg {
		if err := queue.RunCommandGuard(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(ExitUsage)
		}
		os.Exit(ExitOK)
	}
	os.Exit(m.Run())
}
