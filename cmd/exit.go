package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/dsys-dev/dsys/config"
)

// Exit codes, as documented in `dsys --help` and the README.
const (
	ExitOK          = 0   // success; also a long-running command stopped cleanly by SIGTERM
	ExitFailure     = 1   // runtime failure (a task failed, a peer sent an error)
	ExitUsage       = 2   // bad usage, configuration or input
	ExitUnavailable = 3   // timeout, or unreachable peer or broker
	ExitInterrupted = 130 // SIGINT, or SIGTERM of a command that is not long-running
	ExitBrokenPipe  = 141 // stdout closed by its reader (128+SIGPIPE, as `seq | head` reports)
)

const exitCodesHelp = `Exit codes:
  0    success (a worker, server or proxy stopped by SIGTERM too)
  1    runtime failure
  2    usage, configuration or input error
  3    timeout, or unreachable peer or broker
  130  interrupted (SIGINT; SIGTERM of other commands)
  141  stdout was closed by its reader (as with 'dsys ... | head')`

// exitError attaches an exit code to an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode classifies err; nil stays nil.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf is a usage or input error (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode maps an error to the exit code it documents. interrupted tells
// whether a signal cancelled the run.
func exitCode(err error, interrupted bool) int {
	if err == nil {
		return ExitOK
	}
	if interrupted && errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if interrupted {
		return ExitInterrupted
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return ExitUsage
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ExitUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ExitUnavailable
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return ExitUnavailable
	}
	return ExitFailure
}
