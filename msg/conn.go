package msg

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one live connection of a pipe, after its handshake: a reader
// goroutine (readLoop) and a writer goroutine (writeLoop).
type conn struct {
	p        *pipe
	nc       net.Conn
	fr       *frameReader
	box      *curveBox // CURVE: seals what is written (reading is unsealed below fr)
	peerType string
	peerID   []byte
	remote   string
	endpoint string // the endpoint it was accepted on or dialled

	// Heartbeat state, guarded by s.mu.
	seenReads uint64
	silentFor time.Duration

	// Owned by whoever has writing set.
	carry   []byte // bytes a timed-out direct write left unwritten: they go first
	direct  []byte // buffer of writeDirect
	sealed  []byte // CURVE output buffer
	timeout bool   // a direct write set a write deadline

	writing   atomic.Bool // a write is in progress (set and cleared under s.mu)
	done      chan struct{}
	dead      atomic.Bool // set when the connection ends, before done closes
	closeOnce sync.Once
	err       error
}

func (c *conn) closed() bool { return c.dead.Load() }

// close ends the connection once and detaches it from its pipe.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		c.dead.Store(true)
		c.nc.Close()
		close(c.done)
		c.p.s.connGone(c)
	})
}

// write hands buf to the kernel, sealed first under CURVE.
func (c *conn) write(buf []byte) error {
	if c.box != nil {
		c.sealed = c.box.seal(c.sealed[:0], buf)
		buf = c.sealed
		if cap(c.sealed) > maxKeptBuffer {
			c.sealed = nil
		}
	}
	_, err := c.nc.Write(buf)
	return err
}

