//go:build !unix

package queue

import (
	"errors"
	"io"
	"os/exec"
)

// procGroup is nothing here: a command is one process, killed alone.
type procGroup struct{}

func startGroup(CommandOptions) (*procGroup, error) { return &procGroup{}, nil }

func (*procGroup) prepare(*exec.Cmd) {}

func (*procGroup) run(cmd *exec.Cmd, started func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	return cmd.Wait()
}

func (*procGroup) signal(cmd *exec.Cmd, _ int) error { return cmd.Process.Kill() }

func (*procGroup) kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func (*procGroup) close() {}

// RunCommandGuard is for Linux only.
func RunCommandGuard(io.Reader, io.Writer) error {
	return errors.New("queue: the command guard runs on Linux only")
}
