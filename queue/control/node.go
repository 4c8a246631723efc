// Package control answers Celery's remote control: the commands `celery
// inspect`, `celery control`, `celery status`, Flower and
// app.control send to every worker over the broker (kombu's "pidbox"), so
// that dsys workers are seen and steered like Celery's, in one pool with
// them.
//
// A Node listens on "<hostname>.<exchange>.pidbox", bound to the fanout
// exchange "<exchange>.pidbox" (Celery's control_exchange, "celery" by
// default), runs each command meant for it (by destination, or by
// pattern and matcher, or all) and publishes the reply to the message's
// reply_to on the direct exchange "reply.<exchange>.pidbox". What it
// needs from its worker is a Handler; the set of revoked ids is its own
// (Revoked), shared with the worker and with the other nodes (hello).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// Handler is what a node asks of its worker. Methods are called from the
// node's goroutine, one at a time.
type Handler interface {
	// Active, Reserved and Scheduled list the worker's tasks: running,
	// received and waiting for a slot, and held for their eta.
	Active() []Request
	Reserved() []Request
	Scheduled() []Scheduled
	// Registered lists the task names the worker serves.
	Registered() []string
	// Stats describes the worker (Clock and PID are the node's to fill).
	Stats() Stats
	// ActiveQueues lists the queues the worker consumes.
	ActiveQueues() []QueueInfo
	// Conf is the worker's configuration under Celery's setting names
	// (those that apply to it).
	Conf() map[string]any
	// Terminate stops the running tasks among ids with signal (its
	// number); it returns the ids it stopped.
	Terminate(ids []string, signal int) []string
	// TaskEvents turns task events on or off; changed is false when they
	// were so already.
	TaskEvents(on bool) (changed bool)
	// Heartbeat sends a worker-heartbeat event now.
	Heartbeat()
	// Shutdown stops the worker gracefully, as SIGTERM does.
	Shutdown(reason string)
}

// Options configure a Node. The zero value is the documented default.
type Options struct {
	// Hostname is the node name (Celery's, e.g. "celery@host"; default
	// "celery@" + the host name).
	Hostname string
	// Exchange is Celery's control_exchange (default "celery").
	Exchange string
	// QueueTTL and QueueExpires are Celery's control_queue_ttl and
	// control_queue_expires (defaults 300s and 10s).
	QueueTTL, QueueExpires time.Duration
	// Revoked is the worker's set of revoked ids (nil: a new one).
	Revoked *Revoked
	// Clock is the Lamport clock shared with events (nil: a new one).
	Clock *Clock
	// Logger gets a line per command and errors (nil: discard).
	Logger *slog.Logger
}

// Node is one worker's mailbox. Create it with NewNode and run it with Run.
type Node struct {
	b       broker.Broadcaster
	h       Handler
	opts    Options
	log     *slog.Logger
	started time.Time
	pid     int
}

