package msg

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs to the test output when -v, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newSocket(t testing.TB, typ Type, opts Options) *Socket {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.ReconnectMin == 0 {
		opts.ReconnectMin = 10 * time.Millisecond
	}
	s, err := New(typ, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bind(t testing.TB, s *Socket, ep string) string {
	t.Helper()
	got, err := s.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func connect(t testing.TB, s *Socket, ep string) {
	t.Helper()
	if err := s.Connect(ep); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustSend(t testing.TB, s *Socket, frames ...string) {
	t.Helper()
	m := make(Msg, len(frames))
	for i, f := range frames {
		m[i] = []byte(f)
	}
	if err := s.Send(ctxT(t, 5*time.Second), m); err != nil {
		t.Fatalf("send %q: %v", frames, err)
	}
}

func mustRecv(t testing.TB, s *Socket) []string {
	t.Helper()
	m, err := s.Recv(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	out := make([]string, len(m))
	for i, f := range m {
		out[i] = string(f)
	}
	return out
}

// syncBuffer is a goroutine-safe bytes.Buffer for capturing logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testLoggerTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
