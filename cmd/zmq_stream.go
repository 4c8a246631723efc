package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

// zmqStreamOptions drive push, pull, pub, sub, dealer, router and pair:
// stdin to messages and/or messages to stdout.
type zmqStreamOptions struct {
	zmqFlags
	typ      msg.Type
	topics   []string // sub: prefixes to subscribe to
	topic    string   // pub: the topic frame to prepend
	peers    int
	peersSet bool
	// envelopes remembers which ROUTER peers sent an empty delimiter frame
	// (REQ peers) that text framings cannot show, so that the reply gets
	// it back.
	envelopes envelopes
}

var zmqStreamHelp = map[string][2]string{
	"push": {"Send stdin as messages on a PUSH socket, round-robin over the peers",
		"Each message of stdin goes to exactly one peer, round-robin (a ventilator). Each --connect\n" +
			"endpoint has its queue from the start (as with libzmq), so messages are spread over every\n" +
			"endpoint even before it is up; --immediate queues only for connected peers. With --bind (or\n" +
			"--peers N) it first waits, bounded by --timeout, for N peers. A message not delivered within\n" +
			"--timeout (no peer took it) exits 3."},
	"pull": {"Print messages received on a PULL socket",
		"Prints every message received (fair-queued over the peers) until --count messages, or until\n" +
			"interrupted; with --timeout (or zmq.timeout) set it exits 3 when nothing arrives for that long."},
	"pub": {"Publish stdin as messages on a PUB socket",
		"Publishes each message of stdin; --topic T prepends a topic frame. It first waits (bounded\n" +
			"by --timeout) for --peers subscribers to have subscribed, since a PUB drops what no subscriber\n" +
			"wants. A subscriber whose queue is full (--hwm) misses messages, as with libzmq."},
	"sub": {"Print messages received on a SUB socket",
		"Prints the messages that match a --topic prefix (repeatable; default everything)."},
	"dealer": {"Exchange messages on a DEALER socket: stdin out, replies to stdout",
		"Sends each message of stdin (round-robin over the peers) and prints what arrives. It stops\n" +
			"after --count messages received, or when stdin has ended and nothing arrived for --timeout:\n" +
			"exit 3 when a message was not delivered or fewer than --count arrived. To talk to a REP, send\n" +
			"the empty delimiter frame yourself: --framing json and {\"frames\": [\"\", \"Hello\"]}."},
	"router": {"Exchange messages on a ROUTER socket, addressed by peer identity",
		"Prints each message with the identity of the peer it came from (text: identity, a tab, then\n" +
			"the message; -o json: the \"identity\" field; binary identities show as 0x and hex). Each\n" +
			"message of stdin is addressed the same way: IDENTITY<TAB>body (--framing frames: the first\n" +
			"frame is the identity; --framing json: the \"identity\" field). In the text framings a REQ\n" +
			"peer's empty delimiter frame is not shown and a reply to that peer gets it back, so that\n" +
			"router answers REQ clients line by line. An unknown identity is an error."},
	"pair": {"Exchange messages with one peer on a PAIR socket",
		"Sends stdin to the peer and prints what arrives, like dealer, to a single peer; exit 3 when a\n" +
			"message was not delivered."},
}

func newZmqStreamCmd(app *App, name string) *cobra.Command {
	o := &zmqStreamOptions{}
	typ, _ := msg.ParseType(name)
	o.typ = typ
	help := zmqStreamHelp[name]
	c := &cobra.Command{
		Use:   name,
		Short: help[0],
		Long:  help[0] + ".\n\n" + help[1],
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.parse(c, app); err != nil {
				return err
			}
			if o.peers < 0 {
				return usageErrorf("--peers: expected a number >= 0, got %d", o.peers)
			}
			o.peersSet = c.Flags().Changed("peers")
			if err := o.resolve(c, app, ""); err != nil {
				return err
			}
			if o.peersSet && len(o.bind) == 0 && o.peers > len(o.connect) && o.typ != msg.Pub {
				return usageErrorf("--peers %d: only %d --connect endpoint(s) and no --bind", o.peers, len(o.connect))
			}
			return runZmqStream(c.Context(), app, o)
		},
	}
	addZmqFlags(c, &o.zmqFlags, true)
	switch name {
	case "pub":
		c.Flags().StringVar(&o.topic, "topic", "", "prepend this topic frame to every message")
	case "sub":
		c.Flags().StringArrayVar(&o.topics, "topic", nil, "subscribe to this topic prefix (repeatable; default everything)")
	case "dealer", "router":
		addIdentityFlag(c, &o.zmqFlags)
	}
	switch name {
	case "push", "pub", "dealer", "pair":
		peersHelp := "wait for this many connected peers before sending (with --bind, or given with --connect)"
		if name == "pub" {
			peersHelp = "wait for this many subscribers before publishing"
		}
		c.Flags().IntVar(&o.peers, "peers", 1, peersHelp)
	}
	c.Example = zmqStreamExample(name)
	return c
}

