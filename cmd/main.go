package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs dsys with the process's arguments and streams and returns the
// exit code. SIGINT or SIGTERM cancels the run's context; a second signal
// kills the process at once.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default action: the next signal aborts
	}()
	return Run(ctx, os.Args[1:], stdio())
}

// Run executes one dsys command line and returns its exit code; the final
// error, if any, is printed on ErrOut (as {"error": ...} under -o json).
// A cancelled ctx stands for an interrupt.
func Run(ctx context.Context, args []string, streams IOStreams) int {
	app := &App{IO: streams, output: "text"}
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
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if !app.started && !errors.As(err, &ee) {
		// Flag parsing, argument validation and unknown commands fail
		// before the command starts: all usage errors.
		err = withExitCode(ExitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	}
	code := exitCode(err, ctx.Err() != nil)
	printError(app, err, code)
	return code
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
