package msg

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

// Connection management: listeners accept peers, dialers connect (and
// reconnect with back-off), and every new connection runs its handshake in
// its own goroutine, which then becomes the connection's reader.

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
		return "", fmt.Errorf("msg: bind %s: %w", endpoint, plainNetErr(err))
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
	s.event(Event{Kind: EventListening, Endpoint: bound})
	return bound, nil
}

// Connect dials endpoint in the background, and again with back-off whenever
// the connection fails or drops, until Close. Unless Options.Immediate, the
// endpoint's queue exists at once: messages routed to it wait there for the
// connection, as with libzmq.
func (s *Socket) Connect(endpoint string) error {
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return err
	}
	if ep.Transport == "tcp" {
		if _, port, _ := net.SplitHostPort(ep.Addr); port == "*" || port == "0" {
			return fmt.Errorf("%w %q: connect needs a port", ErrEndpoint, endpoint)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var p *pipe
	if !s.opts.Immediate {
		p = newPipe(s, ep.String())
		p.routable = s.tr.early
		s.pipes = append(s.pipes, p)
		s.broadcastLocked()
	}
	s.wg.Add(1)
	go s.dialLoop(ep, p)
	return nil
}

func (s *Socket) acceptLoop(l net.Listener, endpoint string) {
	defer s.wg.Done()
	delay := 5 * time.Millisecond
	for {
		nc, err := l.Accept()
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
		if !s.track(nc) {
			nc.Close()
			return
		}
		s.event(Event{Kind: EventAccepted, Endpoint: endpoint, Remote: nc.RemoteAddr().String()})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c, err := s.setup(nc, true, nil, endpoint)
			if err != nil {
				s.untrack(nc)
				nc.Close()
				s.handshakeFailed(err, endpoint, nc.RemoteAddr().String())
				return
			}
			c.readLoop()
		}()
	}
}

// handshakeFailed logs and reports a failed handshake, at a bounded rate:
// a port scanner or a misconfigured client in a loop must not flood the
// log.
func (s *Socket) handshakeFailed(err error, endpoint, remote string) {
	suppressed, ok := s.hsf.allow(time.Now())
	if !ok {
		return
	}
	args := []any{"endpoint", endpoint, "remote", remote, "err", err}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	if errors.Is(err, ErrAuth) {
		s.log.Warn("authentication failed", args...)
	} else {
		s.log.Info("handshake failed", args...)
	}
	s.event(Event{Kind: EventHandshakeFailed, Endpoint: endpoint, Remote: remote, Reason: err.Error(), Suppressed: suppressed})
}

func (s *Socket) dialLoop(ep Endpoint, p *pipe) {
	defer s.wg.Done()
	endpoint := ep.String()
	backoff := s.opts.ReconnectMin
	for {
		if s.isClosed() {
			return
		}
		nc, err := s.dial(ep)
		if err == nil {
			if !s.track(nc) {
				nc.Close()
				return
			}
			s.event(Event{Kind: EventConnected, Endpoint: endpoint, Remote: nc.RemoteAddr().String()})
			var c *conn
			c, err = s.setup(nc, false, p, endpoint)
			if err == nil {
				backoff = s.opts.ReconnectMin
				c.readLoop()
			} else {
				s.untrack(nc)
				nc.Close()
				if errors.Is(err, ErrAuth) {
					s.setAuthErr(fmt.Errorf("%w (%s)", err, endpoint))
				} else {
					s.setDialErr(fmt.Errorf("%s: %w", endpoint, err))
				}
				s.handshakeFailed(err, endpoint, nc.RemoteAddr().String())
			}
		} else {
			s.setDialErr(plainNetErr(err))
			s.log.Debug("connect failed", "endpoint", endpoint, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
		s.event(Event{Kind: EventConnectRetried, Endpoint: endpoint, Reason: fmt.Sprintf("after %v", backoff)})
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

// plainNetErr drops Go's "dial tcp 127.0.0.1:5: connect:" wrapping from a
// network error, keeping what the user can act on.
func plainNetErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
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

// setup runs the handshake on nc and attaches the new connection to p (a
// connecting endpoint's queue), or to a new pipe when p is nil.
func (s *Socket) setup(nc net.Conn, accepted bool, p *pipe, endpoint string) (*conn, error) {
	fr := newFrameReader(nc, s.opts.MaxMessageSize)
	mech, server := s.mechanism(accepted)
	hs, err := handshake(nc, fr, mech, s.typ, s.tr, s.opts.Identity, server, s.opts.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	c := &conn{
		nc:       nc,
		fr:       fr,
		box:      hs.box,
		peerType: hs.peerType,
		peerID:   hs.peerID,
		remote:   nc.RemoteAddr().String(),
		endpoint: endpoint,
		done:     make(chan struct{}),
	}
	if hs.box != nil {
		fr.r = hs.box.reader(nc, s.opts.MaxMessageSize)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	fresh := p == nil
	if fresh {
		p = newPipe(s, "")
	}
	c.p = p
	p.c, p.addr = c, c.remote
	if err := s.pat.attach(p); err != nil {
		p.c, p.addr = nil, p.endpoint
		s.mu.Unlock()
		return nil, err
	}
	p.routable = true
	if fresh {
		s.pipes = append(s.pipes, p)
	}
	if !accepted {
		s.authErr, s.dialErr = nil, nil // a connection works again
	}
	if len(p.pending) > 0 {
		signal(p.wake)
	}
	s.broadcastLocked()
	s.wg.Add(1)
	s.mu.Unlock()
	go c.writeLoop()
	s.log.Debug("peer connected", "remote", c.remote, "type", c.peerType)
	s.event(Event{Kind: EventHandshakeSucceeded, Endpoint: endpoint, Remote: c.remote, PeerType: c.peerType, Mechanism: string(mech.Type())})
	return c, nil
}

// connGone detaches a connection that ended from its pipe: an accepted
// peer's pipe goes with it; a connecting endpoint's pipe stays, queue and
// all (traits().keepQueue), for the next connection.
func (s *Socket) connGone(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.nc)
	p := c.p
	if p == nil || p.c != c {
		s.mu.Unlock()
		return
	}
	s.pat.detach(p)
	p.c, p.addr = nil, p.endpoint
	if !s.tr.keepQueue {
		p.pending, p.npending = nil, 0
	}
	if p.endpoint == "" || s.opts.Immediate {
		s.removePipeLocked(p)
	} else {
		p.routable = s.tr.early
	}
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Debug("disconnected", "remote", c.remote, "err", c.err)
	reason := ""
	switch {
	case c.err == nil, errors.Is(c.err, ErrClosed):
	case errors.Is(c.err, io.EOF):
		reason = "closed by the peer"
	default:
		reason = c.err.Error()
	}
	s.event(Event{Kind: EventDisconnected, Endpoint: c.endpoint, Remote: c.remote, Reason: reason})
}

// removePipeLocked forgets p. s.mu held.
func (s *Socket) removePipeLocked(p *pipe) {
	if i := slices.Index(s.pipes, p); i >= 0 {
		s.pipes = slices.Delete(s.pipes, i, i+1)
	}
}
