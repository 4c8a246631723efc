//go:build !unix

package compute

import (
	"context"
	"os"
)

// openRead opens path for reading (there are no FIFOs to wait on here).
func openRead(ctx context.Context, path string) (*os.File, error) {
	return openFile(ctx, path, os.O_RDONLY, 0)
}

// openFile is os.OpenFile.
func openFile(_ context.Context, path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}
