package queue_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/dsys-dev/dsys/queue"
)

// TestMain fails the package if a worker, client or broker leaks
// goroutines. Run with queue.CommandGuardArg, the test binary is a
// command guard, as the dsys binary is.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == queue.CommandGuardArg {
		if err := queue.RunCommandGuard(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
