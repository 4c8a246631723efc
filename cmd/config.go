package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/config"
)

func newConfigCmd(app *App) *cobra.Command {
	c := newGroupCmd("config", "Show or create the configuration",
		`Show the effective configuration and where each value came from, or write a commented default config file.

Precedence: flags > DSYS_* environment variables > config file > built-in defaults.
The environment variable of a key is DSYS_ + the key upper-cased with dots as underscores:
compute.workers -> DSYS_COMPUTE_WORKERS.`)
	c.AddCommand(newConfigShowCmd(app), newConfigInitCmd(app))
	return c
}

func newConfigShowCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Print every key, its effective value and its source",
		Long: `Print every configuration key, its effective value and its source: default, the
config file's path, the environment variable's name, or flag. Secrets print as ****.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return runConfigShow(app)
		},
	}
}

func runConfigShow(app *App) error {
	entries := app.Loaded.Entries()
	if app.JSON() {
		out := make(map[string]config.Entry, len(entries))
		for _, e := range entries {
			out[e.Key] = e
		}
		return app.PrintJSON(out)
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, e.Display(), e.Source)
	}
	return tw.Flush()
}

type configInitOptions struct {
	Path  string
	Force bool
}

func newConfigInitCmd(app *App) *cobra.Command {
	opts := &configInitOptions{}
	c := &cobra.Command{
		Use:   "init [PATH]",
		Short: "Write a commented default config file (default ./dsys.yaml)",
		Long: `Write a commented config file holding every key at its default value.
PATH defaults to ./dsys.yaml, the first place dsys looks. An existing file is
left alone unless --force is given.`,
		Args:        cobra.MaximumNArgs(1),
		Annotations: map[string]string{annotNoConfig: "true"},
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Path = "dsys.yaml"
			if len(args) == 1 {
				opts.Path = args[0]
			}
			return runConfigInit(app, opts)
		},
	}
	c.Flags().BoolVar(&opts.Force, "force", false, "overwrite an existing file")
	return c
}

func runConfigInit(app *App, opts *configInitOptions) error {
	if ext := filepath.Ext(opts.Path); ext != ".yaml" && ext != ".yml" {
		return usageErrorf("config init writes YAML: name the file *.yaml, not %q", opts.Path)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(opts.Path, config.Template(), opts.Force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageErrorf("%s already exists: use --force to overwrite it", opts.Path)
		}
		return err
	}
	if app.JSON() {
		return app.PrintJSON(map[string]string{"path": opts.Path})
	}
	app.Log.Info("wrote config file", "path", opts.Path)
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and moves it
// into place, so a reader never sees half a file. Without overwrite it
// fails with fs.ErrExist when path exists.
func writeFileAtomic(path string, data []byte, overwrite bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if overwrite {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path) // fails if path exists
}
