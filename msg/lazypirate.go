package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Requester is a reliable REQ client in the Lazy Pirate way (ZeroMQ guide,
// chapter 4): each request waits at most Timeout for its reply; on timeout
// the REQ socket is closed and a fresh one resends the request, up to
// Retries more times. Because the socket that sent a request is discarded
// when it times out, a late reply can never be taken for a later request.
type Requester struct {
	// Connect lists the endpoints the REQ socket connects to; Bind those it
	// binds.
	Connect, Bind []string
	Options       Options
	// Timeout bounds each attempt (send and reply). Default 5s.
	Timeout time.Duration
	// Retries is the number of resends after the first attempt; negative
	// means none. Default 0 (set it explicitly: the CLI default is 3).
	Retries int

	sock *Socket
}

func (r *Requester) socket() (*Socket, error) {
	if r.sock != nil {
		return r.sock, nil
	}
	s, err := New(Req, r.Options)
	if err != nil {
		return nil, err
	}
	for _, ep := range r.Bind {
		if _, err := s.Bind(ep); err != nil {
			s.Close()
			return nil, err
		}
	}
	for _, ep := range r.Connect {
		if err := s.Connect(ep); err != nil {
			s.Close()
			return nil, err
		}
	}
	r.sock = s
	return s, nil
}

// discard closes the current socket without lingering.
func (r *Requester) discard() {
	if r.sock != nil {
		r.sock.opts.Linger = -1
		r.sock.Close()
		r.sock = nil
	}
}

// Request sends m and returns its reply. A timed-out attempt, or one whose
// server disconnected before replying, is retried on a fresh socket. It
// fails with ErrTimeout or ErrPeerGone (naming the endpoints) after the last
// retry, with ErrAuth at once when the server
// refuses our credentials, and with ctx's error when ctx is cancelled.
func (r *Requester) Request(ctx context.Context, m Msg) (Msg, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	attempts := 1 + max(0, r.Retries)
	var last error
	for i := 0; i < attempts; i++ {
		s, err := r.socket()
		if err != nil {
			return nil, err
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		reply, err := r.attempt(actx, s, m)
		cancel()
		if err == nil {
			return reply, nil
		}
		if ctx.Err() != nil {
			r.discard()
			return nil, ctxErr(ctx)
		}
		if errors.Is(err, ErrAuth) || !(errors.Is(err, ErrTimeout) || errors.Is(err, ErrPeerGone)) {
			r.discard()
			return nil, err
		}
		last = err
		r.sock.mu.Lock()
		if r.sock.dialErr != nil {
			last = r.sock.dialErr
		}
		r.sock.mu.Unlock()
		if i+1 < attempts {
			r.logger().Warn("no reply, retrying with a new socket",
				"endpoint", r.endpoints(), "attempt", i+1, "of", attempts, "err", err)
		}
		r.discard()
	}
	sentinel := ErrTimeout
	if errors.Is(last, ErrPeerGone) {
		sentinel = ErrPeerGone
	}
	if last != nil && !errors.Is(last, ErrTimeout) {
		return nil, fmt.Errorf("%w: no reply from %s after %d attempt(s) of %v each (%v)",
			sentinel, r.endpoints(), attempts, timeout, last)
	}
	return nil, fmt.Errorf("%w: no reply from %s after %d attempt(s) of %v each",
		sentinel, r.endpoints(), attempts, timeout)
}

func (r *Requester) attempt(ctx context.Context, s *Socket, m Msg) (Msg, error) {
	if err := s.Send(ctx, m); err != nil {
		return nil, err
	}
	return s.Recv(ctx)
}

func (r *Requester) endpoints() string {
	return strings.Join(append(append([]string(nil), r.Connect...), r.Bind...), ", ")
}

// Close closes the current socket.
func (r *Requester) Close() error {
	if r.sock != nil {
		err := r.sock.Close()
		r.sock = nil
		return err
	}
	return nil
}

func (r *Requester) logger() *slog.Logger {
	if r.Options.Logger == nil {
		return discardLogger
	}
	return r.Options.Logger
}
