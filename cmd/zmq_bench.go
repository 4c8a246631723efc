package cmd

import "github.com/spf13/cobra"

func newZmqBenchCmd(app *App) *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "PUSH/PULL throughput and REQ/REP latency", RunE: func(c *cobra.Command, _ []string) error { return nil }}
}
