package msg

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// inproc connections are pairs of buffered in-memory pipes. net.Pipe is
// unbuffered and synchronous: every write waits for a matching read, which
// would defeat write coalescing.

var inprocRegistry = struct {
	sync.Mutex
	m map[string]*inprocListener
}{m: map[string]*inprocListener{}}

type inprocAddr string

func (a inprocAddr) Network() string { return "inproc" }
func (a inprocAddr) String() string  { return string(a) }

type inprocListener struct {
	name   string
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func listenInproc(name string) (*inprocListener, error) {
	inprocRegistry.Lock()
	defer inprocRegistry.Unlock()
	if _, ok := inprocRegistry.m[name]; ok {
		return nil, fmt.Errorf("msg: inproc://%s: address already in use", name)
	}
	l := &inprocListener{name: name, conns: make(chan net.Conn), done: make(chan struct{})}
	inprocRegistry.m[name] = l
	return l, nil
}

func (l *inprocListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *inprocListener) Close() error {
	l.closed.Do(func() {
		inprocRegistry.Lock()
		if inprocRegistry.m[l.name] == l {
			delete(inprocRegistry.m, l.name)
		}
		inprocRegistry.Unlock()
		close(l.done)
	})
	return nil
}

func (l *inprocListener) Addr() net.Addr { return inprocAddr(l.name) }

func dialInproc(name string, done <-chan struct{}) (net.Conn, error) {
	inprocRegistry.Lock()
	l := inprocRegistry.m[name]
	inprocRegistry.Unlock()
	if l == nil {
		return nil, fmt.Errorf("msg: inproc://%s: connection refused", name)
	}
	a, b := newInprocPair(name)
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		return nil, fmt.Errorf("msg: inproc://%s: connection refused", name)
	case <-done:
		return nil, net.ErrClosed
	}
}

// pipeBuf is one direction of an inproc connection.
type pipeBuf struct {
	mu     sync.Mutex
	data   []byte
	off    int
	closed bool          // writer side closed (EOF after data) or whole pipe closed
	notify chan struct{} // signalled when data arrives or the pipe closes
	space  chan struct{} // signalled when data is consumed
}

const inprocBufMax = 1 << 20

func newPipeBuf() *pipeBuf {
	return &pipeBuf{notify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

type inprocConn struct {
	name          string
	r, w          *pipeBuf
	rdl, wdl      deadline
	closeOnce     sync.Once
	local, remote inprocAddr
}

func newInprocPair(name string) (*inprocConn, *inprocConn) {
	ab, ba := newPipeBuf(), newPipeBuf()
	a := &inprocConn{name: name, r: ba, w: ab, local: "client", remote: inprocAddr(name)}
	b := &inprocConn{name: name, r: ab, w: ba, local: inprocAddr(name), remote: "client"}
	a.rdl.init()
	a.wdl.init()
	b.rdl.init()
	b.wdl.init()
	return a, b
}

func (c *inprocConn) Read(p []byte) (int, error) {
	for {
		c.r.mu.Lock()
		if n := len(c.r.data) - c.r.off; n > 0 {
			k := copy(p, c.r.data[c.r.off:])
			c.r.off += k
			if c.r.off == len(c.r.data) {
				c.r.data = c.r.data[:0]
				c.r.off = 0
			}
			c.r.mu.Unlock()
			signal(c.r.space)
			return k, nil
		}
		if c.r.closed {
			c.r.mu.Unlock()
			return 0, io.EOF
		}
		c.r.mu.Unlock()
		select {
		case <-c.r.notify:
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (c *inprocConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		c.w.mu.Lock()
		if c.w.closed {
			c.w.mu.Unlock()
			return written, net.ErrClosed
		}
		room := inprocBufMax - (len(c.w.data) - c.w.off)
		if room > 0 {
			k := min(room, len(p))
			if c.w.off > 0 && len(c.w.data)+k > cap(c.w.data) {
				n := copy(c.w.data, c.w.data[c.w.off:])
				c.w.data = c.w.data[:n]
				c.w.off = 0
			}
			c.w.data = append(c.w.data, p[:k]...)
			c.w.mu.Unlock()
			signal(c.w.notify)
			p = p[k:]
			written += k
			continue
		}
		c.w.mu.Unlock()
		select {
		case <-c.w.space:
		case <-c.wdl.wait():
			return written, os.ErrDeadlineExceeded
		}
	}
	return written, nil
}

func (c *inprocConn) Close() error {
	c.closeOnce.Do(func() {
		for _, b := range []*pipeBuf{c.r, c.w} {
			b.mu.Lock()
			b.closed = true
			b.mu.Unlock()
			signal(b.notify)
			signal(b.space)
		}
	})
	return nil
}

func (c *inprocConn) LocalAddr() net.Addr  { return c.local }
func (c *inprocConn) RemoteAddr() net.Addr { return c.remote }
func (c *inprocConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}
func (c *inprocConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *inprocConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable deadline whose expiry can be waited on.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func (d *deadline) init() { d.expired = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired (or is firing): start from a fresh channel.
		d.expired = make(chan struct{})
	}
	d.timer = nil
	select {
	case <-d.expired:
		d.expired = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.expired)
		return
	}
	ch := d.expired
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}
