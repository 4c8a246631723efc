package cmd

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsys-dev/dsys/config"
	"github.com/dsys-dev/dsys/internal/suggest"
)

const (
	// annotConfigKey marks a flag that overrides a config key.
	annotConfigKey = "dsys_config_key"
	// annotNoConfig marks a command that runs whatever the config files
	// hold, using what it can of them (so that `config init --force` can
	// replace a broken file); flags and environment are still checked.
	annotNoConfig = "dsys_no_config"
	// annotLongRunning marks a service-like command; see longRunning.
	annotLongRunning = "dsys_long_running"
)

// longRunning marks c as a command that runs until it is stopped (a
// worker, a server, a proxy): a SIGTERM that stops it cleanly exits 0, as
// systemd and Kubernetes expect of a service, where SIGINT still exits 130.
func longRunning(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotLongRunning] = "true"
	return c
}

func newRootCmd(app *App) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "dsys",
		Short: "Distributed-systems work from the shell: ZeroMQ, a Celery-compatible task queue, chunked array compute",
		Long: `dsys is one binary for distributed-systems work from the shell:

  dsys zmq      ZeroMQ messaging, interoperable with libzmq peers such as pyzmq
  dsys queue    a task queue on RabbitMQ that speaks Celery's wire protocol
  dsys compute  chunked, parallel, bounded-memory array reductions

Results go to stdout, everything else (logs, progress, status) to stderr.
-o json makes results JSON (JSON Lines for streams) and the final error
{"error": "...", "exit_code": N} on stderr.

Configuration: flags > DSYS_* environment variables > config files > defaults.
See 'dsys config show' and 'dsys config init'.

` + exitCodesHelp,
		Args:          cobra.ArbitraryArgs,
		Annotations:   map[string]string{annotNoConfig: "true"},
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			return app.prepare(c)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if showVersion && len(args) == 0 {
				return runVersion(app)
			}
			return runGroup(c, args)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return withExitCode(ExitUsage, flagError(c, err)) })

	pf := root.PersistentFlags()
	pf.StringVar(&app.configFile, "config", "", "config file, read instead of /etc/dsys/config.yaml, ~/.config/dsys/config.yaml and ./dsys.yaml (or $DSYS_CONFIG)")
	pf.StringP("output", "o", "text", "output format: text or json (config output)")
	pf.String("log-level", "info", "log level on stderr: debug, info, warn or error (config log.level)")
	pf.BoolP("quiet", "q", false, "only errors on stderr: no progress, no status (config quiet)")
	bindFlag(root, "output", "output")
	bindFlag(root, "quiet", "quiet")
	bindFlag(root, "log-level", "log.level")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	root.Flags().BoolVar(&showVersion, "version", false, "print the version, as 'dsys version' does")

	root.AddCommand(
		newZmqCmd(app),
		newQueueCmd(app),
		newComputeCmd(app),
		newConfigCmd(app),
		newVersionCmd(app),
		newCompletionCmd(app),
	)
	// cobra's help command needs no configuration either.
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Annotations = map[string]string{annotNoConfig: "true"}
		}
	}
	return root
}

// bindFlag makes a flag of c override a config key when the user sets it.
func bindFlag(c *cobra.Command, flag, key string) {
	f := c.Flags().Lookup(flag)
	if f == nil {
		f = c.PersistentFlags().Lookup(flag)
	}
	if f == nil {
		return // caught by TestBoundFlagsNameKeys
	}
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[annotConfigKey] = []string{key}
}

// boundFlags collects the flags of the running command that are bound to keys.
func boundFlags(c *cobra.Command) map[string]*pflag.Flag {
	out := map[string]*pflag.Flag{}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if k := f.Annotations[annotConfigKey]; len(k) == 1 {
			out[k[0]] = f
		}
	})
	return out
}

// prepare runs before every command: it loads the configuration (flags and
// environment included) and sets up the output mode and the logger.
func (app *App) prepare(c *cobra.Command) error {
	app.started = true
	opts := config.Options{File: app.configFile, Flags: boundFlags(c), LenientFiles: c.Annotations[annotNoConfig] == "true"}
	if c.Name() == cobra.ShellCompRequestCmd { // completing: never an error
		cfg := config.Lenient(opts)
		app.use(&cfg)
		return nil
	}
	loaded, err := config.Load(opts)
	if err != nil {
		cfg := config.Lenient(opts) // to report the error as asked (-o json)
		app.use(&cfg)
		return err
	}
	app.Loaded = loaded
	app.use(&loaded.Config)
	for _, w := range loaded.Warnings {
		app.Log.Warn(w)
	}
	for _, f := range loaded.Files {
		app.Log.Debug("config file", "path", f)
	}
	return nil
}

// use makes cfg the run's configuration: output mode, quiet, logger.
func (app *App) use(cfg *config.Config) {
	app.Config = cfg
	app.output = cfg.Output
	app.Quiet = cfg.Quiet
	app.Log = newLogger(app.IO.ErrOut, levelOf(cfg.Log.Level, cfg.Quiet), app.JSON())
	app.prepared = true
}

func levelOf(name string, quiet bool) slog.Level {
	if quiet {
		return slog.LevelError
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// newGroupCmd is a command that only holds subcommands. Run alone it
// prints its help; with an unknown subcommand it is a usage error that
// suggests the nearest one. It needs no configuration.
func newGroupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:         use,
		Short:       short,
		Long:        long,
		Args:        cobra.ArbitraryArgs,
		Annotations: map[string]string{annotNoConfig: "true"},
		RunE:        runGroup,
	}
}

func runGroup(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return c.Help()
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	if s := suggest.Closest(args[0], names, 2); len(s) > 0 {
		return usageErrorf("unknown command %q for %q (did you mean %s?)", args[0], c.CommandPath(), orList(s))
	}
	return usageErrorf("unknown command %q for %q (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())
}

// flagError rewrites pflag's errors: an unknown flag gets a suggestion, a
// bad value says what was expected (not strconv's words).
func flagError(c *cobra.Command, err error) error {
	var ive *pflag.InvalidValueError
	if errors.As(err, &ive) {
		f := ive.GetFlag()
		return fmt.Errorf("--%s: expected %s, got %q", f.Name, flagValueWant(f.Value.Type(), ive.Unwrap()), ive.GetValue())
	}
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() != "" {
		return err
	}
	name := ne.GetSpecifiedName()
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := suggest.Nearest(name, names, 2); s != "" {
		return fmt.Errorf("unknown flag --%s (did you mean --%s?)", name, s)
	}
	return fmt.Errorf("unknown flag --%s (see '%s --help')", name, c.CommandPath())
}

// flagValueWant says what a flag of pflag type typ takes.
func flagValueWant(typ string, parseErr error) string {
	switch {
	case typ == "duration":
		return "a duration such as 5s, 1m30s or 250ms"
	case typ == "bool":
		return "true or false"
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint"):
		return "an integer"
	case strings.HasPrefix(typ, "float"):
		return "a number"
	}
	return fmt.Sprintf("a %s (%v)", typ, parseErr)
}

// orList renders up to three names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) > 3 {
		names = names[:3]
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
