//go:build unix

package control

import "golang.org/x/sys/unix"

// signalByName is the number of a signal named like "SIGTERM", 0 if none.
func signalByName(name string) int { return int(unix.SignalNum(name)) }
