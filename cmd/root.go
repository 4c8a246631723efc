package cmd

import (
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dsys-dev/dsys/config"
)

const (
	// annotConfigKey marks a flag that overrides a config key.
	annotConfigKey = "dsys_config_key"
	// annotNoConfig marks a command that runs without loading the config
	// (so that `config init --force` can replace a broken file).
	annotNoConfig = "dsys_no_config"
)

func newRootCmd(app *App) *cobra.Command {
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

Configuration: flags > DSYS_* environment variables > config file > defaults.
See 'dsys config show' and 'dsys config init'.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			return app.prepare(c)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withExitCode(ExitUsage, err) })

	pf := root.PersistentFlags()
	pf.StringVar(&app.configFile, "config", "", "config file (default: $DSYS_CONFIG, ./dsys.yaml, ~/.config/dsys/config.yaml, /etc/dsys/config.yaml)")
	pf.StringVarP(&app.output, "output", "o", "text", "output format: text or json")
	pf.String("log-level", "info", "log level on stderr: debug, info, warn or error")
	pf.BoolVarP(&app.Quiet, "quiet", "q", false, "only errors on stderr: no progress, no status")
	bindFlag(root, "log-level", "log.level")

	root.AddCommand(
		newZmqCmd(app),
		newQueueCmd(app),
		newComputeCmd(app),
		newConfigCmd(app),
		newVersionCmd(app),
		newCompletionCmd(app),
	)
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

// prepare runs before every command: it checks the global flags, loads the
// configuration and sets up the logger.
func (app *App) prepare(c *cobra.Command) error {
	app.started = true
	if app.output != "text" && app.output != "json" {
		return usageErrorf("--output: expected text or json, got %q", app.output)
	}
	if c.Annotations[annotNoConfig] == "true" {
		def := config.Default()
		app.Config = &def
		app.Log = newLogger(app.IO.ErrOut, levelOf(def.Log.Level, app.Quiet), app.JSON())
		return nil
	}
	loaded, err := config.Load(config.Options{File: app.configFile, Flags: boundFlags(c)})
	if err != nil {
		return err
	}
	app.Loaded = loaded
	app.Config = &loaded.Config
	app.Log = newLogger(app.IO.ErrOut, levelOf(loaded.Config.Log.Level, app.Quiet), app.JSON())
	for _, w := range loaded.Warnings {
		app.Log.Warn(w)
	}
	if loaded.File != "" {
		app.Log.Debug("config file", "path", loaded.File)
	}
	return nil
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
// prints its help; with an unknown subcommand it is a usage error.
func newGroupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())
			}
			return c.Help()
		},
	}
}
