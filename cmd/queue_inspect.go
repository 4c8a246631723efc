package cmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/broker"
)

func newQueueInspectCmd(app *App) *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect",
		Short: "Show queues: ready and unacked messages, consumers, delayed and dead-lettered tasks",
		Long: `For each queue of queue.queue (or --queue): messages ready, messages delivered
and not yet acknowledged (from RabbitMQ's management API when it answers on port
15672, else "unknown": AMQP itself cannot tell), consumers, tasks waiting in the
delay queues (eta, countdown, retry backoff) and the dead-letter queue <queue>.dead.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runQueueInspect(c.Context(), app)
		},
	}
	addBrokerFlag(c)
	c.Flags().String("queue", "", "queues to inspect, comma-separated (queue.queue)")
	bindFlag(c, "queue", "queue.queue")
	return c
}

type inspectRow struct {
	Queue     string `json:"queue"`
	Exists    bool   `json:"exists"`
	Ready     int    `json:"ready"`
	Unacked   *int   `json:"unacked"` // null when unknown
	Consumers int    `json:"consumers"`
	Delayed   int    `json:"delayed"`
	Dead      int    `json:"dead"`
}

func runQueueInspect(ctx context.Context, app *App) error {
	queues, b, err := openQueues(ctx, app)
	if err != nil {
		return err
	}
	defer b.Close()
	rows := make([]inspectRow, 0, len(queues))
	for _, q := range queues {
		row, err := inspectQueue(ctx, b, q)
		if err != nil {
			return queueError(err)
		}
		rows = append(rows, row)
	}
	if app.JSON() {
		for _, r := range rows {
			if err := app.PrintJSON(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tREADY\tUNACKED\tCONSUMERS\tDELAYED\tDEAD")
	for _, r := range rows {
		if !r.Exists {
			fmt.Fprintf(tw, "%s\t(no such queue)\t\t\t\t\n", r.Queue)
			continue
		}
		unacked := "unknown"
		if r.Unacked != nil {
			unacked = strconv.Itoa(*r.Unacked)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\n", r.Queue, r.Ready, unacked, r.Consumers, r.Delayed, r.Dead)
	}
	return tw.Flush()
}

// inspectQueue counts q, its delayed tasks and its dead-letter queue; a
// missing q is a row that says so.
func inspectQueue(ctx context.Context, b broker.Transport, q string) (inspectRow, error) {
	row := inspectRow{Queue: q}
	info, err := b.Inspect(ctx, q)
	if errors.Is(err, queue.ErrQueueNotFound) {
		return row, nil
	}
	if err != nil {
		return row, err
	}
	row.Exists, row.Ready, row.Consumers, row.Delayed = true, info.Ready, info.Consumers, info.Delayed
	if info.Unacked >= 0 {
		n := info.Unacked
		row.Unacked = &n
	}
	dead, err := b.Inspect(ctx, q+".dead")
	switch {
	case err == nil:
		row.Dead = dead.Ready
	case !errors.Is(err, queue.ErrQueueNotFound):
		return row, err
	}
	return row, nil
}
