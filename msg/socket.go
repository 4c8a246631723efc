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
	"time"
)

// Msg is one ZeroMQ message: one or more frames. Frames returned by Recv
// belong to the caller; frames passed to Send are copied before Send returns.
type Msg [][]byte

// NewMsg makes a message of the given frames.
func NewMsg(frames ...[]byte) Msg { return Msg(frames) }

// inbound is a batch of messages read from one connection: their frames
// back to back, and where each message ends in frames. ends holds no
// pointers (the garbage collector skips it) and is recycled once consumed;
// frames is not, as the messages handed out alias it. c is nil for
// messages the socket makes itself (XPUB's cancellations).
type inbound struct {
	c      *conn
	frames [][]byte
	ends   []int32
}

// Socket is a ZeroMQ socket of one Type. Its methods are safe for concurrent
// use, though, as with libzmq, concurrent Sends (or Recvs) on REQ and REP
// sockets interleave unpredictably.
type Socket struct {
	typ  Type
	pat  pattern
	tr   traits
	opts Options
	log  *slog.Logger
	hsf  rateLimit // handshake failures reported (logged, monitored)

	mu        sync.Mutex
	pipes     []*pipe       // routable queues and connecting endpoints' queues
	changed   chan struct{} // closed and replaced when waiters should look again
	waiters   int
	closed    bool
	authErr   error // the last authentication failure of a dialled connection
	dialErr   error // the last failed connection attempt, for timeout messages
	conns     map[net.Conn]struct{}
	listeners []net.Listener
	ipcPaths  []string
	endpoints []string
	draining  atomic.Int32 // Flush or Close waits for writes: writers broadcast when done

	dialCtx    context.Context
	dialCancel context.CancelFunc
	closing    chan struct{}
	authFailed chan struct{}
	authOnce   sync.Once
	wg         sync.WaitGroup
	recvq      chan inbound
	freeEnds   chan []int32 // consumed batches' ends, for the readers to reuse
	maxBatch   int
	pingHook   func() // tests: called after answering a PING
	pongHook   func() // tests: called when a PONG arrives

	rmu      sync.Mutex // serialises Recv
	cur      inbound    // the batch Recv takes from; guarded by rmu
	curPos   int        // next message of cur
	curFrame int        // its first frame
}

