//go:build linux

package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// procGroup is the process group a command runs in, tied to the worker's
// life twice over. The command gets SIGKILL when the thread that started it
// exits (Pdeathsig), and that thread is locked to the command's goroutine
// until the command ends, so it exits only with the worker. Pdeathsig
// reaches the command alone, not what it started; so with a guard
// (CommandOptions.Guard) the group's leader is the guard, a process that
// waits for EOF on a pipe from the worker and then kills its whole group,
// itself included. The kernel closes the pipe however the worker dies.
type procGroup struct {
	guard *exec.Cmd
	stdin io.Closer // the guard's; EOF tells it to kill the group
}

// startGroup starts the guard, if there is one, and waits until it is
// ready (it ignores the signals a terminate sends the group).
func startGroup(opts CommandOptions) (*procGroup, error) {
	if len(opts.Guard) == 0 {
		return &procGroup{}, nil
	}
	g := exec.Command(opts.Guard[0], opts.Guard[1:]...)
	g.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := g.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("queue: command guard: %w", err)
	}
	ready, err := g.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("queue: command guard: %w", err)
	}
	if err := g.Start(); err != nil {
		return nil, fmt.Errorf("queue: command guard: %w", err)
	}
	got := make([]byte, len(guardReady))
	if _, err := io.ReadFull(ready, got); err != nil || string(got) != guardReady {
		_ = stdin.Close()
		_ = g.Process.Kill()
		_ = g.Wait()
		return nil, fmt.Errorf("queue: command guard %s did not say it was ready (it said %q)", g.Path, got)
	}
	return &procGroup{guard: g, stdin: stdin}, nil
}

func (g *procGroup) prepare(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if g.guard != nil {
		attr.Pgid = g.guard.Process.Pid
	}
	cmd.SysProcAttr = attr
}

// run runs cmd on a thread locked to it: Pdeathsig fires when the thread
// that forked the command exits, which a locked thread does only when its
// goroutine exits locked, that is never before the command ends.
func (g *procGroup) run(cmd *exec.Cmd, started func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	return cmd.Wait()
}

func (g *procGroup) pgid(cmd *exec.Cmd) int {
	if g.guard != nil {
		return g.guard.Process.Pid
	}
	return cmd.Process.Pid
}

// signal sends sig (SIGTERM, or the signal of a remote terminate) to the
// group, which the guard ignores; exec.Cmd sends SIGKILL to the command
// after WaitDelay.
func (g *procGroup) signal(cmd *exec.Cmd, sig int) error {
	return syscall.Kill(-g.pgid(cmd), syscall.Signal(sig))
}

// kill makes sure nothing of the group survives.
func (g *procGroup) kill(cmd *exec.Cmd) {
	if cmd.Process != nil || g.guard != nil {
		_ = syscall.Kill(-g.pgid(cmd), syscall.SIGKILL)
	}
}

// close ends the guard once the command has ended and its group was
// killed (kill): the guard holds the group's id, so that kill cannot reach
// another group. Without a guard the id is the reaped command's, which the
// kernel could in theory have given to a new group in between.
func (g *procGroup) close() {
	if g.guard == nil {
		return
	}
	_ = syscall.Kill(-g.guard.Process.Pid, syscall.SIGKILL)
	_ = g.stdin.Close()
	_ = g.guard.Wait()
}

// guardSignals are those a terminate may send a command's group; the
// guard outlives them (SIGKILL it cannot).
var guardSignals = []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTSTP, syscall.SIGTTIN,
	syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM, syscall.SIGPROF}

// guardReady is what a guard says once it ignores the signals: a program
// that is no guard (a wrong Guard argv) fails the command instead of
// leading its group.
const guardReady = "dsys command guard ready\n"

// RunCommandGuard is the guard's program (CommandOptions.Guard): it
// ignores the signals a terminate sends its group, says it is ready on
// ready, waits for EOF on in, then kills its process group,
// itself included. It refuses to run unless it leads its group, as the
// worker starts it, so that it never kills a group it does not lead (a
// worker's, a shell pipeline's).
func RunCommandGuard(in io.Reader, ready io.Writer) error {
	if syscall.Getpgrp() != os.Getpid() {
		return errors.New("queue: the command guard runs only as a worker starts it")
	}
	signal.Ignore(guardSignals...)
	if _, err := io.WriteString(ready, guardReady); err != nil {
		return fmt.Errorf("queue: command guard: %w", err)
	}
	_, _ = io.Copy(io.Discard, in)
	return syscall.Kill(0, syscall.SIGKILL)
}
