// Package testenv finds the real services and peers that integration tests
// talk to (RabbitMQ, Debian's Python with pyzmq/Celery/NumPy/Dask, command-line
// anchors) and decides what happens when one is missing: the test skips with a
// visible reason, or fails when DSYS_TEST_REQUIRE_SERVICES=1 (as in CI).
//
// It is imported by _test.go files only.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns skips into failures.
const RequireEnv = "DSYS_TEST_REQUIRE_SERVICES"

// Required reports whether missing services must fail tests instead of skipping them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips t with the reason, or fails it when services are required.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (and %s=1 forbids skipping; run scripts/install-peers.sh)", reason, RequireEnv)
	}
	t.Skipf("skipped: %s (run scripts/install-peers.sh, or set %s=1 to make this a failure)", reason, RequireEnv)
}

// DefaultPython is Debian's interpreter, the one that has python3-zmq,
// python3-celery, python3-numpy and python3-dask. The python3 first on PATH
// may be another one without them.
const DefaultPython = "/usr/bin/python3"

var pyChecks sync.Map // "python|module" -> error

// Python returns the path of a Python interpreter that imports every module
// given (DSYS_TEST_PYTHON overrides the default), or marks t unavailable.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := os.Getenv("DSYS_TEST_PYTHON")
	if py == "" {
		py = DefaultPython
	}
	if _, err := os.Stat(py); err != nil {
		Unavailable(t, "python interpreter %s not found", py)
		return ""
	}
	for _, m := range modules {
		key := py + "|" + m
		v, ok := pyChecks.Load(key)
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			out, err := exec.CommandContext(ctx, py, "-c", "import "+m).CombinedOutput()
			cancel()
			if err != nil {
				err = fmt.Errorf("%s cannot import %s: %v: %s", py, m, err, strings.TrimSpace(lastLine(string(out))))
			}
			v, _ = pyChecks.LoadOrStore(key, err)
		}
		if err, _ := v.(error); err != nil {
			Unavailable(t, "%v", err)
			return ""
		}
	}
	return py
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// DefaultAMQPURL is the RabbitMQ the project's machines run.
const DefaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// RabbitMQ returns the AMQP URL of the shared RabbitMQ (DSYS_TEST_AMQP_URL
// overrides the default), or marks t unavailable. Tests never stop or
// restart it: crash tests start a node of their own (StartRabbitMQ).
func RabbitMQ(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DSYS_TEST_AMQP_URL")
	if u == "" {
		u = DefaultAMQPURL
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("DSYS_TEST_AMQP_URL: %v", err)
	}
	host := pu.Host
	if pu.Port() == "" {
		host = net.JoinHostPort(pu.Hostname(), "5672")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		Unavailable(t, "RabbitMQ not reachable at %s: %v", host, err)
		return ""
	}
	c.Close()
	return u
}

// LookPath returns the path of an executable (datamash, cc, rabbitmqctl...),
// or marks t unavailable.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found on PATH", name)
		return ""
	}
	return p
}

// UniqueName returns a name no other test run uses, for queues, exchanges and
// endpoints: prefix, the test's name and a time-derived suffix.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s.%s.%d.%d", prefix, name, os.Getpid(), time.Now().UnixNano())
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds the dsys binary once per test process and returns its path,
// for tests that need a real process (signals, SIGKILL, exit codes).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "dsys-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "dsys")
		cmd := exec.Command("go", "build", "-o", buildPath, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building dsys: %v", buildErr)
	}
	return buildPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