// New makes a socket of type typ. It has no endpoints until Bind or Connect.
func New(typ Type, opts Options) (*Socket, error) {
	mk, ok := patterns[typ]
	if !ok {
		return nil, fmt.Errorf("msg: unknown socket type %q", string(typ))
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{
		typ:        typ,
		opts:       opts,
		log:        opts.Logger.With("socket", string(typ)),
		changed:    make(chan struct{}),
		conns:      map[net.Conn]struct{}{},
		dialCtx:    ctx,
		dialCancel: cancel,
		closing:    make(chan struct{}),
		authFailed: make(chan struct{}),
		hsf:        rateLimit{burst: 10, every: time.Second},
	}
	s.pat = mk(s)
	s.tr = s.pat.traits()
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

// Send queues m for the socket type's routing (see each type's pattern) and
// returns once it is queued (copied). It blocks while no queue can take it
// — every queue at its HWM, or no peer to route to — until ctx ends
// (ErrTimeout on a deadline), and never drops a message silently, except
// where the type says so (PUB, XPUB and XSUB skip peers whose queue is
// full).
func (s *Socket) Send(ctx context.Context, m Msg) error {
	if len(m) == 0 {
		return fmt.Errorf("msg: send: empty message (a message has at least one frame)")
	}
	if !s.tr.canSend {
		return fmt.Errorf("%w: %s sockets cannot send", ErrState, s.typ)
	}
	return s.pat.send(ctx, m)
}

// doneCtx is an already-cancelled context: Send with it never waits.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// TrySend queues m if that needs no waiting (like ZMQ_DONTWAIT). It
// reports false, with no error, when Send would have to wait.
func (s *Socket) TrySend(m Msg) (bool, error) {
	err := s.Send(doneCtx, m)
	if err != nil && errors.Is(err, context.Canceled) {
		return false, nil
	}
	return err == nil, err
}

// waitSendLocked waits for a change that may let a send through, and
// explains why it could not when ctx ends. s.mu held.
func (s *Socket) waitSendLocked(ctx context.Context) error {
	live := s.liveLocked()
	if s.authErr != nil && live == 0 {
		return s.authErr
	}
	if err := s.waitLocked(ctx); err != nil {
		if live == 0 {
			return s.noPeerErrLocked("send", err)
		}
		return fmt.Errorf("msg: send: every peer's queue is full (%d messages, --hwm): %w", s.opts.HWM, err)
	}
	return nil
}

// Recv returns the next message, fair-queued across peers, blocking until
// one arrives or ctx ends (ErrTimeout on a deadline). Heartbeats and
// subscriptions never surface (XPUB's are its messages); the type's
// pattern decides what else the application sees.
func (s *Socket) Recv(ctx context.Context) (Msg, error) {
	if !s.tr.filters {
		// Fast path: a message of a batch already taken off the queue,
		// without the waiting machinery (or a deferred unlock).
		s.rmu.Lock()
		if m, ok := s.take(); ok {
			s.rmu.Unlock()
			return m, nil
		}
		s.rmu.Unlock()
	}
	if !s.tr.canRecv {
		return nil, fmt.Errorf("%w: %s sockets cannot receive", ErrState, s.typ)
	}
	s.rmu.Lock()
	m, err := s.recvLocked(ctx)
	s.rmu.Unlock()
	return m, err
}

// recvLocked is Recv's general path. s.rmu held.
func (s *Socket) recvLocked(ctx context.Context) (Msg, error) {
	s.mu.Lock()
	lost, err := s.pat.recvReady()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	authCh := s.authFailed
	for {
		if m, ok := s.takeAccepted(); ok {
			return m, nil
		}
		select {
		case in := <-s.recvq:
			s.cur = in
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.liveLocked() == 0 {
				return nil, s.noPeerErrLocked("recv", ctxErr(ctx))
			}
			return nil, fmt.Errorf("msg: recv: %w", ctxErr(ctx))
		case <-s.closing:
			return nil, ErrClosed
		case <-lost:
			// The reader hands over everything it read before the
			// connection ended, so a reply, if any, is queued by now.
			if m, ok := s.drainLocked(); ok {
				return m, nil
			}
			s.mu.Lock()
			err := s.pat.(*reqPattern).replyLost()
			s.mu.Unlock()
			return nil, err
		case <-authCh:
			s.mu.Lock()
			err := s.authErr
			n := s.liveLocked()
			s.mu.Unlock()
			if err != nil && n == 0 {
				return nil, err
			}
			authCh = nil // a later connection succeeded, or peers remain
		}
	}
}

// takeAccepted returns the next message of the current batch that the
// pattern accepts, if any. s.rmu held.
func (s *Socket) takeAccepted() (Msg, bool) {
	for {
		c := s.cur.c
		m, ok := s.take()
		if !ok {
			return nil, false
		}
		if !s.tr.filters {
			return m, true
		}
		if m, ok := s.pat.accept(c, m); ok {
			return m, true
		}
	}
}

// take returns the next message of the current batch, if any, and recycles
// the batch once it is used up. s.rmu held.
func (s *Socket) take() (Msg, bool) {
	if s.curPos >= len(s.cur.ends) {
		return nil, false
	}
	start, end := s.curFrame, int(s.cur.ends[s.curPos])
	m := Msg(s.cur.frames[start:end:end])
	s.curPos++
	s.curFrame = end
	if s.curPos == len(s.cur.ends) {
		select {
		case s.freeEnds <- s.cur.ends[:0]:
		default:
		}
		s.cur, s.curPos, s.curFrame = inbound{}, 0, 0
	}
	return m, true
}

// drainLocked looks through every batch already queued for an acceptable
// message, without waiting. s.rmu held.
func (s *Socket) drainLocked() (Msg, bool) {
	for {
		if m, ok := s.takeAccepted(); ok {
			return m, true
		}
		select {
		case in := <-s.recvq:
			s.cur = in
		default:
			return nil, false
		}
	}
}

// freshEnds returns an empty ends slice for a new batch, reusing one that
// Recv has finished with when it can.
func (s *Socket) freshEnds() []int32 {
	select {
	case e := <-s.freeEnds:
		return e
	default:
		return make([]int32, 0, s.maxBatch)
	}
}

// deliverLocked queues single-frame messages the socket made itself for
// Recv, without blocking the caller. s.mu held.
func (s *Socket) deliverLocked(msgs [][]byte) {
	if len(msgs) == 0 || s.closed {
		return
	}
	ends := make([]int32, len(msgs))
	for i := range msgs {
		ends[i] = int32(i + 1)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.recvq <- inbound{frames: msgs, ends: ends}:
		case <-s.closing:
		}
	}()
}

// Buffered reports whether a message has already arrived, so Recv would not
// wait (except for messages Recv then discards). Output loops use it to
// flush only when no more messages are due.
func (s *Socket) Buffered() bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.curPos < len(s.cur.ends) || len(s.recvq) > 0
}