// NewNode returns a node answering for h over b.
func NewNode(b broker.Broadcaster, h Handler, opts Options) *Node {
	if opts.Hostname == "" {
		host, _ := os.Hostname()
		opts.Hostname = "celery@" + host
	}
	if opts.Exchange == "" {
		opts.Exchange = "celery"
	}
	if opts.QueueTTL <= 0 {
		opts.QueueTTL = 300 * time.Second
	}
	if opts.QueueExpires <= 0 {
		opts.QueueExpires = 10 * time.Second
	}
	if opts.Revoked == nil {
		opts.Revoked = NewRevoked()
	}
	if opts.Clock == nil {
		opts.Clock = &Clock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Node{b: b, h: h, opts: opts, log: log, started: time.Now(), pid: os.Getpid()}
}

// Revoked is the node's set of revoked ids.
func (n *Node) Revoked() *Revoked { return n.opts.Revoked }

// Clock is the node's Lamport clock.
func (n *Node) Clock() *Clock { return n.opts.Clock }

// Hostname is the node's name.
func (n *Node) Hostname() string { return n.opts.Hostname }

// commandExchange is the fanout exchange commands come on (kombu's
// Mailbox exchange: fanout, not durable).
func (n *Node) commandExchange() broker.Exchange {
	return broker.Exchange{Name: n.opts.Exchange + ".pidbox", Kind: broker.Fanout}
}

// Listen subscribes the node's queue; the node serves it once Serve runs.
func (n *Node) Listen(ctx context.Context) (broker.Listener, error) {
	l, err := n.b.Listen(ctx, broker.Binding{
		Queue:      n.opts.Hostname + "." + n.opts.Exchange + ".pidbox",
		Exchange:   n.commandExchange(),
		MessageTTL: n.opts.QueueTTL,
		Expires:    n.opts.QueueExpires,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: remote control: %w", err)
	}
	return l, nil
}

// Serve answers the commands arriving on l until ctx is done or l closes.
func (n *Node) Serve(ctx context.Context, l broker.Listener) {
	for {
		select {
		case m, ok := <-l.Messages():
			if !ok {
				return
			}
			n.handle(ctx, m)
		case <-ctx.Done():
			return
		}
	}
}

// command is a pidbox message (kombu's Mailbox._publish).
type command struct {
	Method      string         `json:"method"`
	Arguments   map[string]any `json:"arguments"`
	Destination []string       `json:"destination"`
	Pattern     string         `json:"pattern"`
	Matcher     string         `json:"matcher"`
	Ticket      string         `json:"ticket"`
	ReplyTo     *struct {
		Exchange   string `json:"exchange"`
		RoutingKey string `json:"routing_key"`
	} `json:"reply_to"`
}

func (n *Node) handle(ctx context.Context, m *broker.Message) {
	if c, ok := celery.AsInt(m.Headers["clock"]); ok {
		n.opts.Clock.Adjust(c)
	} else {
		n.opts.Clock.Forward()
	}
	var cmd command
	if err := celery.DecodeJSON(m.Body, &cmd); err != nil {
		n.log.Warn("queue: remote control: ignoring a message that is not a JSON command", "content_type", m.ContentType, "err", err)
		return
	}
	if !n.mine(&cmd) {
		return
	}
	reply, send := n.dispatch(&cmd)
	if !send || cmd.ReplyTo == nil || cmd.ReplyTo.Exchange == "" {
		return
	}
	if err := n.reply(ctx, &cmd, reply); err != nil {
		n.log.Warn("queue: remote control: reply not sent", "method", cmd.Method, "err", err)
	}
}

// mine decides whether a command is for this node, as kombu's Node does.
func (n *Node) mine(c *command) bool {
	switch {
	case len(c.Destination) > 0:
		for _, d := range c.Destination {
			if d == n.opts.Hostname {
				return true
			}
		}
		return false
	case c.Pattern != "" && c.Matcher != "":
		return match(n.opts.Hostname, c.Pattern, c.Matcher)
	}
	return true
}

// dispatch runs a command; send is false for commands Celery does not
// answer (shutdown).
func (n *Node) dispatch(c *command) (reply any, send bool) {
	run, known := commands[c.Method]
	if !known {
		n.log.Warn("queue: remote control: no such command", "method", c.Method)
		return errorReply{Error: fmt.Sprintf("No such control command: %s (not supported by dsys workers)", c.Method)}, true
	}
	n.log.Debug("queue: remote control", "method", c.Method, "arguments", c.Arguments)
	reply, err := run(n, args(c.Arguments))
	if errors.Is(err, errNoReply) {
		return nil, false
	}
	if err != nil {
		return errorReply{Error: err.Error()}, true
	}
	return reply, true
}

// reply publishes {hostname: reply} to the command's reply_to, with the
// ticket the caller matches replies by (kombu's _publish_reply).
func (n *Node) reply(ctx context.Context, c *command, reply any) error {
	body, err := json.Marshal(map[string]any{n.opts.Hostname: reply})
	if err != nil {
		return err
	}
	m := &broker.Message{ContentType: celery.ContentType, ContentEncoding: celery.ContentEncoding,
		Headers: map[string]any{"ticket": c.Ticket, "clock": n.opts.Clock.Forward()}, Body: body}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.b.Broadcast(ctx, broker.Exchange{Name: c.ReplyTo.Exchange, Kind: broker.Direct}, c.ReplyTo.RoutingKey, m)
}

// Mingle asks the other nodes for their revoked ids (Celery's mingle:
// hello to every node, replies merged into Revoked) and waits for replies
// up to wait. It returns how many nodes answered.
func (n *Node) Mingle(ctx context.Context, wait time.Duration) (int, error) {
	oid := uuid.NewString()
	replyEx := broker.Exchange{Name: "reply." + n.opts.Exchange + ".pidbox", Kind: broker.Direct}
	l, err := n.b.Listen(ctx, broker.Binding{Queue: oid + "." + replyEx.Name, Exchange: replyEx, Key: oid,
		MessageTTL: n.opts.QueueTTL, Expires: n.opts.QueueExpires})
	if err != nil {
		return 0, fmt.Errorf("queue: mingle: %w", err)
	}
	defer l.Close()
	ticket := uuid.NewString()
	body, _ := json.Marshal(map[string]any{
		"method":      "hello",
		"arguments":   map[string]any{"from_node": n.opts.Hostname, "revoked": n.helloRevoked()},
		"destination": nil, "pattern": nil, "matcher": nil, "ticket": ticket,
		"reply_to": map[string]string{"exchange": replyEx.Name, "routing_key": oid},
	})
	m := &broker.Message{ContentType: celery.ContentType, ContentEncoding: celery.ContentEncoding, Persistent: true,
		Headers: map[string]any{"clock": n.opts.Clock.Forward(), "expires": float64(time.Now().Add(wait).UnixNano()) / 1e9}, Body: body}
	if err := n.b.Broadcast(ctx, n.commandExchange(), "", m); err != nil {
		return 0, fmt.Errorf("queue: mingle: %w", err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	nodes := 0
	for {
		select {
		case r, ok := <-l.Messages():
			if !ok {
				return nodes, nil
			}
			if t, _ := r.Headers["ticket"].(string); t != ticket {
				continue
			}
			var replies map[string]*struct {
				Revoked map[string]json.RawMessage `json:"revoked"`
				Clock   json.Number                `json:"clock"`
			}
			if err := celery.DecodeJSON(r.Body, &replies); err != nil {
				continue
			}
			for from, rep := range replies {
				if from == n.opts.Hostname || rep == nil {
					continue
				}
				nodes++
				ids := make([]string, 0, len(rep.Revoked))
				for id := range rep.Revoked {
					ids = append(ids, id)
				}
				n.opts.Revoked.Add(ids...)
				if c, err := rep.Clock.Int64(); err == nil {
					n.opts.Clock.Adjust(c)
				}
				n.log.Info("queue: mingle: synced with "+from, "revoked", len(ids))
			}
		case <-timer.C:
			return nodes, nil
		case <-ctx.Done():
			return nodes, ctx.Err()
		}
	}
}

// helloRevoked is the revoked set as Celery's hello carries it: id →
// [timestamp, id], the timestamp a float (Celery refuses an integer).
func (n *Node) helloRevoked() map[string][2]any {
	ids := n.opts.Revoked.IDs()
	out := make(map[string][2]any, len(ids))
	ts := json.Number(strconv.FormatFloat(float64(time.Now().UnixNano())/1e9, 'f', 6, 64))
	for _, id := range ids {
		out[id] = [2]any{ts, id}
	}
	return out
}
