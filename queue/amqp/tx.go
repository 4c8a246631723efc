package amqp

import (
	"context"
	"errors"
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/dsys-dev/dsys/queue/broker"
)

// A txReq is what one commit does on a channel in transaction mode:
// publishes, then acks and requeues. The committer groups the requests
// waiting into one tx.commit: under load one round trip to RabbitMQ (and
// one fsync there) serves many commits; a worker that dies before it
// leaves none of them half done.
type txReq struct {
	// do, when set, runs alone on the committer's goroutine: every command
	// on a channel in transaction mode goes from there, since RabbitMQ
	// closes the connection on a command that arrives while it commits.
	do      func(ch *amqp091.Channel) error
	pubs    []txPub
	acks    []uint64
	requeue []uint64
	done    chan error // nil: nobody waits
}

// txPub is a publish to the default exchange (key = queue).
type txPub struct {
	key string
	msg amqp091.Publishing
}

// maxTxBatch bounds the requests of one transaction.
const maxTxBatch = 256

type txCommitter struct {
	ch   *amqp091.Channel
	reqs chan *txReq
	quit chan struct{}
	gone chan struct{}
}

func newTxCommitter(ch *amqp091.Channel) *txCommitter {
	tc := &txCommitter{ch: ch, reqs: make(chan *txReq, 4*maxTxBatch), quit: make(chan struct{}), gone: make(chan struct{})}
	go tc.run()
	return tc
}

// submit queues r; r.done receives the outcome of its transaction.
func (tc *txCommitter) submit(r *txReq) {
	select {
	case tc.reqs <- r:
	case <-tc.gone:
		r.finish(fmt.Errorf("%w: the channel closed", broker.ErrConnectionLost))
	}
}

func (r *txReq) finish(err error) {
	if r.done != nil {
		r.done <- err
	}
}

// stop commits what was submitted and ends the committer.
func (tc *txCommitter) stop() {
	select {
	case <-tc.quit:
	default:
		close(tc.quit)
	}
	<-tc.gone
}

func (tc *txCommitter) run() {
	defer close(tc.gone)
	batch := make([]*txReq, 0, maxTxBatch)
	for {
		var first *txReq
		select {
		case first = <-tc.reqs:
		case <-tc.quit:
			for {
				select {
				case r := <-tc.reqs:
					tc.commit([]*txReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxTxBatch {
			select {
			case r := <-tc.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		tc.commit(batch)
	}
}

func (tc *txCommitter) commit(batch []*txReq) {
	var rest []*txReq
	for _, r := range batch {
		if r.do != nil {
			r.finish(r.do(tc.ch))
			continue
		}
		rest = append(rest, r)
	}
	if len(rest) == 0 {
		return
	}
	batch = rest
	err := tc.apply(batch)
	if err != nil && (tc.ch.IsClosed() || errors.Is(err, amqp091.ErrClosed)) {
		err = fmt.Errorf("%w: %v", broker.ErrConnectionLost, err)
	}
	for _, r := range batch {
		r.finish(err)
	}
}

func (tc *txCommitter) apply(batch []*txReq) error {
	ctx := context.Background()
	for _, r := range batch {
		for _, p := range r.pubs {
			if err := tc.ch.PublishWithContext(ctx, "", p.key, false, false, p.msg); err != nil {
				_ = tc.ch.TxRollback()
				return err
			}
		}
		for _, tag := range r.acks {
			if err := tc.ch.Ack(tag, false); err != nil {
				_ = tc.ch.TxRollback()
				return err
			}
		}
		for _, tag := range r.requeue {
			if err := tc.ch.Reject(tag, true); err != nil {
				_ = tc.ch.TxRollback()
				return err
			}
		}
	}
	return tc.ch.TxCommit()
}
