package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
)

// Results implements broker.Transport: Celery's rpc:// result protocol.
// A client declares a reply queue of its own (named by a UUID, as Celery
// does) and consumes it; workers publish each result to the task's reply_to
// with the task id as correlation id. Results are readable once, by the
// client that submitted the task; Get always fails with
// broker.ErrResultsNotStored.
//
// dsys declares reply queues durable (Celery: transient) and workers publish
// results persistent, so results waiting for a disconnected client survive
// a broker restart. Clients consume with auto-ack, as Celery's rpc backend
// does: a result delivered to a connected consumer with auto-ack never
// touches RabbitMQ's disk even though it is persistent, which halves the
// broker's work per task. The price: a result in transit when the client's
// connection drops is lost.
func (b *Transport) Results() broker.ResultBackend { return b.rpc }

type rpcBackend struct{ t *Transport }

// resultMessage is the message a Celery worker publishes for r.
func resultMessage(r broker.Result) *broker.Message {
	return &broker.Message{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		CorrelationID:   r.TaskID,
		// Persistent, unlike Celery's: see Transport.Results.
		Persistent: true,
		Body:       r.Body,
	}
}

// Store publishes each result to its reply queue and waits for RabbitMQ's
// confirms; results addressed to nobody are dropped.
func (r *rpcBackend) Store(ctx context.Context, rs []broker.Result) error {
	confirms := make([]broker.Confirm, 0, len(rs))
	for _, res := range rs {
		if res.ReplyTo == "" {
			continue
		}
		c, err := r.t.publish(ctx, res.ReplyTo, resultMessage(res))
		if err != nil {
			return err
		}
		confirms = append(confirms, c)
	}
	for _, c := range confirms {
		if err := broker.WaitConfirm(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// Get implements broker.ResultBackend: rpc:// keeps no results readable by id.
func (r *rpcBackend) Get(context.Context, string) (broker.Result, error) {
	return broker.Result{}, fmt.Errorf("%w (rpc:// results go to the submitting client only)", broker.ErrResultsNotStored)
}

// Subscribe declares a reply queue and consumes it.
func (r *rpcBackend) Subscribe(ctx context.Context, opts broker.SubscribeOptions) (broker.Subscription, error) {
	name := newID()
	if err := r.t.declare(ctx, queueSpec{name: name, reply: true, expires: opts.Expires}); err != nil {
		return nil, err
	}
	cons, err := r.t.consume(ctx, name, consumeOptions{autoAck: true})
	if err != nil {
		_ = r.t.Delete(context.Background(), name)
		return nil, err
	}
	s := &rpcSubscription{t: r.t, name: name, cons: cons, out: make(chan broker.Result, 64)}
	go s.pump()
	return s, nil
}

type rpcSubscription struct {
	t    *Transport
	name string
	cons *rawConsumer
	out  chan broker.Result
	once sync.Once
}

func (s *rpcSubscription) ReplyTo() string { return s.name }

// Want implements broker.Subscription: rpc:// routes results by reply_to
// and cannot look any up.
func (s *rpcSubscription) Want(...string) {}

func (s *rpcSubscription) Results() <-chan broker.Result { return s.out }

func (s *rpcSubscription) pump() {
	defer close(s.out)
	for rd := range s.cons.out {
		s.out <- broker.Result{TaskID: rd.d.CorrelationId, ReplyTo: s.name, Body: rd.d.Body}
	}
}

// Close stops consuming and deletes the reply queue.
func (s *rpcSubscription) Close() error {
	var err error
	s.once.Do(func() {
		err = s.cons.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if derr := s.t.Delete(ctx, s.name); derr != nil && err == nil && !errors.Is(derr, broker.ErrClosed) {
			err = derr
		}
	})
	return err
}
