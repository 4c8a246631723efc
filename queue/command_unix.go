//go:build unix && !linux

package queue

import (
	"errors"
	"io"
	"os/exec"
	"syscall"
)

// procGroup is the command's own process group, so that a time limit or
// a terminate stops everything it started. Nothing here ties it to the
// worker's life (see command_linux.go).
type procGroup struct{}

func startGroup(CommandOptions) (*procGroup, error) { return &procGroup{}, nil }

func (*procGroup) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func (*procGroup) run(cmd *exec.Cmd, started func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	return cmd.Wait()
}

// signal sends sig (SIGTERM, or the signal of a remote terminate) to the
// group; exec.Cmd sends SIGKILL to the leader after WaitDelay.
func (*procGroup) signal(cmd *exec.Cmd, sig int) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.Signal(sig))
}

// kill makes sure nothing of the group survives.
func (*procGroup) kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func (*procGroup) close() {}

// RunCommandGuard is for Linux only.
func RunCommandGuard(io.Reader, io.Writer) error {
	return errors.New("queue: the command guard runs on Linux only")
}
