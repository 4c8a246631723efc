//go:build unix

package redis_test

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own, so that signals reach
// its children too (Celery's prefork pool).
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// signalGroup signals cmd's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }
