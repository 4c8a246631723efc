//go:build unix

package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RabbitNode is a RabbitMQ node of one test's own: its own node name, AMQP
// and distribution ports, data and log directories, started as the
// rabbitmq user and killed by the test, so crash tests never touch the
// shared broker on 5672. It is always killed and its directories removed
// when the test ends.
type RabbitNode struct {
	// URL is the node's AMQP URL (guest/guest on 127.0.0.1).
	URL string

	t    testing.TB
	dir  string
	env  []string
	port int
	cred *syscall.Credential
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// rabbitStartWait bounds a node's start (RabbitMQ takes 5–15 s here).
const rabbitStartWait = 90 * time.Second

// rabbitServer is Debian's RabbitMQ start script (not the /usr/sbin
// wrapper, which switches user itself and drops the environment).
const rabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// StartRabbitMQ starts a private RabbitMQ node and waits (bounded) until it
// accepts AMQP connections; without RabbitMQ installed the test is marked
// unavailable.
func StartRabbitMQ(t testing.TB) *RabbitNode {
	t.Helper()
	if _, err := os.Stat(rabbitServer); err != nil {
		Unavailable(t, "RabbitMQ is not installed (%s)", rabbitServer)
		return nil
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		Unavailable(t, "no rabbitmq user to run a private RabbitMQ node as: %v", err)
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Getuid() != 0 && os.Getuid() != uid {
		Unavailable(t, "a private RabbitMQ node must run as the rabbitmq user: run the test as root or as rabbitmq")
		return nil
	}
	dir, err := os.MkdirTemp("", "dsys-rabbit-")
	if err != nil {
		t.Fatal(err)
	}
	n := &RabbitNode{t: t, dir: dir}
	t.Cleanup(n.cleanup)
	ports := freePorts(t, 2)
	n.port = ports[0]
	name := fmt.Sprintf("dsystest%d_%d@localhost", os.Getpid(), ports[0])
	files := map[string]string{
		"rabbitmq.conf":     fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", ports[0]),
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "", // instead of /etc/rabbitmq's, which names the shared node
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 { // its directories must belong to the rabbitmq user
		if err := chownTree(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		n.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	n.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"RABBITMQ_NODENAME=" + name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(ports[0]),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(ports[1]),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "rabbit.pid"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_FLAGS=-kernel inet_dist_use_interface {127,0,0,1}",
	}
	n.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[0])
	n.Start()
	return n
}

// Start starts the node (again, after Kill or Stop: same ports, same data)
// and waits until it accepts AMQP connections.
func (n *RabbitNode) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.t.Fatal("testenv: RabbitMQ node already running")
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "startup.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(rabbitServer)
	cmd.Dir = n.dir
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: n.cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.t.Fatalf("testenv: start RabbitMQ node: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	n.cmd, n.done, n.log = cmd, done, logf
	deadline := time.Now().Add(rabbitStartWait)
	for {
		if amqpAnswers(n.port) {
			return
		}
		select {
		case <-done:
			n.cmd = nil
			n.t.Fatalf("testenv: RabbitMQ node exited at start:\n%s", n.tail())
		case <-time.After(100 * time.Millisecond): // polling a starting server
		}
		if time.Now().After(deadline) {
			n.killLocked(syscall.SIGKILL)
			n.t.Fatalf("testenv: RabbitMQ node did not accept connections within %v:\n%s", rabbitStartWait, n.tail())
		}
	}
}

// Kill kills the node with SIGKILL (a crash: nothing is flushed) and waits
// until it is gone.
func (n *RabbitNode) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.killLocked(syscall.SIGKILL)
}

// Stop stops the node cleanly (SIGTERM), waiting up to a minute, then kills it.
func (n *RabbitNode) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.killLocked(syscall.SIGTERM)
}

func (n *RabbitNode) killLocked(sig syscall.Signal) {
	if n.cmd == nil {
		return
	}
	pgid := n.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-n.done:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-n.done
	}
	// Whatever the node started in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	n.cmd = nil
	n.log.Close()
}

func (n *RabbitNode) cleanup() {
	n.mu.Lock()
	n.killLocked(syscall.SIGKILL)
	n.mu.Unlock()
	if n.t.Failed() {
		n.t.Logf("private RabbitMQ node log (tail):\n%s", n.tail())
	}
	_ = os.RemoveAll(n.dir)
}

// tail returns the end of the node's start-up output and log.
func (n *RabbitNode) tail() string {
	var b strings.Builder
	for _, f := range []string{filepath.Join(n.dir, "startup.log")} {
		data, _ := os.ReadFile(f)
		if len(data) > 4096 {
			data = data[len(data)-4096:]
		}
		b.Write(data)
	}
	logs, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.log"))
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		if len(data) > 4096 {
			data = data[len(data)-4096:]
		}
		fmt.Fprintf(&b, "\n--- %s\n%s", filepath.Base(f), data)
	}
	return b.String()
}

// amqpAnswers reports whether an AMQP server answers the protocol header
// on port (RabbitMQ accepts TCP before it serves).
func amqpAnswers(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return false
	}
	buf := make([]byte, 8)
	_, err = c.Read(buf)
	return err == nil && buf[0] == 1 // a Connection.Start method frame
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}
