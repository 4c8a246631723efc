package msg

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Options' zero values.
const (
	DefaultHWM              = 1000
	DefaultMaxMessageSize   = 64 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultLinger           = 2 * time.Second
	DefaultReconnectMin     = 100 * time.Millisecond
	DefaultReconnectMax     = 5 * time.Second
	// maxPendingBytes bounds the encoded bytes queued for one peer, whatever
	// the HWM, so a burst of large messages cannot exhaust memory.
	maxPendingBytes = 1 << 20
)

// Options configure a Socket. The zero value of every field is its documented
// default.
type Options struct {
	// HWM is the number of messages queued for a peer or a connecting
	// endpoint (and at most 1 MiB of them, unless one message is larger)
	// before Send blocks (back-pressure) or, for PUB, drops for that peer.
	// Received messages wait in a per-socket queue of 8 batches of at most
	// HWM/8 messages or 1 MiB each; beyond that the peers' readers stop
	// reading and TCP pushes back. Default 1000.
	HWM int
	// MaxMessageSize is the largest message (all frames) accepted from a
	// peer; larger ones are discarded while being read, with a log line.
	// Negative means no limit. Default 64 MiB.
	MaxMessageSize int64
	// Identity is sent to peers in the handshake; ROUTER peers address us
	// by it. Default: none (the ROUTER assigns one).
	Identity []byte
	// Plain enables ZMTP PLAIN authentication (see PlainAuth).
	Plain *PlainAuth
	// Curve enables ZMTP CURVE encryption and authentication (RFC 26, see
	// CurveAuth). It excludes Plain.
	Curve *CurveAuth
	// Immediate makes a connecting endpoint's queue exist only while it is
	// connected (libzmq's ZMQ_IMMEDIATE=1): messages go only to peers whose
	// handshake is done. Default: the queue exists from Connect on, so
	// messages sent before the connection wait for it and survive
	// reconnections.
	Immediate bool
	// Monitor, when set, is called with every connection event (see
	// Event), from the socket's goroutines: it must not block.
	Monitor func(Event)
	// HandshakeTimeout bounds the greeting and security handshake of a
	// connection. Default 10s.
	HandshakeTimeout time.Duration
	// Linger bounds how long Close waits for queued messages to be written.
	// Negative means do not wait. Default 2s.
	Linger time.Duration
	// Heartbeat, when positive, sends a ZMTP PING to every peer each
	// interval and drops a peer from which nothing (not even a PONG) has
	// arrived for HeartbeatTimeout — so that half-open connections (a peer
	// whose host vanished) stop receiving their share of messages. libzmq
	// 4.2+ and dsys answer PINGs. Default 0: off.
	Heartbeat time.Duration
	// HeartbeatTimeout defaults to 3 × Heartbeat.
	HeartbeatTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential back-off between
	// attempts of a connecting endpoint. Defaults 100ms and 5s.
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives connection events and handshake failures. nil
	// discards them.
	Logger *slog.Logger
}

// check rejects options that contradict each other.
func (o Options) check() error {
	if o.Plain != nil && o.Curve != nil {
		return fmt.Errorf("msg: PLAIN and CURVE exclude each other")
	}
	if o.Curve != nil {
		return o.Curve.check()
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.HWM <= 0 {
		o.HWM = DefaultHWM
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.Heartbeat > 0 && o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 3 * o.Heartbeat
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = DefaultReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = DefaultReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Logger == nil {
		o.Logger = discardLogger
	}
	return o
}

var discardLogger = slog.New(slog.DiscardHandler)
