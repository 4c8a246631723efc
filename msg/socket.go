package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// Msg is one ZeroMQ message: one or more frames. Frames returned by Recv
// belong to the caller; frames passed to Send are copied before Send returns.
type Msg [][]byte

// NewMsg makes a message of the given frames.
func NewMsg(frames ...[]byte) Msg { return Msg(frames) }

// inbound is a batch of messages read from one peer: their frames back to
// back, and where each message ends in frames. ends holds no pointers (the
// garbage collector skips it) and is recycled once consumed; frames is not,
// as the messages handed out alias it.
type inbound struct {
	p      *peer
	frames [][]byte
	ends   []int32
}

// Socket is a ZeroMQ socket of one Type. Its methods are safe for concurrent
// use, though, as with libzmq, concurrent Sends (or Recvs) on REQ and REP
// sockets interleave unpredictably.
type Socket struct {
	typ  Type
	opts Options
	log  *slog.Logger
	// Per-type fast paths, decided once (Type is a string).
	fastRecv bool // Recv hands out every message as it came (typ.acceptsAll)
	fastSend bool // Send round-robins (typ.roundRobin)

	mu          sync.Mutex
	peers       []*peer
	byID        map[string]*peer // ROUTER: identity → peer
	rr          int
	changed     chan struct{} // closed and replaced when waiters should look again
	waiters     int
	closed      bool
	authErr     error
	dialErr     error          // the last failed connection attempt, for timeout messages
	subs        map[string]int // SUB: our subscriptions
	nextID      uint32
	conns       map[net.Conn]struct{} // every open connection, handshaking or live
	listeners   []net.Listener
	ipcPaths    []string
	endpoints   []string
	reqPeer     *peer // REQ: the peer whose reply we wait for
	repPeer     *peer // REP: the peer the next reply goes to
	repEnv      [][]byte
	repPending  bool
	lingering   atomic.Bool
	dialCtx     context.Context
	dialCancel  context.CancelFunc
	closing     chan struct{}
	authFailed  chan struct{}
	authOnce    sync.Once
	wg          sync.WaitGroup
	recvq       chan inbound
	freeEnds    chan []int32 // consumed batches' ends, for the readers to reuse
	maxBatch    int
	subAllLocal atomic.Bool
	pingHook    func() // tests: called after answering a PING
	pongHook    func() // tests: called when a PONG arrives

	rmu      sync.Mutex // serialises Recv
	cur      inbound    // the batch Recv takes from; guarded by rmu
	curPos   int        // next message of cur
	curFrame int        // its first frame
}

// New makes a socket of type typ. It has no endpoints until Bind or Connect.
func New(typ Type, opts Options) (*Socket, error) {
	if _, err := ParseType(string(typ)); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{
		typ:        typ,
		opts:       opts,
		log:        opts.Logger.With("socket", string(typ)),
		byID:       map[string]*peer{},
		changed:    make(chan struct{}),
		subs:       map[string]int{},
		conns:      map[net.Conn]struct{}{},
		dialCtx:    ctx,
		dialCancel: cancel,
		closing:    make(chan struct{}),
		authFailed: make(chan struct{}),
		nextID:     0x6b8b4567,
	}
	s.fastRecv, s.fastSend = typ.acceptsAll(), typ.roundRobin()
	s.maxBatch = max(1, min(256, opts.HWM/8))
	s.recvq = make(chan inbound, recvBatches)
	s.freeEnds = make(chan []int32, recvBatches+2)
	if opts.Heartbeat > 0 {
		s.wg.Add(1)
		go s.heartbeatLoop()
	}
	return s, nil
}

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// Endpoints returns the endpoints bound so far, with ephemeral ports resolved.
func (s *Socket) Endpoints() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.endpoints...)
}

// broadcastLocked wakes every goroutine waiting for a change. s.mu held.
func (s *Socket) broadcastLocked() {
	if s.waiters > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// removePeer forgets p; its connection is already closed.
func (s *Socket) removePeer(p *peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.peers {
		if q == p {
			s.peers = append(s.peers[:i], s.peers[i+1:]...)
			if s.rr > i {
				s.rr--
			}
			break
		}
	}
	if s.typ == Router && s.byID[string(p.id)] == p {
		delete(s.byID, string(p.id))
	}
	delete(s.conns, p.conn)
	s.broadcastLocked()
}

// Peers returns the number of connected peers (handshake completed).
func (s *Socket) Peers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// WaitPeers blocks until at least n peers are connected — for PUB, until n
// peers have subscribed to something — so that a bound sender does not send
// into the void. It fails with ErrTimeout when ctx expires first.
func (s *Socket) WaitPeers(ctx context.Context, n int) error {
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		ready := 0
		for _, p := range s.peers {
			if s.typ != Pub || len(p.subs) > 0 {
				ready++
			}
		}
		if ready >= n {
			s.mu.Unlock()
			return nil
		}
		if s.authErr != nil && len(s.peers) == 0 {
			err := s.authErr
			s.mu.Unlock()
			return err
		}
		if err := s.waitLocked(ctx); err != nil {
			s.mu.Unlock()
			if len(s.peers) == 0 {
				return s.noPeerErrLocked(fmt.Sprintf("waiting for %d peer(s)", n), err)
			}
			return fmt.Errorf("msg: waiting for %d peer(s), %d ready: %w", n, ready, err)
		}
	}
}

// waitLocked releases s.mu until something changes or ctx ends, and
// reacquires it.
func (s *Socket) waitLocked(ctx context.Context) error {
	ch := s.changed
	s.waiters++
	s.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctxErr(ctx)
	}
	s.mu.Lock()
	s.waiters--
	return err
}

// ctxErr turns an expired deadline into ErrTimeout (still matching
// context.DeadlineExceeded) and passes cancellation through.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", ErrTimeout, err)
	}
	return err
}

// Close shuts the socket down: it stops accepting and dialling, waits up to
// Options.Linger for queued messages to be written, closes every
// connection and waits for every goroutine. Blocked Sends and Recvs return
// ErrClosed.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.broadcastLocked()
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	s.dialCancel()
	s.linger()
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	peers := append([]*peer(nil), s.peers...)
	s.mu.Unlock()
	for _, p := range peers {
		p.close(ErrClosed)
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	for _, path := range s.ipcPaths {
		_ = os.Remove(path)
	}
	return nil
}

// linger waits until every live peer's queue has been written, at most
// Options.Linger.
func (s *Socket) linger() {
	if s.opts.Linger < 0 {
		return
	}
	s.lingering.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Linger)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		busy := false
		for _, p := range s.peers {
			if len(p.pending) > 0 || p.writing.Load() {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		if s.waitLocked(ctx) != nil {
			s.log.Debug("linger expired with messages unsent")
			return
		}
	}
}

// waitCond waits until cond (called with s.mu held) holds or ctx ends.
func (s *Socket) waitCond(ctx context.Context, cond func() bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond() {
		if err := s.waitLocked(ctx); err != nil {
			return err
		}
	}
	return nil
}
