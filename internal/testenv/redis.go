package testenv

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// RedisTestDB is the database number dsys's tests use on the shared Redis,
// so they stay out of database 0. Tests isolate themselves further with
// unique key prefixes and queue names and delete only their own keys.
const RedisTestDB = 9

// DefaultRedisAddr is the Redis the project's machines run.
const DefaultRedisAddr = "127.0.0.1:6379"

// Redis returns the URL of the shared Redis on the tests' own database
// (DSYS_TEST_REDIS_URL overrides it), or marks t unavailable. Tests never
// stop, restart or flush it: fault tests start a server of their own
// (StartRedis).
func Redis(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DSYS_TEST_REDIS_URL")
	if u == "" {
		u = fmt.Sprintf("redis://%s/%d", DefaultRedisAddr, RedisTestDB)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("DSYS_TEST_REDIS_URL: %v", err)
	}
	host := pu.Host
	if pu.Port() == "" {
		host = net.JoinHostPort(pu.Hostname(), "6379")
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		Unavailable(t, "Redis not reachable at %s: %v", host, err)
		return ""
	}
	defer c.Close()
	// A port that accepts but is no Redis (or wants a password) is not one.
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err == nil {
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "+PONG") && !strings.HasPrefix(string(buf[:n]), "-NOAUTH") {
			Unavailable(t, "no Redis answering at %s (got %q)", host, buf[:n])
			return ""
		}
	}
	return u
}
