package cmd

import "github.com/spf13/cobra"

// newComputeCmd is the `dsys compute` group; it adds its subcommands.
func newComputeCmd(app *App) *cobra.Command {
	c := newGroupCmd("compute", "Chunked parallel array reductions: mean, sum, min, max, var, std, count, stats",
		"Chunked, parallel, bounded-memory array reductions over random, .npy, CSV and text data.")
	_ = app
	return c
}