func zmqStreamExample(name string) string {
	switch name {
	case "push":
		return "  seq 1000 | dsys zmq push --bind tcp://*:5557 --peers 2"
	case "pull":
		return "  dsys zmq pull --bind tcp://*:5558 --count 1000 > results.txt"
	case "pub":
		return "  tail -f app.log | dsys zmq pub --bind tcp://*:5556 --topic log"
	case "sub":
		return "  dsys zmq sub --connect tcp://localhost:5556 --topic log -o json"
	case "router":
		return "  dsys zmq router --bind tcp://*:5560 --count 1"
	case "dealer":
		return "  echo '{\"frames\": [\"\", \"Hello\"]}' | dsys zmq dealer --connect tcp://localhost:5555 --framing json --count 1"
	}
	return "  echo hello | dsys zmq " + name + " --connect tcp://localhost:5560 --count 1"
}

func runZmqStream(ctx context.Context, app *App, o *zmqStreamOptions) error {
	opts, err := zmqOptions(app, &o.zmqFlags)
	if err != nil {
		return err
	}
	s, err := openZmq(app, &o.zmqFlags, o.typ, opts, o.bind, o.connect)
	if err != nil {
		return err
	}
	defer s.Close()
	if o.typ == msg.Sub {
		topics := o.topics
		if len(topics) == 0 {
			topics = []string{""}
		}
		for _, t := range topics {
			if err := s.Subscribe(t); err != nil {
				return err
			}
		}
	}
	sends := o.typ != msg.Pull && o.typ != msg.Sub
	recvs := o.typ != msg.Push && o.typ != msg.Pub
	if !recvs {
		return zmqError(streamSend(ctx, app, o, s))
	}
	if !sends {
		return zmqError(streamRecv(ctx, app, o, s, nil))
	}
	// Both directions: stdin feeds the socket while replies are printed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sendDone := make(chan error, 1)
	go func() { sendDone <- streamSend(ctx, app, o, s) }()
	err = streamRecv(ctx, app, o, s, sendDone)
	cancel()
	return zmqError(err)
}

// streamSend sends every message of stdin (up to --count for send-only
// sockets), then waits (at most --timeout) until all are delivered.
func streamSend(ctx context.Context, app *App, o *zmqStreamOptions, s *msg.Socket) error {
	z := app.Config.Zmq
	// A PUB always waits for subscribers, since it drops what no
	// subscriber wants; others wait when binding (nothing is queued for
	// peers that have not come) or when asked.
	if o.peers > 0 && o.typ != msg.Router && (o.typ == msg.Pub || len(o.bind) > 0 || o.peersSet) {
		if err := waitPeers(ctx, s, o.peers, z.Timeout); err != nil {
			return err
		}
	}
	r := newMsgReader(app.IO.In, o.framing, int64(z.MaxMessageSize))
	var topic []byte
	if o.typ == msg.Pub && o.topic != "" {
		topic = []byte(o.topic)
	}
	sendOnly := o.typ == msg.Push || o.typ == msg.Pub
	buf := make(msg.Msg, 0, 4)
	n := 0
	for ; !sendOnly || o.count == 0 || n < o.count; n++ {
		in, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		m := in.frames
		if topic != nil {
			buf = append(append(buf[:0], topic), m...)
			m = buf
		}
		switch {
		case o.typ == msg.Router:
			if m, err = o.addressed(in, o.framing, n+1, buf[:0]); err != nil {
				return err
			}
		case in.identity != nil:
			return usageErrorf("stdin message %d: \"identity\" addresses ROUTER peers; %s sockets take none", n+1, o.typ)
		}
		if err := sendWithin(ctx, s, m, z.Timeout); err != nil {
			return fmt.Errorf("message %d: %w", n+1, err)
		}
	}
	if err := flushWithin(ctx, s, z.Timeout); err != nil {
		return fmt.Errorf("%w (of %d sent; --timeout %v)", err, n, z.Timeout)
	}
	return nil
}

