package cmd

import (
	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/compute"
)

// newComputeCmd is the `dsys compute` group; it adds its subcommands.
func newComputeCmd(app *App) *cobra.Command {
	c := newGroupCmd("compute", "Chunked parallel array reductions: mean, sum, min, max, var, std, count, stats",
		`Chunked, parallel, bounded-memory array reductions over random, .npy, CSV and text data.

Without an input, the array is generated lazily: by default a 10000×10000
uniform [0,1) array in 1000×1000 chunks (Dask's
da.random.random((10000, 10000), chunks=(1000, 1000))), never held in memory.`)
	for _, op := range []compute.Op{compute.Mean, compute.Sum, compute.Min, compute.Max,
		compute.Var, compute.Std, compute.Count, compute.Stats} {
		c.AddCommand(newComputeOpCmd(app, op))
	}
	return c
}
