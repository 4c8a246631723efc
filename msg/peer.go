package msg

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// peer is one live connection of a socket, after its handshake.
type peer struct {
	s      *Socket
	conn   net.Conn
	fr     *frameReader
	id     []byte // ROUTER: the identity the peer is addressed by
	typ    string // peer's socket type
	remote string

	// Guarded by s.mu.
	pending  []byte         // encoded frames not yet handed to the writer
	npending int            // messages in pending
	subs     map[string]int // PUB: the peer's subscriptions

	// Heartbeat state, guarded by s.mu.
	seenReads uint64
	silentFor time.Duration

	direct    []byte        // buffer of writeDirectLocked, owned while writing
	writing   atomic.Bool   // a write is in progress (set and cleared under s.mu)
	wake      chan struct{} // signalled when pending becomes non-empty
	done      chan struct{}
	dead      atomic.Bool // set when the connection ends, before done closes
	closeOnce sync.Once
	err       error
}

// hasRoom reports whether one more message may be queued. s.mu held.
func (p *peer) hasRoom(hwm int) bool {
	return p.npending < hwm && len(p.pending) < maxPendingBytes
}

// enqueue encodes one message into the pending buffer. s.mu held.
func (p *peer) enqueue(prefix, frames [][]byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendMsg(p.pending, prefix, frames)
	p.npending++
	if wasEmpty {
		signal(p.wake)
	}
}

// enqueueCommand queues a ZMTP command, bypassing the HWM. s.mu held.
func (p *peer) enqueueCommand(name string, body []byte) {
	wasEmpty := len(p.pending) == 0
	p.pending = appendCommand(p.pending, name, body)
	if wasEmpty {
		signal(p.wake)
	}
}

func (p *peer) closed() bool { return p.dead.Load() }

// close ends the connection once and forgets the peer.
func (p *peer) close(err error) {
	p.closeOnce.Do(func() {
		p.err = err
		p.dead.Store(true)
		p.conn.Close()
		close(p.done)
		p.s.removePeer(p)
	})
}

// writeLoop hands everything queued for the peer to the kernel in one write
// whenever it is idle: a lone message leaves at once, a burst queued while a
// write is in progress leaves in the next single write.
func (p *peer) writeLoop() {
	s := p.s
	defer s.wg.Done()
	var own []byte
	for {
		select {
		case <-p.wake:
		case <-p.done:
			return
		}
		s.mu.Lock()
		if p.writing.Load() || len(p.pending) == 0 {
			// Nothing to do, or a direct write owns the connection (it
			// signals wake again if more is queued when it is done).
			s.mu.Unlock()
			continue
		}
		buf := p.pending
		p.pending = own[:0]
		p.npending = 0
		p.writing.Store(true)
		s.broadcastLocked()
		s.mu.Unlock()
		_, err := p.conn.Write(buf)
		s.mu.Lock()
		p.writing.Store(false)
		more := len(p.pending) > 0
		if s.lingering.Load() {
			s.broadcastLocked()
		}
		s.mu.Unlock()
		if err != nil {
			p.close(err)
			return
		}
		if more {
			signal(p.wake)
		}
		if cap(buf) > maxKeptBuffer {
			buf = nil // do not keep a huge buffer for the next small burst
		}
		own = buf
	}
}

// maxKeptBuffer is the largest write buffer a peer keeps for reuse: enough
// for a full pending queue (maxPendingBytes plus the message that crossed
// it), so that a steady stream does not regrow its buffer on every write.
const maxKeptBuffer = 4 * maxPendingBytes

// maxBatchBytes bounds the payload of one receive batch.
const maxBatchBytes = 1 << 20

// maxDirectWrite bounds what a sender writes from its own goroutine: a write
// this small fits the socket buffer of a peer that keeps up with a
// request-reply exchange, so it does not block.
const maxDirectWrite = 64 << 10

// enqueueDirect queues one message and, when no write is in progress, writes
// the pending bytes from the calling goroutine, saving the hand-off to the
// writer goroutine — the latency of REQ and REP, which have one message in
// flight by design. It is called with s.mu held and returns with it held
// (released during the write).
func (p *peer) enqueueDirect(prefix, frames [][]byte) {
	s := p.s
	wasEmpty := len(p.pending) == 0
	p.pending = appendMsg(p.pending, prefix, frames)
	p.npending++
	if p.writing.Load() || len(p.pending) > maxDirectWrite {
		if wasEmpty {
			signal(p.wake)
		}
		return
	}
	buf := p.pending
	p.pending = p.direct[:0]
	p.npending = 0
	p.writing.Store(true)
	s.mu.Unlock()
	_, err := p.conn.Write(buf)
	s.mu.Lock()
	p.direct = buf
	p.writing.Store(false)
	more := len(p.pending) > 0
	s.broadcastLocked()
	if err != nil {
		s.mu.Unlock()
		p.close(err)
		s.mu.Lock()
		return
	}
	if more {
		signal(p.wake)
	}
}

