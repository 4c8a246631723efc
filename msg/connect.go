package msg

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Connection management: listeners accept peers, dialers connect (and
// reconnect with back-off), and every new connection runs its handshake in
// its own goroutine, which then becomes the peer's reader.

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
	if !accepted {
		s.authErr, s.dialErr = nil, nil // a connection works again
	}
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
