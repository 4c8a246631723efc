package redis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/broker"
)

func kombuPeer(t *testing.T) (string, string) {
	t.Helper()
	python := testenv.Python(t, "kombu", "redis")
	script, err := filepath.Abs(filepath.Join("testdata", "kombu_broadcast_peer.py"))
	if err != nil {
		t.Fatal(err)
	}
	return python, script
}

func jsonMessage(body string) *broker.Message {
	return &broker.Message{ContentType: "application/json", ContentEncoding: "utf-8", Body: []byte(body),
		Headers: map[string]any{"ticket": "t-2"}}
}

// kombu publishes to a fanout exchange (as remote control commands go) and
// to a direct one (as their replies go); dsys listeners get both.
func TestListenGetsKombuBroadcasts(t *testing.T) {
	h := newHarness(t)
	python, script := kombuPeer(t)
	for _, kind := range []broker.ExchangeKind{broker.Fanout, broker.Direct} {
		t.Run(string(kind), func(t *testing.T) {
			ex := broker.Exchange{Name: testenv.UniqueName(t, "ex"), Kind: kind}
			key := ""
			if kind == broker.Direct {
				key = "oid-1"
			}
			l, err := h.tr.Listen(h.ctx(), broker.Binding{Queue: ex.Name + ".q", Exchange: ex, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			out, err := exec.Command(python, script, "publish", h.url, h.prefix, ex.Name, string(kind), key, `{"method": "ping"}`).CombinedOutput()
			if err != nil {
				t.Fatalf("kombu publish: %v\n%s", err, out)
			}
			select {
			case m := <-l.Messages():
				if string(m.Body) != `{"method": "ping"}` || m.ContentType != "application/json" || m.Headers["ticket"] != "t-1" {
					t.Fatalf("got %+v (body %s)", m, m.Body)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no broadcast within 10s")
			}
		})
	}
}

// dsys broadcasts reach kombu consumers bound to a fanout exchange and to
// a direct one.
func TestBroadcastReachesKombu(t *testing.T) {
	h := newHarness(t)
	python, script := kombuPeer(t)
	for _, kind := range []broker.ExchangeKind{broker.Fanout, broker.Direct} {
		t.Run(string(kind), func(t *testing.T) {
			ex := broker.Exchange{Name: testenv.UniqueName(t, "ex"), Kind: kind}
			key := ""
			if kind == broker.Direct {
				key = "oid-2"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, python, script, "consume", h.url, h.prefix, ex.Name, string(kind), key, ex.Name+".q")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := make(chan string, 2)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			if l := <-lines; l != "ready" {
				t.Fatalf("kombu consumer said %q", l)
			}
			// A fanout subscriber may not be subscribed yet when it says
			// ready (kombu subscribes as it drains): broadcast until heard.
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if err := h.tr.Broadcast(ctx, ex, key, jsonMessage(`{"pong": true}`)); err != nil {
					t.Fatal(err)
				}
				select {
				case l, ok := <-lines:
					var got map[string]any
					if !ok || json.Unmarshal([]byte(l), &got) != nil || got["pong"] != true {
						t.Fatalf("kombu consumer got %q", l)
					}
					return
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("kombu consumer heard nothing")
				}
			}
		})
	}
}
