package cmd

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// notifySIGPIPE: Windows has no SIGPIPE; a write to a closed pipe just fails.
func notifySIGPIPE() {}

// isBrokenPipe reports whether a write failed because its reader went away.
func isBrokenPipe(err error) bool {
	return errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_NO_DATA) || errors.Is(err, syscall.EPIPE)
}
