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

// inbound is a batch of messages read from one peer.
type inbound struct {
	p    *peer
	msgs []Msg
}

// Socket is a ZeroMQ socket of one Type. Its methods are safe for concurrent
// use, though, as with libzmq, concurrent Sends (or Recvs) on REQ and REP
// sockets interleave unpredictably.
type Socket struct {
	typ  Type
	opts Options
	log  *slog.Logger

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
	maxBatch    int
	rmu         sync.Mutex // serialises Recv
	cur         inbound
	curPos      int
	subAllLocal bool
	pingHook    func() // tests: called after answering a PING
	pongHook    func() // tests: called when a PONG arrives
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
	s.maxBatch = max(1, min(256, opts.HWM/8))
	s.recvq = make(chan inbound, 8)
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

// Bind listens on endpoint and accepts peers in the background. It returns
// the endpoint actually bound (ephemeral tcp ports resolved).
func (s *Socket) Bind(endpoint string) (string, error) {
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	var l net.Listener
	bound := ep.String()
	switch ep.Transport {
	case "tcp":
		l, err = net.Listen("tcp", ep.listenAddr())
		if err == nil {
			bound = "tcp://" + l.Addr().String()
		}
	case "ipc":
		if fi, e := os.Stat(ep.Addr); e == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(ep.Addr)
		}
		l, err = net.Listen("unix", ep.Addr)
	case "inproc":
		l, err = listenInproc(ep.Addr)
	}
	if err != nil {
		return "", fmt.Errorf("msg: bind %s: %w", endpoint, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return "", ErrClosed
	}
	s.listeners = append(s.listeners, l)
	if ep.Transport == "ipc" {
		s.ipcPaths = append(s.ipcPaths, ep.Addr)
	}
	s.endpoints = append(s.endpoints, bound)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(l, bound)
	s.log.Debug("bound", "endpoint", bound)
	return bound, nil
}

// Connect dials endpoint in the background, and again with back-off whenever
// the connection fails or drops, until Close.
func (s *Socket) Connect(endpoint string) error {
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return err
	}
	if ep.Transport == "tcp" {
		if _, port, _ := splitHostPort(ep.Addr); port == "*" || port == "0" {
			return fmt.Errorf("%w %q: connect needs a port", ErrEndpoint, endpoint)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.wg.Add(1)
	go s.dialLoop(ep)
	return nil
}

func splitHostPort(a string) (string, string, error) { return net.SplitHostPort(a) }

func (s *Socket) acceptLoop(l net.Listener, endpoint string) {
	defer s.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			// Out of file descriptors or similar: back off instead of spinning.
			s.log.Warn("accept failed", "endpoint", endpoint, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.closing:
				t.Stop()
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p, err := s.setup(c, true)
			if err != nil {
				s.untrack(c)
				c.Close()
				s.logHandshakeErr(err, c, endpoint)
				return
			}
			p.readLoop()
		}()
	}
}

func (s *Socket) logHandshakeErr(err error, c net.Conn, endpoint string) {
	if errors.Is(err, ErrAuth) {
		s.log.Warn("authentication failed", "remote", c.RemoteAddr().String(), "endpoint", endpoint, "err", err)
		return
	}
	s.log.Info("handshake failed", "remote", c.RemoteAddr().String(), "endpoint", endpoint, "err", err)
}

func (s *Socket) dialLoop(ep Endpoint) {
	defer s.wg.Done()
	backoff := s.opts.ReconnectMin
	for {
		if s.isClosed() {
			return
		}
		c, err := s.dial(ep)
		if err == nil {
			if !s.track(c) {
				c.Close()
				return
			}
			var p *peer
			p, err = s.setup(c, false)
			if err == nil {
				backoff = s.opts.ReconnectMin
				p.readLoop()
				s.log.Debug("disconnected", "endpoint", ep.String(), "err", p.err)
			} else {
				s.untrack(c)
				c.Close()
				if errors.Is(err, ErrAuth) {
					s.setAuthErr(fmt.Errorf("%w (%s)", err, ep))
					s.log.Warn("authentication failed", "endpoint", ep.String(), "err", err)
				} else {
					s.setDialErr(fmt.Errorf("%s: %w", ep, err))
					s.log.Info("handshake failed", "endpoint", ep.String(), "err", err)
				}
			}
		} else {
			s.setDialErr(err)
			s.log.Debug("connect failed", "endpoint", ep.String(), "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
		backoff = min(2*backoff, s.opts.ReconnectMax)
	}
}

func (s *Socket) dial(ep Endpoint) (net.Conn, error) {
	switch ep.Transport {
	case "tcp":
		d := net.Dialer{Timeout: s.opts.HandshakeTimeout}
		c, err := d.DialContext(s.dialCtx, "tcp", ep.Addr)
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
		}
		return c, err
	case "ipc":
		d := net.Dialer{Timeout: s.opts.HandshakeTimeout}
		return d.DialContext(s.dialCtx, "unix", ep.Addr)
	default:
		return dialInproc(ep.Addr, s.closing)
	}
}

func (s *Socket) setAuthErr(err error) {
	s.mu.Lock()
	s.authErr = err
	s.broadcastLocked()
	s.mu.Unlock()
	s.authOnce.Do(func() { close(s.authFailed) })
}

func (s *Socket) setDialErr(err error) {
	s.mu.Lock()
	s.dialErr = err
	s.mu.Unlock()
}

// noPeerErrLocked explains a timeout with no peer connected. s.mu held.
func (s *Socket) noPeerErrLocked(what string, err error) error {
	if s.dialErr != nil {
		return fmt.Errorf("msg: %s: no peer connected (last attempt: %v): %w", what, s.dialErr, err)
	}
	return fmt.Errorf("msg: %s: no peer connected: %w", what, err)
}

func (s *Socket) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

func (s *Socket) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Socket) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// setup runs the handshake on c and registers the new peer.
func (s *Socket) setup(c net.Conn, accepted bool) (*peer, error) {
	fr := newFrameReader(c, s.opts.MaxMessageSize)
	var sec securityMech = nullMechanism{}
	server := false
	if s.opts.Plain != nil {
		sec = &plainMechanism{auth: s.opts.Plain}
		server = accepted
	}
	peerType, peerID, err := handshake(c, fr, sec, s.typ, s.opts.Identity, server, s.opts.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	p := &peer{
		s:      s,
		conn:   c,
		fr:     fr,
		typ:    peerType,
		remote: c.RemoteAddr().String(),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		subs:   map[string]int{},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.typ == Router {
		if len(peerID) == 0 || s.byID[string(peerID)] != nil {
			if len(peerID) > 0 {
				s.log.Warn("duplicate peer identity, assigning another", "identity", fmt.Sprintf("%q", peerID), "remote", p.remote)
			}
			s.nextID++
			peerID = routerID(s.nextID)
		}
		s.byID[string(peerID)] = p
	}
	p.id = peerID
	if s.typ == Sub {
		for t := range s.subs {
			p.pending = appendMsg(p.pending, nil, [][]byte{subscription(1, t)})
		}
		if len(p.pending) > 0 {
			signal(p.wake)
		}
	}
	s.peers = append(s.peers, p)
	s.broadcastLocked()
	s.wg.Add(1)
	s.mu.Unlock()
	go p.writeLoop()
	s.log.Debug("peer connected", "remote", p.remote, "type", peerType)
	return p, nil
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
