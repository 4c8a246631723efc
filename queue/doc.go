// Package queue is a Celery-compatible task queue: a worker that serves
// tasks published by Celery 5 clients (and by dsys), a client that submits
// tasks to Celery or dsys workers and collects their results over Celery's
// rpc:// result protocol, and the codec of Celery's message protocol (v2, and
// v1 for reading).
//
// The transport is the [Broker] interface. [DialAMQP] implements it on
// RabbitMQ with github.com/rabbitmq/amqp091-go; every transport passes the
// conformance suite in queue/brokertest, so the [Worker] and the [Client]
// never depend on one.
//
// Delivery is at least once: the worker acknowledges a task message only
// after its result (and any retry, callback or dead-letter copy) has been
// confirmed by the broker. A message redelivered more than
// WorkerConfig.MaxRedeliveries times, or one that cannot be decoded, goes to
// the dead-letter queue "<queue>.dead" instead of looping.
package queue
