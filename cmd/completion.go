package cmd

import (
	"github.com/spf13/cobra"
)

func newCompletionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script for bash, zsh or fish.

  bash:  source <(dsys completion bash)
  zsh:   dsys completion zsh > "${fpath[1]}/_dsys"
  fish:  dsys completion fish > ~/.config/fish/completions/dsys.fish`,
		Args:        cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs:   []string{"bash", "zsh", "fish"},
		Annotations: map[string]string{annotNoConfig: "true"},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(app.IO.Out, true)
			case "zsh":
				return root.GenZshCompletion(app.IO.Out)
			default:
				return root.GenFishCompletion(app.IO.Out, true)
			}
		},
	}
}
