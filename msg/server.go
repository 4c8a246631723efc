package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Server answers requests the way a REP socket does — each reply goes back
// with its request's envelope, REQ and DEALER clients alike — on a ROUTER
// socket, so that it can answer Workers requests at once and never let one
// client hold up the others:
//
//   - Each client (each envelope: a REQ, or a client behind a proxy) is
//     answered in order, one request at a time, so it sees REQ/REP order;
//     different clients are served in parallel.
//   - A request whose client has disconnected before its turn (a Lazy
//     Pirate client retrying on a fresh socket) is not run.
//   - A reply to a client that is not reading waits for room in its queue
//     off the workers, for as long as the client keeps reading (at most
//     ReplyTimeout without progress), then is dropped with a log line;
//     a client that reads slowly gets every reply.
//
// Shutdown order (Run returning): stop receiving, let running handlers end
// (ctx's cancellation reaches them), wait for the replies being delivered.
type Server struct {
	// Socket is the ROUTER to serve on, bound or connected by the caller.
	Socket *Socket
	// Handler computes the reply to a request. It runs on one of Workers
	// goroutines; req is valid until it returns.
	Handler func(ctx context.Context, req Msg) Msg
	// Workers is the number of requests handled at once. Default 1.
	Workers int
	// ReplyTimeout bounds how long a reply waits without the client
	// reading anything. Default 5s.
	ReplyTimeout time.Duration
	// Count, when positive, makes Run return after that many replies.
	Count int
	// Logger receives skipped requests and dropped replies. nil discards.
	Logger *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	clients map[string]*client
	ready   []*client // clients with a request to run, none running
	queued  int       // requests waiting, over all clients
	replied int
	stop    bool
	late    sync.WaitGroup
}

// client is one envelope's queue of requests.
type client struct {
	key  string
	peer []byte // the identity of the connection it came on
	reqs []request
}

type request struct {
	env  Msg // identity, routing frames, the empty delimiter
	body Msg
	raw  Msg // the whole message, released after the reply
}

// maxQueued bounds the requests waiting over all clients; past it the
// server stops reading requests (the peers' queues then push back).
const maxQueued = 10000

// Run serves until ctx ends (returning ctx's error) or Count replies have
// been sent (returning nil).
func (sv *Server) Run(ctx context.Context) error {
	if sv.Socket == nil || sv.Socket.typ != Router {
		return fmt.Errorf("msg: Server needs a ROUTER socket")
	}
	workers := max(1, sv.Workers)
	if sv.ReplyTimeout <= 0 {
		sv.ReplyTimeout = 5 * time.Second
	}
	if sv.Logger == nil {
		sv.Logger = discardLogger
	}
	sv.cond = sync.NewCond(&sv.mu)
	sv.clients = map[string]*client{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWatch := context.AfterFunc(ctx, func() {
		sv.mu.Lock()
		sv.stop = true
		sv.cond.Broadcast()
		sv.mu.Unlock()
	})
	defer stopWatch()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sv.work(ctx, cancel)
		}()
	}
	err := sv.receive(ctx)
	cancel()
	wg.Wait()
	sv.late.Wait()
	sv.mu.Lock()
	done := sv.Count > 0 && sv.replied >= sv.Count
	sv.mu.Unlock()
	if done {
		return nil
	}
	return err
}

// receive reads requests into their clients' queues until ctx ends.
func (sv *Server) receive(ctx context.Context) error {
	s := sv.Socket
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			return err
		}
		i := 1
		for i < len(m) && len(m[i]) != 0 {
			i++
		}
		if i >= len(m)-1 {
			sv.Logger.Debug("discarding a request without an envelope", "identity", quoteID(m[0]))
			Release(m)
			continue
		}
		env := m[: i+1 : i+1]
		var key strings.Builder
		for _, f := range env[:i] {
			fmt.Fprintf(&key, "%d:%s", len(f), f)
		}
		sv.mu.Lock()
		for sv.queued >= maxQueued && !sv.stop {
			sv.cond.Wait()
		}
		if sv.stop {
			sv.mu.Unlock()
			return ctx.Err()
		}
		c := sv.clients[key.String()]
		if c == nil {
			c = &client{key: key.String(), peer: m[0]}
			sv.clients[c.key] = c
			sv.ready = append(sv.ready, c)
			sv.cond.Signal()
		}
		c.reqs = append(c.reqs, request{env: env, body: m[i+1:], raw: m})
		sv.queued++
		sv.mu.Unlock()
	}
}

