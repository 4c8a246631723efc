package amqp

import (
	"strconv"
	"strings"
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
