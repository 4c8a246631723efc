package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Proxy forwards messages between two sockets until ctx ends, as libzmq's
// zmq_proxy does: frontend to backend, and backend to frontend where both
// types allow. The classic devices are ROUTER/DEALER (a request broker:
// replies find their way back by the envelope ROUTER adds), XSUB/XPUB (a
// forwarder: subscriptions travel upstream from XPUB to XSUB) and
// PULL/PUSH (a streamer). Capture, when not nil, gets a copy of every
// message forwarded either way (skipped when its queue is full).
//
// A message for a ROUTER's peer that has gone or whose queue is full is
// dropped (libzmq's ROUTER does the same) and logged at a bounded rate,
// so one slow client never stalls the others; PUSH and DEALER sides push
// back instead.
type Proxy struct {
	Frontend, Backend, Capture *Socket
	// Logger receives dropped messages. nil discards.
	Logger *slog.Logger
}

// Run forwards until ctx ends, and returns ctx's error, or the first
// error of a socket that failed.
func (px *Proxy) Run(ctx context.Context) error {
	f, b := px.Frontend, px.Backend
	if f == nil || b == nil {
		return fmt.Errorf("msg: Proxy needs a frontend and a backend")
	}
	log := px.Logger
	if log == nil {
		log = discardLogger
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	n := 0
	for _, d := range [][2]*Socket{{f, b}, {b, f}} {
		from, to := d[0], d[1]
		if !from.tr.canRecv || !to.tr.canSend {
			continue
		}
		n++
		drops := &rateLimit{burst: 5, every: 10 * time.Second}
		go func() { errc <- px.forward(ctx, from, to, drops, log) }()
	}
	if n == 0 {
		return fmt.Errorf("msg: a proxy from %s to %s forwards nothing", f.typ, b.typ)
	}
	var err error
	for range n {
		if e := <-errc; err == nil {
			err = e
			cancel()
		}
	}
	return err
}

func (px *Proxy) forward(ctx context.Context, from, to *Socket, drops *rateLimit, log *slog.Logger) error {
	router := to.typ == Router
	for {
		m, err := from.Recv(ctx)
		if err != nil {
			return err
		}
		if c := px.Capture; c != nil {
			_, _ = c.TrySend(m)
		}
		if router {
			ok, err := to.TrySend(m)
			if !ok {
				why := "the peer's queue is full"
				if err != nil {
					why = err.Error()
				}
				if sup, report := drops.allow(time.Now()); report {
					log.Warn("proxy: message dropped", "identity", quoteID(m[0]), "why", why, "suppressed", sup)
				}
			}
		} else if err := to.Send(ctx, m); err != nil {
			if errors.Is(err, ErrState) || errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return err
			}
			log.Warn("proxy: message dropped", "err", err)
		}
		Release(m)
	}
}
