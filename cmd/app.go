// Package cmd is dsys's command-line interface: cobra commands built by
// constructors, one shared configuration, and one function (Main) that turns
// errors into the documented exit codes. The work itself is done by the
// library packages msg, queue and compute.
package cmd

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"

	"github.com/dsys-dev/dsys/config"
)

// IOStreams are the process's standard streams, injected so that commands
// can be run against buffers in tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // data only: results, messages, JSON lines
	ErrOut io.Writer // everything else: logs, progress, status
	// StderrTTY is true when ErrOut is a terminal: progress bars only then.
	StderrTTY bool
}

// App is what every command constructor receives: the streams, and once the
// root command has loaded it, the configuration, the logger and the output
// mode.
type App struct {
	IO IOStreams

	// Set by the root command before any RunE runs.
	Config *config.Config
	Loaded *config.Loaded
	Log    *slog.Logger
	Quiet  bool

	output     string // "text" or "json", from the config key output (-o)
	configFile string
	// started is set once flags and arguments parsed and the command began:
	// errors before that are usage errors.
	started bool
	// prepared is set once the output mode is known from the configuration.
	prepared bool
}

// JSON reports whether results should be JSON (-o json).
func (a *App) JSON() bool { return a.output == "json" }

// PrintJSON writes v as one JSON line on stdout.
func (a *App) PrintJSON(v any) error { return writeJSONLine(a.IO.Out, v) }

// writeJSONLine writes v as one line of JSON, HTML characters unescaped.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// newLogger logs to stderr: text for people, JSON lines under -o json.
func newLogger(w io.Writer, level slog.Level, jsonOut bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if jsonOut {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// stdio returns the process's streams.
func stdio() IOStreams {
	return IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, StderrTTY: isTerminal(os.Stderr)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
