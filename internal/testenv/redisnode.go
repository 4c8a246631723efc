//go:build unix

package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisNode is a redis-server of one test's own, on a port of its own,
// started and killed by the test, so fault tests never touch the shared
// Redis on 6379. It is always killed when the test ends.
type RedisNode struct {
	// URL is the server's redis:// URL (database 0).
	URL string

	t    testing.TB
	dir  string
	port int
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// redisStartWait bounds a server's start.
const redisStartWait = 20 * time.Second

// StartRedis starts a private redis-server without persistence (or with
// appendonly yes when aof is true, in the test's temporary directory) and
// waits until it answers; without redis-server installed the test is
// marked unavailable.
func StartRedis(t testing.TB, aof bool) *RedisNode {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server is not installed")
		return nil
	}
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	n := &RedisNode{t: t, dir: dir, port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}
	n.args = []string{"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--dir", dir,
		"--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log")}
	if aof {
		n.args = append(n.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		n.args = append(n.args, "--appendonly", "no")
	}
	n.args = append([]string{bin}, n.args...)
	t.Cleanup(n.Kill)
	n.Start()
	return n
}

// Start starts the server (again, on the same port and directory) and
// waits until it answers.
func (n *RedisNode) Start() {
	n.t.Helper()
	n.mu.Lock()
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		n.t.Fatalf("redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(redisStartWait)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 16)
			_, werr := c.Write([]byte("PING\r\n"))
			k, _ := c.Read(buf)
			c.Close()
			if werr == nil && string(buf[:k]) == "+PONG\r\n" {
				return
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
			n.t.Fatalf("redis-server exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("redis-server on port %d did not answer within %v", n.port, redisStartWait)
		}
	}
}

// Kill ends the server with SIGKILL (a crash) and waits for it to exit.
func (n *RedisNode) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		n.t.Errorf("redis-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}