// readLoop reads messages until the connection ends and delivers them to the
// socket's receive queue in batches: a batch is handed over whenever the
// reader is about to block for more input, or when it is full.
//
// The frames of a batch's messages lie back to back in a chunk shared by
// several batches, so that a small message costs its body (in a shared
// slab) and one slice header, and no allocation of its own. The batch state
// lives in locals: the loop writes no pointer to the heap per message but
// the frame itself.
func (p *peer) readLoop() {
	s := p.s
	fr := p.fr
	reserve := 0
	if s.typ == Router {
		reserve = 1
	}
	deliver := s.typ.canRecv()
	pub := s.typ == Pub
	maxBatch := s.maxBatch
	// fs holds the frames of the batch being filled; its spare capacity is
	// the rest of its chunk, where the next batch goes. Appending to it
	// never touches the frames of batches already handed over (which their
	// receivers may modify), even when it reallocates.
	fs := make([][]byte, 0, frameChunk)
	ends := s.freshEnds()
	batchBytes := 0
	for {
		if cap(fs)-len(fs) < chunkMargin {
			// Move the batch so far to a fresh chunk; the old one stays
			// with the messages already handed out.
			nfs := make([][]byte, len(fs), max(frameChunk, 2*len(fs)))
			copy(nfs, fs)
			fs = nfs
		}
		base := len(fs)
		out, size, ok := fr.nextShort(fs, reserve)
		var cmd bool
		var err error
		if !ok {
			if len(ends) > 0 && !fr.wholeMessage() {
				// Reading on may block: hand over what is complete first.
				p.handOver(fs, ends)
				fs, ends, batchBytes, base = fs[len(fs):], s.freshEnds(), 0, 0
			}
			out, size, cmd, err = fr.next(fs, reserve)
		}
		if err != nil {
			fs = out
			if errors.Is(err, errDropped) {
				s.log.Warn("dropped message over the size limit", "remote", p.remote, "err", err)
				continue
			}
			p.handOver(fs, ends)
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !p.closed() {
				s.log.Info("connection error", "remote", p.remote, "err", err)
			}
			p.close(err)
			return
		}
		if cmd {
			c := out[base]
			fs = truncate(out, base)
			if err := p.command(c); err != nil {
				p.handOver(fs, ends)
				s.log.Info("connection error", "remote", p.remote, "err", err)
				p.close(err)
				return
			}
			continue
		}
		if !deliver {
			if pub {
				p.subscriptionMsg(out[base:])
			}
			fs = truncate(out, base)
			continue
		}
		fs = out
		if reserve == 1 {
			fs[base] = p.id
		}
		ends = append(ends, int32(len(fs)))
		batchBytes += size
		// Bound what a batch holds, in messages and in bytes, so the
		// receive queue (a few batches) bounds memory too.
		if len(ends) >= maxBatch || batchBytes >= maxBatchBytes {
			p.handOver(fs, ends)
			fs, ends, batchBytes = fs[len(fs):], s.freshEnds(), 0
		}
	}
}

// handOver queues a batch of messages (frames back to back, and where each
// ends) for Recv. Messages already read are delivered even if the
// connection has failed since; only closing the socket drops them.
func (p *peer) handOver(frames [][]byte, ends []int32) {
	if len(ends) == 0 {
		return
	}
	n := len(frames)
	select {
	case p.s.recvq <- inbound{p: p, frames: frames[:n:n], ends: ends}:
	case <-p.s.closing:
	}
}

// Frames of received messages are kept in chunks of frameChunk slice
// headers; a chunk with fewer than chunkMargin free slots is replaced before
// the next message is read into it (a message with more frames grows it).
// A message kept by the application keeps its chunk, and the slabs the
// chunk's frames point into, alive: chunks stay small for that reason.
const (
	frameChunk  = 512
	chunkMargin = 8
)

// recvBatches is the number of batches the receive queue holds.
const recvBatches = 8

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

// command handles a ZMTP command received in the data phase. Heartbeats are
// answered here and never surface.
func (p *peer) command(b []byte) error {
	name, body, err := parseCommand(b)
	if err != nil {
		return err
	}
	s := p.s
	switch name {
	case "PING":
		// PING: TTL (2 bytes) then a context of up to 16 bytes to echo.
		var ctx []byte
		if len(body) >= 2 {
			ctx = body[2:]
			if len(ctx) > 16 {
				ctx = ctx[:16]
			}
		}
		s.mu.Lock()
		p.enqueueCommand("PONG", append([]byte(nil), ctx...))
		hook := s.pingHook
		s.mu.Unlock()
		if hook != nil {
			hook()
		}
	case "PONG":
		if h := s.pongHook; h != nil {
			h()
		}
	case "SUBSCRIBE":
		if s.typ == Pub {
			p.subscribe(1, body)
		}
	case "CANCEL":
		if s.typ == Pub {
			p.subscribe(0, body)
		}
	case "ERROR":
		return errors.New("msg: peer sent ERROR: " + errorReason(body))
	}
	return nil
}

// subscriptionMsg handles a ZMTP 3.0 subscription message sent to a PUB.
func (p *peer) subscriptionMsg(frames [][]byte) {
	if len(frames) == 0 || len(frames[0]) == 0 {
		return
	}
	f := frames[0]
	if f[0] == 0 || f[0] == 1 {
		p.subscribe(f[0], f[1:])
	}
}

func (p *peer) subscribe(on byte, topic []byte) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t := string(topic)
	if on == 1 {
		p.subs[t]++
	} else if p.subs[t] > 0 {
		p.subs[t]--
		if p.subs[t] == 0 {
			delete(p.subs, t)
		}
	}
	s.broadcastLocked()
}

// matches reports whether a PUB message with this first frame goes to p.
// s.mu held.
func (p *peer) matches(first []byte) bool {
	if _, ok := p.subs[""]; ok {
		return true
	}
	for t := range p.subs {
		if len(first) >= len(t) && string(first[:len(t)]) == t {
			return true
		}
	}
	return false
}

// subscription encodes a ZMTP 3.0 subscribe (1) or cancel (0) message body.
func subscription(on byte, topic string) []byte {
	b := make([]byte, 0, 1+len(topic))
	b = append(b, on)
	return append(b, topic...)
}
