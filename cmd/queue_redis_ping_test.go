package cmd

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// `celery inspect ping` over Redis reaches a dsys worker: remote control's
// broadcast goes over Redis pub/sub and the reply through kombu's direct
// bindings, as with Celery's own workers on Redis.
func TestCeleryInspectPingOverRedis(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	python := testenv.Python(t, "celery", "redis")
	testenv.Binary(t)
	isolateConfig(t)
	node := strings.ReplaceAll(testenv.UniqueName(t, "ping"), ".", "-") + "@dsys"
	q := testenv.UniqueName(t, "pingq")
	t.Cleanup(func() { cleanSeedDB(t, url, "*"+q+"*", "*"+node+"*") })
	startWorkerProc(t, "--broker", url, "--queue", q, "--hostname", node)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-m", "celery", "--broker="+url, "inspect", "ping", "-d", node, "--timeout", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(out), node+": OK") || !strings.Contains(string(out), "pong") {
		t.Fatalf("celery inspect ping: %v\n%s", err, out)
	}
}