// work runs requests, one client at a time, until the server stops.
func (sv *Server) work(ctx context.Context, stop context.CancelFunc) {
	for {
		sv.mu.Lock()
		for len(sv.ready) == 0 && !sv.stop {
			sv.cond.Wait()
		}
		if sv.stop {
			sv.mu.Unlock()
			return
		}
		c := sv.ready[0]
		sv.ready = sv.ready[1:]
		req := c.reqs[0]
		c.reqs = c.reqs[1:]
		sv.queued--
		sv.cond.Broadcast() // room for the receiver
		sv.mu.Unlock()

		if !sv.Socket.peerConnected(c.peer) {
			sv.Logger.Debug("client gone: request not run", "identity", quoteID(c.peer))
			Release(req.raw)
			sv.next(c)
			continue
		}
		reply := sv.Handler(ctx, req.body)
		if ctx.Err() != nil {
			return
		}
		m := append(append(make(Msg, 0, len(req.env)+len(reply)), req.env...), reply...)
		ok, err := sv.Socket.TrySend(m)
		switch {
		case ok:
			Release(req.raw)
			sv.sent(stop)
			sv.next(c)
		case err != nil:
			sv.Logger.Debug("reply not delivered", "identity", quoteID(c.peer), "err", err)
			Release(req.raw)
			sv.next(c)
		default:
			// The client's queue is full: deliver off this worker.
			sv.late.Add(1)
			go func() {
				defer sv.late.Done()
				if sv.deliverLate(ctx, c, m) {
					sv.sent(stop)
				}
				Release(req.raw)
				sv.next(c)
			}()
		}
	}
}

// deliverLate waits for room in a slow client's queue, as long as the
// client keeps reading, and reports whether the reply was queued.
func (sv *Server) deliverLate(ctx context.Context, c *client, m Msg) bool {
	s := sv.Socket
	for {
		before, ok := s.peerProgress(c.peer)
		if !ok {
			sv.Logger.Debug("client gone before its reply", "identity", quoteID(c.peer))
			return false
		}
		sctx, cancel := context.WithTimeout(ctx, sv.ReplyTimeout)
		err := s.Send(sctx, m)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err == nil
		}
		if errors.Is(err, ErrTimeout) {
			if after, ok := s.peerProgress(c.peer); ok && after != before {
				continue // reading, slowly: keep waiting
			}
			sv.Logger.Warn("reply dropped: the client read nothing for the reply timeout", "identity", quoteID(c.peer), "timeout", sv.ReplyTimeout.String())
			return false
		}
		sv.Logger.Debug("reply not delivered", "identity", quoteID(c.peer), "err", err)
		return false
	}
}

// sent counts a reply and stops the server after Count.
func (sv *Server) sent(stop context.CancelFunc) {
	sv.mu.Lock()
	sv.replied++
	done := sv.Count > 0 && sv.replied >= sv.Count
	sv.mu.Unlock()
	if done {
		stop()
	}
}

// next puts a client whose reply is done back in line, or forgets it.
func (sv *Server) next(c *client) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if len(c.reqs) > 0 {
		sv.ready = append(sv.ready, c)
		sv.cond.Signal()
		return
	}
	delete(sv.clients, c.key)
}

// peerConnected reports whether a ROUTER's peer with identity id is
// connected.
func (s *Socket) peerConnected(id []byte) bool {
	_, ok := s.peerProgress(id)
	return ok
}

// peerProgress returns how many writes to a ROUTER's peer have completed,
// and whether it is connected.
func (s *Socket) peerProgress(id []byte) (uint64, bool) {
	rt, ok := s.pat.(*routerPattern)
	if !ok {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := rt.byID[string(id)]
	if p == nil || !p.live() {
		return 0, false
	}
	return p.writes, true
}