// broadcastLocked wakes every goroutine waiting for a change. s.mu held.
func (s *Socket) broadcastLocked() {
	if s.waiters > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
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

// liveLocked counts the pipes with a connection. s.mu held.
func (s *Socket) liveLocked() int {
	n := 0
	for _, p := range s.pipes {
		if p.live() {
			n++
		}
	}
	return n
}

// Peers returns the number of connected peers (handshake completed).
func (s *Socket) Peers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked()
}

// readier is implemented by patterns whose peers count for WaitPeers only
// once they have done something (PUB: subscribed).
type readier interface{ ready(p *pipe) bool }

// WaitPeers blocks until at least n peers are connected — for PUB and
// XPUB, until n peers have subscribed to something — so that a sender does
// not start before its peers (a PUB drops what nobody subscribed to). It
// fails with ErrTimeout when ctx expires first.
func (s *Socket) WaitPeers(ctx context.Context, n int) error {
	rd, _ := s.pat.(readier)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return ErrClosed
		}
		ready := 0
		for _, p := range s.pipes {
			if p.live() && (rd == nil || rd.ready(p)) {
				ready++
			}
		}
		if ready >= n {
			return nil
		}
		live := s.liveLocked()
		if s.authErr != nil && live == 0 {
			return s.authErr
		}
		if err := s.waitLocked(ctx); err != nil {
			if live == 0 {
				return s.noPeerErrLocked(fmt.Sprintf("waiting for %d peer(s)", n), err)
			}
			return fmt.Errorf("msg: waiting for %d peer(s), %d ready: %w", n, ready, err)
		}
	}
}

// Flush waits until every message queued so far has been handed to a
// connection (the kernel's socket buffer), so that a sender that is about
// to exit knows whether anything was left behind. It fails with ErrTimeout,
// saying how many messages are still queued and why (no peer, peers not
// reading), when ctx ends first, and with the authentication error when
// that is why.
func (s *Socket) Flush(ctx context.Context) error {
	s.draining.Add(1)
	defer s.draining.Add(-1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n, busy := s.unsentLocked()
		if n == 0 && !busy {
			return nil
		}
		if s.closed {
			return ErrClosed
		}
		live := s.liveLocked()
		if s.authErr != nil && live == 0 {
			return fmt.Errorf("%w; %d message(s) not delivered", s.authErr, n)
		}
		if err := s.waitLocked(ctx); err != nil {
			n, _ := s.unsentLocked()
			what := fmt.Sprintf("%d message(s) not delivered", n)
			if n == 0 {
				what = "a write did not complete"
			}
			if live == 0 {
				return s.noPeerErrLocked(what, err)
			}
			return fmt.Errorf("msg: %s: the peers are not reading: %w", what, err)
		}
	}
}

// unsentLocked counts the messages queued and not written, and reports
// whether a write is in progress. s.mu held.
func (s *Socket) unsentLocked() (n int, busy bool) {
	for _, p := range s.pipes {
		n += p.npending
		if p.c != nil && (p.c.writing.Load() || p.c.carry != nil || len(p.pending) > 0) {
			busy = true
		}
	}
	return n, busy
}

// ctxErr turns an expired deadline into ErrTimeout (still matching
// context.DeadlineExceeded) and passes cancellation through.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimedOut
	}
	return err
}

// timeoutError is ErrTimeout that is also context.DeadlineExceeded, without
// saying so in its message.
type timeoutError struct{}

func (timeoutError) Error() string { return "timed out" }
func (timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}
func (timeoutError) Timeout() bool { return true }

var errTimedOut error = timeoutError{}

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
	var live []*conn
	for _, p := range s.pipes {
		if p.c != nil {
			live = append(live, p.c)
		}
	}
	s.mu.Unlock()
	for _, c := range live {
		c.close(ErrClosed)
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	for _, path := range s.ipcPaths {
		_ = os.Remove(path)
	}
	s.event(Event{Kind: EventClosed})
	return nil
}

// linger waits until every live connection's queue has been written, at
// most Options.Linger.
func (s *Socket) linger() {
	if s.opts.Linger < 0 {
		return
	}
	s.draining.Add(1)
	defer s.draining.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Linger)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		busy := false
		for _, p := range s.pipes {
			if p.c != nil && (len(p.pending) > 0 || p.c.writing.Load() || p.c.carry != nil) {
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