// writeLoop hands everything queued for the pipe to the kernel in one write
// whenever it is idle: a lone message leaves at once, a burst queued while
// a write is in progress leaves in the next single write.
func (c *conn) writeLoop() {
	p := c.p
	s := p.s
	defer s.wg.Done()
	var own []byte
	for {
		select {
		case <-p.wake:
		case <-c.done:
			return
		}
		s.mu.Lock()
		if p.c != c {
			// A newer connection took over the pipe: the wake was for it.
			s.mu.Unlock()
			signal(p.wake)
			return
		}
		if c.writing.Load() || (len(p.pending) == 0 && c.carry == nil) {
			// Nothing to do, or a direct write owns the connection (it
			// signals wake again if more is queued when it is done).
			s.mu.Unlock()
			continue
		}
		carry := c.carry
		c.carry = nil
		buf := p.pending
		p.pending = own[:0]
		p.npending = 0
		c.writing.Store(true)
		s.broadcastLocked()
		s.mu.Unlock()
		var err error
		if c.timeout {
			_ = c.nc.SetWriteDeadline(time.Time{})
			c.timeout = false
		}
		if carry != nil {
			_, err = c.nc.Write(carry) // already sealed
		}
		if err == nil && len(buf) > 0 {
			err = c.write(buf)
		}
		s.mu.Lock()
		c.writing.Store(false)
		p.writes++
		more := len(p.pending) > 0
		if s.draining.Load() > 0 {
			s.broadcastLocked()
		}
		s.mu.Unlock()
		if err != nil {
			c.close(err)
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

// directWriteBudget bounds how long a sender's own write may block: past it
// the rest is left to the writer goroutine, so that a peer that does not
// read never holds up the caller (or anyone else).
const directWriteBudget = 20 * time.Millisecond

// writeDirect writes the pending bytes from the calling goroutine. s.mu
// held on entry and exit (released during the write); the connection is
// idle (not writing) and live.
func (c *conn) writeDirect() {
	p := c.p
	s := p.s
	buf := p.pending
	p.pending = c.direct[:0]
	p.npending = 0
	c.writing.Store(true)
	s.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(directWriteBudget))
	c.timeout = true
	var sealedBuf []byte
	if c.box != nil {
		c.sealed = c.box.seal(c.sealed[:0], buf)
		sealedBuf = c.sealed
	} else {
		sealedBuf = buf
	}
	n, err := c.nc.Write(sealedBuf)
	s.mu.Lock()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The peer is slow to read: the writer goroutine finishes the job.
		c.carry = append([]byte(nil), sealedBuf[n:]...)
		err = nil
		signal(p.wake)
	}
	c.direct = buf
	c.writing.Store(false)
	more := len(p.pending) > 0
	s.broadcastLocked()
	if err != nil {
		s.mu.Unlock()
		c.close(err)
		s.mu.Lock()
		return
	}
	if more {
		signal(p.wake)
	}
}

// maxKeptBuffer is the largest write buffer a connection keeps for reuse:
// enough for a full pending queue (maxPendingBytes plus the message that
// crossed it), so that a steady stream does not regrow its buffer on every
// write.
const maxKeptBuffer = 4 * maxPendingBytes

// maxBatchBytes bounds the payload of one receive batch.
const maxBatchBytes = 1 << 20

// maxDirectWrite bounds what a sender writes from its own goroutine.
const maxDirectWrite = 64 << 10

// readLoop reads messages until the connection ends and delivers them to the
// socket's receive queue in batches: a batch is handed over whenever the
// reader is about to block for more input, or when it is full.
//
// The frames of a batch's messages lie back to back in a chunk shared by
// several batches, so that a small message costs its body (in a shared
// slab) and one slice header, and no allocation of its own. The batch state
// lives in locals: the loop writes no pointer to the heap per message but
// the frame itself.
func (c *conn) readLoop() {
	s := c.p.s
	fr := c.fr
	tr := s.tr
	reserve := 0
	if tr.identity {
		reserve = 1
	}
	var insp inspector
	if tr.inspect {
		insp = s.pat.(inspector)
	}
	deliver := tr.canRecv
	id := c.p.id // set by attach before the reader starts
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
				c.handOver(fs, ends)
				fs, ends, batchBytes, base = fs[len(fs):], s.freshEnds(), 0, 0
			}
			out, size, cmd, err = fr.next(fs, reserve)
		}
		if err != nil {
			fs = out
			if errors.Is(err, errDropped) {
				s.log.Warn("dropped message over the size limit", "remote", c.remote, "err", err)
				continue
			}
			c.handOver(fs, ends)
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !c.closed() {
				s.log.Info("connection error", "remote", c.remote, "err", err)
			}
			c.close(err)
			return
		}
		if cmd {
			cf := out[base]
			fs = truncate(out, base)
			sub, err := c.command(cf)
			if err != nil {
				c.handOver(fs, ends)
				s.log.Info("connection error", "remote", c.remote, "err", err)
				c.close(err)
				return
			}
			if sub == nil || insp == nil {
				continue
			}
			// A ZMTP 3.1 SUBSCRIBE or CANCEL: the same as its 3.0 message.
			if reserve == 1 {
				fs = append(fs, nil)
			}
			out, size = append(fs, sub), len(sub)
		}
		if insp != nil && !insp.inspect(c.p, out[base+reserve:]) {
			fs = truncate(out, base)
			continue
		}
		if !deliver {
			fs = truncate(out, base)
			continue
		}
		fs = out
		if reserve == 1 {
			fs[base] = id
		}
		ends = append(ends, int32(len(fs)))
		batchBytes += size
		// Bound what a batch holds, in messages and in bytes, so the
		// receive queue (a few batches) bounds memory too.
		if len(ends) >= maxBatch || batchBytes >= maxBatchBytes {
			c.handOver(fs, ends)
			fs, ends, batchBytes = fs[len(fs):], s.freshEnds(), 0
		}
	}
}

// handOver queues a batch of messages (frames back to back, and where each
// ends) for Recv. Messages already read are delivered even if the
// connection has failed since; only closing the socket drops them.
func (c *conn) handOver(frames [][]byte, ends []int32) {
	if len(ends) == 0 {
		return
	}
	n := len(frames)
	select {
	case c.p.s.recvq <- inbound{c: c, frames: frames[:n:n], ends: ends}:
	case <-c.p.s.closing:
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

// command handles a ZMTP command received in the data phase. Heartbeats are
// answered here and never surface; SUBSCRIBE and CANCEL come back as the
// equivalent ZMTP 3.0 subscription message for the pattern to inspect.
func (c *conn) command(b []byte) (sub []byte, err error) {
	name, body, err := parseCommand(b)
	if err != nil {
		return nil, err
	}
	s := c.p.s
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
		if c.p.c == c {
			c.p.enqueueCommand("PONG", append([]byte(nil), ctx...))
		}
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
		return subscription(1, string(body)), nil
	case "CANCEL":
		return subscription(0, string(body)), nil
	case "ERROR":
		return nil, errors.New("msg: peer sent ERROR: " + errorReason(body))
	}
	return nil, nil
}