// addressed splits the identity off a ROUTER input message, and gives a
// REQ peer's reply its empty delimiter back in the text framings.
func (o *zmqStreamOptions) addressed(in inMsg, f framing, n int, buf msg.Msg) (msg.Msg, error) {
	var id []byte
	var body msg.Msg
	switch {
	case f == framingJSON:
		if in.identity == nil {
			return nil, usageErrorf("stdin message %d: ROUTER input needs an \"identity\"", n)
		}
		return append(append(buf, in.identity), in.frames...), nil
	case f == framingFrames:
		if len(in.frames) < 2 {
			return nil, usageErrorf("stdin message %d: ROUTER input needs an identity frame and a body", n)
		}
		var err error
		if id, err = parseIdentity(in.frames[0]); err != nil {
			return nil, usageErrorf("stdin message %d: %v", n, err)
		}
		body = in.frames[1:]
	default:
		idText, b, ok := bytes.Cut(in.frames[0], []byte("\t"))
		if !ok {
			return nil, usageErrorf("stdin message %d: ROUTER input is IDENTITY<TAB>body, got %q", n, truncate(string(in.frames[0]), 40))
		}
		var err error
		if id, err = parseIdentity(idText); err != nil {
			return nil, usageErrorf("stdin message %d: %v", n, err)
		}
		body = msg.Msg{b}
	}
	buf = append(buf, id)
	if o.envelopes.take(id) {
		buf = append(buf, nil)
	}
	return append(buf, body...), nil
}

// envelopes counts, per ROUTER peer, the requests whose empty delimiter
// the text output did not show: that many replies get it back.
type envelopes struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *envelopes) add(id []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[string(id)]++
}

func (e *envelopes) take(id []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n[string(id)] == 0 {
		return false
	}
	if e.n[string(id)]--; e.n[string(id)] == 0 {
		delete(e.n, string(id))
	}
	return true
}

// streamRecv prints received messages until --count, interruption, or an
// idle --timeout. sendDone, for two-way sockets, reports the end of stdin:
// after it, the idle timeout ends the run — normally, unless --count
// messages were expected.
func streamRecv(ctx context.Context, app *App, o *zmqStreamOptions, s *msg.Socket, sendDone <-chan error) error {
	z := app.Config.Zmq
	w := newMsgWriter(app.IO.Out, o.framing, app.JSON())
	defer w.Flush()
	stdinDone := sendDone == nil
	text := !w.json
	for n := 0; o.count == 0 || n < o.count; {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		twoWay := sendDone != nil
		idle := (twoWay && stdinDone) || (!twoWay && o.timeoutSet)
		if idle {
			rctx, cancel = context.WithTimeout(ctx, z.Timeout)
		}
		m, err := recvOrStdinEnd(rctx, s, sendDone, &stdinDone)
		cancel()
		if err == errStdinEnded {
			w.Flush()
			continue
		}
		var sf sendFailed
		if errors.As(err, &sf) {
			return sf.err // the run's error is the send's, not an idle receive
		}
		if err != nil {
			if errors.Is(err, msg.ErrTimeout) && ctx.Err() == nil {
				switch {
				case twoWay && o.count > 0:
					return withExitCode(ExitUnavailable, fmt.Errorf("received %d of %d messages: nothing more arrived within %v", n, o.count, z.Timeout))
				case twoWay:
					return nil // stdin is done and the peers have gone quiet
				}
				return withExitCode(ExitUnavailable, fmt.Errorf("nothing received for %v", z.Timeout))
			}
			return err
		}
		n++
		var id []byte
		if o.typ == msg.Router {
			id, m = m[0], m[1:]
			if text && len(m) > 1 && len(m[0]) == 0 {
				o.envelopes.add(id) // a REQ's envelope: shown without it, restored in its reply
				m = m[1:]
			}
		}
		if err := w.Write(m, id); err != nil {
			return err
		}
		msg.Release(m)
		if !s.Buffered() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

var errStdinEnded = errors.New("stdin ended")

// sendFailed carries the error of a two-way socket's sending side.
type sendFailed struct{ err error }

func (e sendFailed) Error() string { return e.err.Error() }

// recvOrStdinEnd receives; for a two-way socket whose stdin is still being
// sent it also watches the sender: a send error is returned, a clean end of
// stdin returns errStdinEnded (so the caller switches to the idle timeout).
func recvOrStdinEnd(ctx context.Context, s *msg.Socket, sendDone <-chan error, stdinDone *bool) (msg.Msg, error) {
	if *stdinDone {
		return s.Recv(ctx)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		m   msg.Msg
		err error
	}
	res := make(chan result, 1)
	go func() {
		m, err := s.Recv(rctx)
		res <- result{m, err}
	}()
	select {
	case r := <-res:
		return r.m, r.err
	case err := <-sendDone:
		*stdinDone = true
		cancel()
		r := <-res
		if err != nil {
			return nil, sendFailed{err} // the send failed: that is the run's error
		}
		if r.err == nil {
			return r.m, nil
		}
		return nil, errStdinEnded
	}
}
