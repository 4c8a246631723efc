package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Stamped by `make build` with -ldflags "-X github.com/dsys-dev/dsys/cmd.version=...".
var (
	version = "dev"
	commit  = ""
)

// buildInfo describes this binary.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version // go install module@version
		}
		if b.Commit == "" {
			var rev, dirty string
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				b.Commit = rev + dirty
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print the version, commit and Go version",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotNoConfig: "true"},
		RunE: func(*cobra.Command, []string) error {
			return runVersion(app)
		},
	}
}

// runVersion prints the build: `dsys version` and `dsys --version`.
func runVersion(app *App) error {
	b := currentBuild()
	if app.JSON() {
		return app.PrintJSON(b)
	}
	_, err := fmt.Fprintf(app.IO.Out, "dsys %s (commit %s, %s)\n", b.Version, b.Commit, b.Go)
	return err
}
