package amqp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Every byte written arrives, in order, including what was still pending
// when Close was called.
func TestCoalescingConnKeepsOrderAndFlushesOnClose(t *testing.T) {
	client, server := tcpPair(t)
	c := newCoalescingConn(client)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	for i := range 20000 {
		p := fmt.Appendf(nil, "frame %d;", i)
		want.Write(p)
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("Write %d: %d, %v", i, n, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("received %d bytes, want %d (first difference at %d)", len(b), want.Len(), firstDiff(b, want.Bytes()))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader did not finish")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

// A write that fails on the socket fails the writes after it and closes
// the connection, so a reader on it stops too.
func TestCoalescingConnReportsWriteErrors(t *testing.T) {
	client, server := tcpPair(t)
	c := newCoalescingConn(client)
	server.Close()
	deadline := time.After(10 * time.Second)
	for {
		if _, err := c.Write(make([]byte, 64<<10)); err != nil {
			break
		}
		select {
		case <-deadline:
			t.Fatal("writes to a closed peer never failed")
		default:
		}
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on the failed connection succeeded")
	}
	_ = c.Close()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
