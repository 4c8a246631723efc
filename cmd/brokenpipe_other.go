//go:build !unix && !windows

package cmd

// notifySIGPIPE: nothing to do where there is no SIGPIPE.
func notifySIGPIPE() {}

// isBrokenPipe: a closed stdout is not told apart here; it fails the command.
func isBrokenPipe(error) bool { return false }
