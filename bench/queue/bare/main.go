// Command bare measures the ceiling of the queue benchmark's traffic pattern
// on raw amqp091-go, without dsys: a client publishes n persistent task
// messages (Celery's 16 headers, confirmed) to a durable queue, a replier
// consumes them (prefetch, manual acks), publishes a persistent result to the
// client's durable reply queue (confirmed) and acks the task once the result
// is confirmed (multiple-acks); the client collects every result (auto-ack).
// That is dsys's traffic with nothing else: flags switch its parts off to
// measure what each costs RabbitMQ. It prints tasks/s as JSON.
//
//	go run ./bench/queue/bare -broker amqp://guest:guest@127.0.0.1:5672/ -n 10000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

type options struct {
	broker            string
	n, prefetch       int
	persistentResults bool
	multiAck          bool
	autoAckReplies    bool
	splitConns        bool
	headers           bool
}

func main() {
	var o options
	flag.StringVar(&o.broker, "broker", "amqp://guest:guest@127.0.0.1:5672/", "broker URL")
	flag.IntVar(&o.n, "n", 10000, "tasks")
	flag.IntVar(&o.prefetch, "prefetch", 128, "replier prefetch")
	flag.BoolVar(&o.persistentResults, "persistent-results", true, "publish results with delivery_mode 2 (as dsys)")
	flag.BoolVar(&o.multiAck, "multi-ack", true, "replier acks confirmed prefixes with multiple=true")
	flag.BoolVar(&o.autoAckReplies, "autoack-replies", true, "client consumes results with auto-ack")
	flag.BoolVar(&o.splitConns, "split-conns", false, "separate connections for publishing and consuming")
	flag.BoolVar(&o.headers, "headers", true, "task messages carry Celery's 16 headers")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func dial(url string) (*amqp.Connection, error) { return amqp.Dial(url) }

// conns returns a publishing and a consuming connection (the same one
// unless split).
func conns(o options) (pub, cons *amqp.Connection, err error) {
	if pub, err = dial(o.broker); err != nil {
		return nil, nil, err
	}
	if !o.splitConns {
		return pub, pub, nil
	}
	if cons, err = dial(o.broker); err != nil {
		pub.Close()
		return nil, nil, err
	}
	return pub, cons, nil
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	suffix := strconv.Itoa(os.Getpid())
	taskQ, replyQ := "bare-tasks-"+suffix, "bare-reply-"+suffix

	cpub, ccons, err := conns(o)
	if err != nil {
		return err
	}
	defer cpub.Close()
	defer ccons.Close()
	rpub, rcons, err := conns(o)
	if err != nil {
		return err
	}
	defer rpub.Close()
	defer rcons.Close()

	admin, err := cpub.Channel()
	if err != nil {
		return err
	}
	if _, err := admin.QueueDeclare(taskQ, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := admin.QueueDeclare(replyQ, true, false, false, false, amqp.Table{"x-expires": int32(600000)}); err != nil {
		return err
	}
	defer admin.QueueDelete(replyQ, false, false, false)
	defer admin.QueueDelete(taskQ, false, false, false)

	replierDone := make(chan error, 1)
	rctx, rstop := context.WithCancel(ctx)
	defer rstop()
	go func() { replierDone <- replier(rctx, o, rpub, rcons, taskQ) }()

	// Client: consume results first.
	rc, err := ccons.Channel()
	if err != nil {
		return err
	}
	if !o.autoAckReplies {
		if err := rc.Qos(1024, 0, false); err != nil {
			return err
		}
	}
	results, err := rc.Consume(replyQ, "", o.autoAckReplies, false, false, false, nil)
	if err != nil {
		return err
	}
	pc, err := cpub.Channel()
	if err != nil {
		return err
	}
	if err := pc.Confirm(false); err != nil {
		return err
	}
	start := time.Now()
	pubErr := make(chan error, 1)
	go func() {
		confirms := make(chan *amqp.DeferredConfirmation, 4096)
		waited := make(chan error, 1)
		go func() {
			for c := range confirms {
				if ok, err := c.WaitContext(ctx); err != nil || !ok {
					waited <- fmt.Errorf("task not confirmed: %v", err)
					for range confirms {
					}
					return
				}
			}
			waited <- nil
		}()
		for i := range o.n {
			id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
			p := amqp.Publishing{ContentType: "application/json", ContentEncoding: "utf-8", CorrelationId: id,
				ReplyTo: replyQ, DeliveryMode: amqp.Persistent,
				Body: fmt.Appendf(nil, `[[%d, %d], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`, i, i)}
			if o.headers {
				p.Headers = amqp.Table{"lang": "py", "task": "add", "id": id, "shadow": nil, "eta": nil, "expires": nil,
					"group": nil, "group_index": nil, "retries": int32(0), "timelimit": []any{nil, nil}, "root_id": id,
					"parent_id": nil, "argsrepr": fmt.Sprintf("(%d, %d)", i, i), "kwargsrepr": "{}", "origin": "gen1@bench",
					"ignore_result": false}
			}
			c, err := pc.PublishWithDeferredConfirm("", taskQ, false, false, p)
			if err != nil {
				close(confirms)
				pubErr <- err
				return
			}
			confirms <- c
		}
		close(confirms)
		pubErr <- <-waited
	}()
	got := 0
	var last uint64
	unacked := 0
	for got < o.n {
		select {
		case d, ok := <-results:
			if !ok {
				return fmt.Errorf("result consumer closed after %d", got)
			}
			got++
			if !o.autoAckReplies {
				last = d.DeliveryTag
				if unacked++; unacked >= 64 || len(results) == 0 {
					if err := rc.Ack(last, true); err != nil {
						return err
					}
					unacked = 0
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("timeout after %d results", got)
		}
	}
	el := time.Since(start)
	if err := <-pubErr; err != nil {
		return err
	}
	rstop()
	<-replierDone
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"tasks": o.n, "seconds": el.Seconds(),
		"tasks_per_s": float64(o.n) / el.Seconds(), "prefetch": o.prefetch, "persistent_results": o.persistentResults,
		"multi_ack": o.multiAck, "autoack_replies": o.autoAckReplies, "split_conns": o.splitConns, "headers": o.headers})
}

// replier answers each task with a result and acks the task once the
// result is confirmed.
func replier(ctx context.Context, o options, pubConn, consConn *amqp.Connection, taskQ string) error {
	cc, err := consConn.Channel()
	if err != nil {
		return err
	}
	if err := cc.Qos(o.prefetch, 0, false); err != nil {
		return err
	}
	tasks, err := cc.Consume(taskQ, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	pc, err := pubConn.Channel()
	if err != nil {
		return err
	}
	if err := pc.Confirm(false); err != nil {
		return err
	}
	type pending struct {
		tag uint64
		c   *amqp.DeferredConfirmation
	}
	acks := make(chan pending, o.prefetch+1)
	go func() {
		var last uint64
		n := 0
		for p := range acks {
			if ok, err := p.c.WaitContext(ctx); err != nil || !ok {
				return
			}
			if !o.multiAck {
				_ = cc.Ack(p.tag, false)
				continue
			}
			last = p.tag
			if n++; n >= 32 || len(acks) == 0 {
				_ = cc.Ack(last, true)
				n = 0
			}
		}
	}()
	defer close(acks)
	mode := amqp.Transient
	if o.persistentResults {
		mode = amqp.Persistent
	}
	for {
		select {
		case d := <-tasks:
			var body [3]json.RawMessage
			if err := json.Unmarshal(d.Body, &body); err != nil {
				return err
			}
			var args []int
			if err := json.Unmarshal(body[0], &args); err != nil {
				return err
			}
			res := fmt.Appendf(nil, `{"task_id": %q, "status": "SUCCESS", "result": %d, "traceback": null, "children": []}`,
				d.CorrelationId, args[0]+args[1])
			c, err := pc.PublishWithDeferredConfirm("", d.ReplyTo, false, false, amqp.Publishing{
				ContentType: "application/json", ContentEncoding: "utf-8", CorrelationId: d.CorrelationId,
				DeliveryMode: mode, Body: res})
			if err != nil {
				return err
			}
			acks <- pending{d.DeliveryTag, c}
		case <-ctx.Done():
			return nil
		}
	}
}
