package cmd

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// `dsys queue result ID` reads a result a Celery worker stored in Redis
// (celery-task-meta-<id>), as often as asked.
func TestQueueResultReadsCeleryResultOnRedis(t *testing.T) {
	url := testenv.Redis(t)
	url = url[:strings.LastIndexByte(url, '/')+1] + seedRedisDB
	python := testenv.Python(t, "celery", "redis")
	isolateConfig(t)
	t.Cleanup(func() { cleanSeedDB(t, url) })
	// A Celery app stores a result as its worker would (mark_as_done).
	script := `import sys
from celery import Celery
app = Celery('tasks', broker=sys.argv[1], backend=sys.argv[1])
app.backend.mark_as_done(sys.argv[2], 8)
`
	id := testenv.UniqueName(t, "task")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", script, url, id).CombinedOutput(); err != nil {
		t.Fatalf("celery: %v\n%s", err, out)
	}
	for range 2 {
		if out, errOut, code := runDsys(t, "", "queue", "result", "--broker", url, id); code != 0 || out != "8\n" {
			t.Fatalf("queue result: %q %q exit %d", out, errOut, code)
		}
	}
	if _, errOut, code := runDsys(t, "", "queue", "result", "--broker", url, id+".missing"); code != 3 {
		t.Fatalf("a missing result: %q exit %d, want 3", errOut, code)
	}
}
