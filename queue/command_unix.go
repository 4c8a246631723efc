//go:build unix

package queue

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the command in its own process group so a time limit
// stops everything it started.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminate asks the command's process group to stop with sig (SIGTERM,
// or the signal of a remote terminate); exec.Cmd sends SIGKILL to the
// leader after WaitDelay.
func terminate(cmd *exec.Cmd, sig int) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.Signal(sig))
}

// killGroup makes sure nothing of the group survives.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
