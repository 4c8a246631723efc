package cluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a worker, client or marker check leaks
// goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
