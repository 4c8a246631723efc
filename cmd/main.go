package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/queue"
)

// Main runs dsys with the process's arguments and streams and returns the
// exit code. SIGINT or SIGTERM cancels the run's context, and a second
// signal kills the process at once; a stdout whose reader went away cancels
// it too (see Run).
func Main() int {
	if len(os.Args) == 2 && os.Args[1] == queue.CommandGuardArg {
		// A worker's command guard (see queue.CommandOptions.Guard).
		if err := queue.RunCommandGuard(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "dsys:", err)
			return ExitUsage
		}
		return ExitOK
	}
	// Without this, Go kills a process whose write to a closed stdout fails;
	// with it the write fails with EPIPE, which Run turns into a cancel.
	notifySIGPIPE()
	ctx, stop := notifyInterrupt(context.Background())
	defer stop()
	return Run(ctx, os.Args[1:], stdio())
}

// interrupt is the cause of a run cancelled by a signal.
type interrupt struct{ sig os.Signal }

func (i *interrupt) Error() string { return "interrupted by " + i.sig.String() }

// notifyInterrupt returns a context that the first SIGINT or SIGTERM
// cancels, with an *interrupt as its cause. The signal's default action is
// restored once it arrived, so a second one kills the process at once.
func notifyInterrupt(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(&interrupt{sig: s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// errBrokenPipe is the cause of a run cancelled because its stdout was
// closed by the reader (`dsys … | head -1`).
var errBrokenPipe = errors.New("stdout closed by its reader")

// brokenPipeGuard passes writes to stdout through; the first write that
// fails because the reader went away cancels the run, so that the command
// stops and cleans up as on an interrupt, then exits quietly.
type brokenPipeGuard struct {
	w      io.Writer
	broken func()
}

func (g *brokenPipeGuard) Write(p []byte) (int, error) {
	n, err := g.w.Write(p)
	if err != nil && isBrokenPipe(err) {
		g.broken()
	}
	return n, err
}

// Run executes one dsys command line and returns its exit code; the final
// error, if any, is printed on ErrOut (as {"error": ...} under -o json).
// A cancelled ctx stands for an interrupt, and its cause, when it is a
// SIGTERM, lets a long-running command exit 0. A write to Out that fails
// with a broken pipe cancels the run and makes it exit 141, silently.
func Run(ctx context.Context, args []string, streams IOStreams) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	streams.Out = &brokenPipeGuard{w: streams.Out, broken: func() { cancel(errBrokenPipe) }}
	app := &App{IO: streams}
	return execute(ctx, app, newRootCmd(app), args)
}

// execute runs root for app and maps the outcome to an exit code.
func execute(ctx context.Context, app *App, root *cobra.Command, args []string) int {
	streams := app.IO
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	c, err := root.ExecuteContextC(ctx)
	cause := context.Cause(ctx)
	if errors.Is(cause, errBrokenPipe) {
		return ExitBrokenPipe // as `seq 1000 | head -1`: the reader has what it wanted
	}
	var intr *interrupt
	if errors.As(cause, &intr) && intr.sig == syscall.SIGTERM && c != nil && c.Annotations[annotLongRunning] == "true" &&
		(err == nil || errors.Is(err, context.Canceled)) {
		return ExitOK // a service asked to stop, and stopped cleanly
	}
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if !app.started && !errors.As(err, &ee) {
		// Flag parsing, argument validation and unknown commands fail
		// before the command starts: all usage errors.
		err = withExitCode(ExitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	}
	if !app.prepared {
		// The command did not get as far as reading its configuration:
		// take the output format from what can be read of it.
		app.output = config.Lenient(earlyOptions(args)).Output
	}
	code := exitCode(err, ctx.Err() != nil)
	printError(app, err, code)
	return code
}

// earlyOptions reads --config and -o from a command line that cobra could
// not parse (an unknown flag or command), for config.Lenient.
func earlyOptions(args []string) config.Options {
	fs := pflag.NewFlagSet("dsys", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	file := fs.String("config", "", "")
	fs.StringP("output", "o", "", "")
	fs.BoolP("quiet", "q", false, "")
	fs.BoolP("help", "h", false, "")
	_ = fs.Parse(args)
	return config.Options{File: *file, Flags: map[string]*pflag.Flag{"output": fs.Lookup("output")}}
}

// printError writes the final error as one line.
func printError(app *App, err error, code int) {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	switch {
	case code != ExitInterrupted || strings.Contains(msg, "interrupt"):
	case errors.Is(err, context.Canceled):
		msg = "interrupted" // "context canceled" says nothing more
	default:
		msg = "interrupted: " + msg
	}
	if app.JSON() {
		_ = writeJSONLine(app.IO.ErrOut, map[string]any{"error": msg, "exit_code": code})
		return
	}
	fmt.Fprintf(app.IO.ErrOut, "dsys: %s\n", msg)
}
