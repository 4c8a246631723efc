package msg

import (
	"context"
	"testing"
)

func benchPushPull(b *testing.B, ep string, size int) {
	benchPushPullOpts(b, ep, size, Options{}, Options{})
}

func benchPushPullOpts(b *testing.B, ep string, size int, server, client Options) {
	pull := newSocket(b, Pull, server)
	ep = bind(b, pull, ep)
	push := newSocket(b, Push, client)
	connect(b, push, ep)
	ctx := context.Background()
	payload := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			m, err := pull.Recv(ctx)
			if err != nil {
				done <- err
				return
			}
			Release(m)
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

func benchCurve(b *testing.B, size int) {
	pub, sec, err := GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	benchPushPullOpts(b, "tcp://127.0.0.1:*", size, Options{Curve: &CurveAuth{Secret: &sec}}, Options{Curve: &CurveAuth{Server: &pub}})
}

func BenchmarkCurvePushPullTCP16(b *testing.B) { benchCurve(b, 16) }
func BenchmarkCurvePushPullTCP1K(b *testing.B) { benchCurve(b, 1024) }
