package amqp

import (
	"strconv"
	"strings"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// stringArguments are RabbitMQ queue arguments whose values are strings
// whatever they look like (a routing key may be all digits).
var stringArguments = map[string]bool{
	"x-dead-letter-exchange": true, "x-dead-letter-routing-key": true, "x-dead-letter-strategy": true,
	"x-queue-type": true, "x-overflow": true, "x-queue-mode": true, "x-queue-master-locator": true,
	"x-queue-leader-locator": true, "x-max-age": true,
}

// QueueArguments types queue arguments written as text (configuration,
// environment): integers become AMQP integers (32-bit when they fit, as
// Celery's py-amqp writes them), true and false booleans, the rest strings;
// the arguments RabbitMQ takes as strings (x-queue-type, x-overflow,
// x-dead-letter-*, …) stay strings. RabbitMQ refuses, for instance, an
// x-max-priority given as a string.
func QueueArguments(text map[string]string) map[string]any {
	if len(text) == 0 {
		return nil
	}
	out := make(map[string]any, len(text))
	for k, v := range text {
		out[k] = argumentValue(k, strings.TrimSpace(v))
	}
	return out
}

func argumentValue(key, v string) any {
	if stringArguments[key] {
		return v
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n >= -1<<31 && n < 1<<31 {
			return int32(n)
		}
		return n
	}
	switch v {
	case "true", "True":
		return true
	case "false", "False":
		return false
	}
	return v
}

// declareClaimed declares a task queue's "<Q>.claimed", where a worker's
// claimed tasks wait for its runner. When queue_arguments give task queues
// an x-max-priority, it gets the same, so that the runner takes the
// highest-priority claimed task first and priorities are honoured across
// the claim (tasks claimed while the worker is busy would otherwise run
// in claim order). One that exists is used as it was declared (one
// declared before queue_arguments changed keeps its order until deleted).
func (b *Transport) declareClaimed(conn *amqp091.Connection, ch *amqp091.Channel, name string) error {
	if _, err := ch.QueueDeclarePassive(name, false, false, false, false, nil); err == nil {
		return nil
	} else if !isNotFound(err) {
		return err
	}
	ch, err := conn.Channel() // the 404 closed the channel
	if err != nil {
		return err
	}
	defer ch.Close()
	var args amqp091.Table
	if p, ok := b.opts.QueueArguments["x-max-priority"]; ok {
		args = amqp091.Table{"x-max-priority": p}
	}
	_, err = ch.QueueDeclare(name, true, false, false, false, args)
	return err
}
