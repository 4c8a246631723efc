package msg

import (
	"context"
	"testing"
)

func benchPushPull(b *testing.B, ep string, size int) {
	pull := newSocket(b, Pull, Options{})
	ep = bind(b, pull, ep)
	push := newSocket(b, Push, Options{})
	connect(b, push, ep)
	ctx := context.Background()
	payload := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := pull.Recv(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	m := NewMsg(payload)
	for i := 0; i < b.N; i++ {
		if err := push.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func BenchmarkPushPullTCP16(b *testing.B)    { benchPushPull(b, "tcp://127.0.0.1:*", 16) }
func BenchmarkPushPullInproc16(b *testing.B) { benchPushPull(b, "inproc://bench", 16) }

func BenchmarkReqRepTCP(b *testing.B) {
	rep := newSocket(b, Rep, Options{})
	ep := bind(b, rep, "tcp://127.0.0.1:*")
	req := newSocket(b, Req, Options{})
	connect(b, req, ep)
	ctx := context.Background()
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			if rep.Send(ctx, m) != nil {
				return
			}
		}
	}()
	m := NewMsg(make([]byte, 16))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := req.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
		if _, err := req.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPushPullTCP1K(b *testing.B)  { benchPushPull(b, "tcp://127.0.0.1:*", 1024) }
func BenchmarkPushPullTCP64K(b *testing.B) { benchPushPull(b, "tcp://127.0.0.1:*", 64<<10) }
