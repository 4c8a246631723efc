// Package queue is the engine of dsys's Celery-compatible task queue: a
// Worker that serves tasks published by Celery 5 clients (and by dsys), a
// Client that submits tasks to Celery or dsys workers and collects their
// results, the Registry of tasks, the built-ins and command tasks.
//
// The layers below it are packages of their own: queue/celery is Celery's
// message protocol (pure codec, no I/O), queue/broker the contract with the
// transports, queue/amqp the RabbitMQ transport (with Celery's rpc://
// results), queue/brokertest the conformance suite every transport passes.
// Beside tasks, queue/control answers Celery's remote control and
// queue/events sends Celery's events, over transports that carry broadcasts
// (broker.Broadcaster); a worker runs both when WorkerConfig.Control is set.
//
// A worker takes each delivery through receive → decode → run → plan →
// commit: what becomes of it (results, retries, callbacks, chain steps,
// dead letters, the settlement) is decided as a value by pure rules and
// performed by one commit step, which hands it all to the transport at
// once. Delivery is at least once: a task message is settled only after
// what its outcome causes is durable. A message whose runs were started
// more than WorkerConfig.MaxRedeliveries times without finishing (counted
// by the transport), or one that cannot be decoded, goes to the
// dead-letter queue "<queue>.dead" instead of looping.
package queue
