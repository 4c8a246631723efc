//go:build unix

package cmd

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// notifySIGPIPE keeps the Go runtime from killing the process when a write
// to stdout or stderr meets a closed pipe: the write fails with EPIPE
// instead. Notify, unlike Ignore, leaves SIGPIPE at its default in the
// commands dsys runs (serve --exec, command tasks). The channel is never
// read: SIGPIPE from a broken socket is the socket's error to report.
func notifySIGPIPE() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// isBrokenPipe reports whether a write failed because its reader went away.
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
