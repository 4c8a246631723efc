package amqp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
)

func receive(t *testing.T, l broker.Listener, want string) {
	t.Helper()
	select {
	case m, ok := <-l.Messages():
		if !ok || string(m.Body) != want {
			t.Fatalf("received %v %v, want %q", m, ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s", want)
	}
}

func nothing(t *testing.T, l broker.Listener) {
	t.Helper()
	select {
	case m := <-l.Messages():
		t.Fatalf("unexpected message %q", m.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

// Fanout copies to every listener, direct routes by key, topic by
// pattern; queues carry kombu's TTL arguments.
func TestBroadcastRoutes(t *testing.T) {
	b := dial(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := testenv.UniqueName(t, "bx")
	fan := broker.Exchange{Name: name + ".fan", Kind: broker.Fanout}
	direct := broker.Exchange{Name: name + ".direct", Kind: broker.Direct}
	topic := broker.Exchange{Name: name + ".topic", Kind: broker.Topic, Durable: true}
	listen := func(suffix string, ex broker.Exchange, key string) broker.Listener {
		l, err := b.Listen(ctx, broker.Binding{Queue: name + "." + suffix, Exchange: ex, Key: key,
			MessageTTL: 300 * time.Second, Expires: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	f1, f2 := listen("f1", fan, ""), listen("f2", fan, "")
	d1, d2 := listen("d1", direct, "one"), listen("d2", direct, "two")
	tasks, all := listen("t1", topic, "task.#"), listen("t2", topic, "#")
	t.Cleanup(func() {
		c, _ := amqp091.Dial(testenv.RabbitMQ(t))
		if c != nil {
			ch, _ := c.Channel()
			for _, ex := range []string{fan.Name, direct.Name, topic.Name} {
				_ = ch.ExchangeDelete(ex, false, false)
			}
			c.Close()
		}
	})
	send := func(ex broker.Exchange, key, body string) {
		t.Helper()
		if err := b.Broadcast(ctx, ex, key, &broker.Message{ContentType: "application/json", Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	send(fan, "", "all")
	receive(t, f1, "all")
	receive(t, f2, "all")
	send(direct, "two", "to two")
	receive(t, d2, "to two")
	nothing(t, d1)
	send(topic, "worker.heartbeat", "hb")
	receive(t, all, "hb")
	nothing(t, tasks)
	send(topic, "task.succeeded", "ok")
	receive(t, tasks, "ok")
	receive(t, all, "ok")
}

// A broadcast refused by RabbitMQ (an exchange of that name exists with
// other flags) is an error of its own and breaks neither later broadcasts
// nor task publishing.
func TestBroadcastRefusedLeavesTasksAlone(t *testing.T) {
	b := dial(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := testenv.UniqueName(t, "bx")
	raw, err := amqp091.Dial(testenv.RabbitMQ(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, _ := raw.Channel()
	if err := ch.ExchangeDeclare(name, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.ExchangeDelete(name, false, false)
	q := name + ".tasks"
	if err := b.Declare(ctx, broker.QueueSpec{Name: q, Kind: broker.TaskQueue}); err != nil {
		t.Fatal(err)
	}
	defer b.Delete(context.Background(), q)
	defer ch.ExchangeDelete(q, false, false)
	err = b.Broadcast(ctx, broker.Exchange{Name: name, Kind: broker.Fanout}, "", &broker.Message{Body: []byte("x")})
	var ae *amqp091.Error
	if !errors.As(err, &ae) || ae.Code != amqp091.PreconditionFailed {
		t.Fatalf("broadcast to a topic exchange as fanout: %v, want PRECONDITION_FAILED", err)
	}
	conf, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: &broker.Message{Body: []byte("task"), Persistent: true}})
	if err == nil {
		err = broker.WaitConfirm(ctx, conf)
	}
	if err != nil {
		t.Fatalf("task publish after a refused broadcast: %v", err)
	}
	l, err := b.Listen(ctx, broker.Binding{Queue: name + ".l", Exchange: broker.Exchange{Name: name, Kind: broker.Topic, Durable: true}, Key: "#"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := b.Broadcast(ctx, broker.Exchange{Name: name, Kind: broker.Topic, Durable: true}, "a.b", &broker.Message{Body: []byte("fine")}); err != nil {
		t.Fatal(err)
	}
	receive(t, l, "fine")
}

// Queues declared by others with arguments (Celery's task_queues with
// x-max-priority, a quorum queue) are adopted as they are; before, the
// declare without arguments was refused with PRECONDITION_FAILED.
func TestDeclareAdoptsQueuesWithArguments(t *testing.T) {
	b := dial(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := amqp091.Dial(testenv.RabbitMQ(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, args := range []amqp091.Table{{"x-max-priority": int32(10)}, {"x-queue-type": "quorum"}, {"x-message-ttl": int32(60000)}} {
		q := testenv.UniqueName(t, "adopt")
		ch, _ := raw.Channel()
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			t.Fatal(err)
		}
		if err := b.Declare(ctx, broker.QueueSpec{Name: q, Kind: broker.TaskQueue}); err != nil {
			t.Errorf("declare of a queue with %v: %v", args, err)
		}
		if _, err := b.Inspect(ctx, q); err != nil {
			t.Error(err)
		}
		_, _ = ch.QueueDelete(q, false, false, false)
		ch.Close()
	}
}

// queue_arguments shape the queues dsys creates; priorities then come out
// highest first.
func TestQueueArgumentsAndPriorities(t *testing.T) {
	url := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-",
		QueueArguments: amqp.QueueArguments(map[string]string{"x-max-priority": "10"})})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q := testenv.UniqueName(t, "prio")
	if err := b.Declare(ctx, broker.QueueSpec{Name: q, Kind: broker.TaskQueue}); err != nil {
		t.Fatal(err)
	}
	defer b.Delete(context.Background(), q)
	raw, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, _ := raw.Channel()
	defer ch.ExchangeDelete(q, false, false)
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp091.Table{"x-max-priority": int32(10)}); err != nil {
		t.Fatalf("the queue was not declared with x-max-priority 10: %v", err)
	}
	for _, p := range []uint8{1, 9, 5} {
		conf, err := b.Publish(ctx, broker.Publishing{Queue: q, Message: &broker.Message{Priority: p, Body: []byte{'0' + p}}})
		if err == nil {
			err = broker.WaitConfirm(ctx, conf)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := b.Consume(ctx, q, broker.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var order []byte
	for range 3 {
		select {
		case d := <-c.Deliveries():
			order = append(order, d.Body...)
			if err := d.Commit(ctx, broker.Commit{Settle: broker.Ack}); err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("deliveries missing")
		}
	}
	if string(order) != "951" {
		t.Errorf("delivered by priority %q, want 951", order)
	}
}

func TestQueueArgumentsTyping(t *testing.T) {
	got := amqp.QueueArguments(map[string]string{"x-max-priority": "10", "x-queue-type": "quorum",
		"x-dead-letter-routing-key": "123", "x-single-active-consumer": "true", "x-max-length-bytes": "10000000000"})
	want := map[string]any{"x-max-priority": int32(10), "x-queue-type": "quorum", "x-dead-letter-routing-key": "123",
		"x-single-active-consumer": true, "x-max-length-bytes": int64(10000000000)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}
