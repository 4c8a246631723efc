// Command rtt measures the one-task round trip of the dsys queue (on RabbitMQ
// or the embedded broker; the worker is another process): a client
// submits add(i, 1) and waits for its result, n times in sequence, against a
// running `dsys queue worker`; it prints the p50 and p90 in milliseconds as JSON.
//
//	go run ./bench/queue/rtt -broker amqp://guest:guest@127.0.0.1:5672/ -queue Q -n 1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

func main() {
	brokerURL := flag.String("broker", "amqp://guest:guest@127.0.0.1:5672/", "broker URL (amqp:// or sqlite://PATH)")
	q := flag.String("queue", "celery", "queue the worker consumes")
	n := flag.Int("n", 1000, "round trips")
	flag.Parse()
	if err := run(*brokerURL, *q, *n); err != nil {
		fmt.Fprintln(os.Stderr, "rtt:", err)
		os.Exit(1)
	}
}

func run(brokerURL, q string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var b broker.Transport
	var err error
	if path, ok := sqlite.PathFromURL(brokerURL); ok {
		b, err = sqlite.Open(ctx, path, sqlite.Options{})
	} else {
		b, err = amqp.Dial(ctx, brokerURL, amqp.Options{ManagementURL: "-"})
	}
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := queue.NewClient(ctx, b, queue.ClientConfig{Queue: q})
	if err != nil {
		return err
	}
	defer c.Close()
	// One round trip: submit, then the result. (The broker's publish
	// confirm is checked after the clock stops: like Celery's delay(), the
	// round trip does not wait for the task to reach the disk.)
	call := func(i int) (time.Duration, error) {
		start := time.Now()
		ar, err := c.Send(ctx, &celery.Task{Name: "add", Args: []any{json.Number(fmt.Sprint(i)), json.Number("1")}})
		if err != nil {
			return 0, err
		}
		v, err := ar.Get(ctx)
		el := time.Since(start)
		if err != nil {
			return 0, err
		}
		if v != json.Number(fmt.Sprint(i+1)) {
			return 0, fmt.Errorf("add(%d, 1) = %v", i, v)
		}
		return el, ar.Sent(ctx)
	}
	for i := range 50 { // warm up
		if _, err := call(i); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, n)
	for i := range n {
		if lat[i], err = call(i); err != nil {
			return err
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"n": n, "p50_ms": ms(lat[n/2]), "p90_ms": ms(lat[n*9/10])})
}
