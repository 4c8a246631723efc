package cmd

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// A worker started before its broker retries with backoff, logging each
// try, and serves once the broker answers: services start in any order.
func TestQueueWorkerWaitsForItsBroker(t *testing.T) {
	brokerURL, q := queueEnv(t)
	// A port where nothing listens yet; later a relay to the real RabbitMQ.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	late := strings.Replace(brokerURL, "127.0.0.1:5672", addr, 1)
	if late == brokerURL {
		t.Skipf("the test broker %s is not at 127.0.0.1:5672", brokerURL)
	}
	w := launchWorkerProc(t, "--broker", late, "--queue", q)
	w.waitFor(t, "broker unreachable; retrying")
	w.waitFor(t, "attempt=2")
	rl, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	testenv.Relay(t, rl, "127.0.0.1:5672")
	w.waitFor(t, "worker ready")
	out, errOut, code := runDsys(t, "", "queue", "submit", "--broker", brokerURL, "--queue", q, "--wait", "--timeout", "20s", "add", "2", "3")
	if code != 0 || strings.TrimSpace(out) != "5" {
		t.Fatalf("submit after the broker came up: exit %d, %q %q", code, out, errOut)
	}
	if !strings.Contains(w.log.String(), "queue: broker reachable") {
		t.Errorf("the worker did not log that the broker became reachable")
	}
}

// Wrong credentials or a virtual host that does not exist are a
// configuration error (exit 2) that says so, at once and without retrying,
// with the password masked.
func TestQueueBrokerAuthRefused(t *testing.T) {
	amqpURL := testenv.RabbitMQ(t)
	redisURL := testenv.Redis(t)
	isolateConfig(t)
	wrongPass := strings.Replace(amqpURL, "guest:guest@", "guest:s3cret-wrong@", 1)
	noVhost := strings.TrimSuffix(strings.TrimSuffix(amqpURL, "/"), "/") + "/dsys-no-such-vhost"
	wrongUser := strings.Replace(redisURL, "redis://", "redis://nobody:s3cret-wrong@", 1)
	for _, args := range [][]string{
		{"queue", "worker", "--broker", wrongPass},
		{"queue", "worker", "--broker", noVhost},
		{"queue", "submit", "--broker", wrongPass, "add", "1", "2"},
		{"queue", "worker", "--broker", wrongUser},
		{"queue", "inspect", "--broker", wrongUser},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, errOut, code := runDsysContext(t, ctx, "", args...)
		cancel()
		if code != 2 || !strings.Contains(errOut, "authentication failed") || strings.Contains(errOut, "retrying") ||
			strings.Contains(errOut, "s3cret") {
			t.Errorf("%v: exit %d %q, want 2, authentication failed, no retry, no password", args, code, errOut)
		}
	}
}
