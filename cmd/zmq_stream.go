package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

// zmqStreamOptions drive push, pull, pub, sub, dealer, router and pair:
// stdin to messages and/or messages to stdout.
type zmqStreamOptions struct {
	zmqFlags
	typ    msg.Type
	topics []string // sub: prefixes to subscribe to
	topic  string   // pub: the topic frame to prepend
	peers  int
}

var zmqStreamHelp = map[string][2]string{
	"push":   {"Send stdin as messages on a PUSH socket, round-robin over the peers", "Each message of stdin goes to exactly one peer, round-robin (a ventilator). With --bind it waits\n(bounded by --timeout) for --peers peers before sending, so that nothing is sent into the void\nand work is spread over every worker; a send no peer takes within --timeout exits 3."},
	"pull":   {"Print messages received on a PULL socket", "Prints every message received (fair-queued over the peers) until --count messages, or until\ninterrupted; with --timeout given it exits 3 when nothing arrives for that long."},
	"pub":    {"Publish stdin as messages on a PUB socket", "Publishes each message of stdin; --topic T prepends a topic frame. It first waits (bounded\nby --timeout) for --peers subscribers to have subscribed, since a PUB drops what no subscriber\nwants. A subscriber whose queue is full (--hwm) misses messages, as with libzmq."},
	"sub":    {"Print messages received on a SUB socket", "Prints the messages that match a --topic prefix (repeatable; default everything)."},
	"dealer": {"Exchange messages on a DEALER socket: stdin out, replies to stdout", "Sends each message of stdin (round-robin over the peers) and prints what arrives. It stops\nafter --count messages received, or when stdin has ended and nothing arrived for --timeout."},
	"router": {"Exchange messages on a ROUTER socket, addressed by peer identity", "Prints each message with the identity of the peer it came from (text: identity, a tab, then\nthe message; -o json: the \"identity\" field; binary identities show as 0x and hex). Each\nmessage of stdin is addressed the same way: IDENTITY<TAB>body (--framing frames: the first\nframe is the identity). An unknown identity is an error."},
	"pair":   {"Exchange messages with one peer on a PAIR socket", "Sends stdin to the peer and prints what arrives, like dealer, to a single peer."},
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
			if err := o.parse(c); err != nil {
				return err
			}
			if o.peers < 0 {
				return usageErrorf("--peers: expected a number >= 0, got %d", o.peers)
			}
			if err := o.resolve(c, app, ""); err != nil {
				return err
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
	}
	switch name {
	case "push", "pub", "dealer", "pair":
		peersHelp := "with --bind, wait for this many peers before sending"
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
	}
	return "  echo hello | dsys zmq " + name + " --connect tcp://localhost:5560 --count 1"
}

func runZmqStream(ctx context.Context, app *App, o *zmqStreamOptions) error {
	s, err := openZmq(app, o.typ, zmqOptions(app), o.bind, o.connect)
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
	if err != nil {
		return zmqError(err)
	}
	return nil
}

// streamSend sends every message of stdin (up to --count for send-only
// sockets).
func streamSend(ctx context.Context, app *App, o *zmqStreamOptions, s *msg.Socket) error {
	z := app.Config.Zmq
	// A binding sender waits for its first peers so that nothing goes into
	// the void; a PUB always does, since it drops what no subscriber wants.
	if (len(o.bind) > 0 || o.typ == msg.Pub) && o.peers > 0 && o.typ != msg.Router {
		if err := waitFirstPeers(ctx, s, o.peers, z.Timeout); err != nil {
			return err
		}
	}
	r := msg.NewReader(app.IO.In, o.framing, int64(z.MaxMessageSize))
	var topic []byte
	if o.typ == msg.Pub && o.topic != "" {
		topic = []byte(o.topic)
	}
	sendOnly := o.typ == msg.Push || o.typ == msg.Pub
	buf := make(msg.Msg, 0, 4)
	for n := 0; !sendOnly || o.count == 0 || n < o.count; n++ {
		m, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if topic != nil {
			buf = append(append(buf[:0], topic), m...)
			m = buf
		}
		if o.typ == msg.Router {
			if m, err = addressed(m, o.framing, n+1); err != nil {
				return err
			}
		}
		if err := sendWithin(ctx, s, m, z.Timeout); err != nil {
			return fmt.Errorf("message %d: %w", n+1, err)
		}
	}
	return nil
}

// addressed splits the identity off a ROUTER input message.
func addressed(m msg.Msg, framing msg.Framing, n int) (msg.Msg, error) {
	if framing == msg.FramingFrames {
		if len(m) < 2 {
			return nil, usageErrorf("message %d: ROUTER input needs an identity frame and a body", n)
		}
		id, err := msg.ParseIdentity(m[0])
		if err != nil {
			return nil, usageErrorf("message %d: %v", n, err)
		}
		return append(msg.Msg{id}, m[1:]...), nil
	}
	idText, body, ok := bytes.Cut(m[0], []byte("\t"))
	if !ok {
		return nil, usageErrorf("message %d: ROUTER input is IDENTITY<TAB>body, got %q", n, truncate(string(m[0]), 40))
	}
	id, err := msg.ParseIdentity(idText)
	if err != nil {
		return nil, usageErrorf("message %d: %v", n, err)
	}
	return msg.Msg{id, body}, nil
}

// streamRecv prints received messages until --count, interruption, or an
// idle --timeout. sendDone, for two-way sockets, reports the end of stdin:
// after it, the idle timeout ends the run normally.
func streamRecv(ctx context.Context, app *App, o *zmqStreamOptions, s *msg.Socket, sendDone <-chan error) error {
	z := app.Config.Zmq
	w := msg.NewWriter(app.IO.Out, o.framing, app.JSON())
	defer w.Flush()
	stdinDone := sendDone == nil
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
		if err != nil {
			if errors.Is(err, msg.ErrTimeout) && ctx.Err() == nil {
				if twoWay {
					return nil // stdin is done and the peers have gone quiet
				}
				return fmt.Errorf("nothing received for %v: %w", z.Timeout, err)
			}
			return err
		}
		n++
		var id []byte
		if o.typ == msg.Router {
			id, m = m[0], m[1:]
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
			return nil, err // the send failed: that is the run's error
		}
		if r.err == nil {
			return r.m, nil
		}
		return nil, errStdinEnded
	}
}
