//go:build !unix

package testenv

import "testing"

// RabbitNode is a private RabbitMQ node (unix only).
type RabbitNode struct{ URL string }

// StartRabbitMQ marks the test unavailable: private nodes need unix.
func StartRabbitMQ(t testing.TB) *RabbitNode {
	t.Helper()
	Unavailable(t, "a private RabbitMQ node needs a unix system")
	return nil
}

// Start, Kill and Stop do nothing here.
func (n *RabbitNode) Start() {}
func (n *RabbitNode) Kill()  {}
func (n *RabbitNode) Stop()  {}

// RedisNode is a private redis-server (unix only).
type RedisNode struct{ URL string }

// StartRedis marks the test unavailable: private servers need unix.
func StartRedis(t testing.TB, aof bool) *RedisNode {
	t.Helper()
	Unavailable(t, "a private redis-server needs a unix system")
	return nil
}

// Start and Kill do nothing here.
func (n *RedisNode) Start() {}
func (n *RedisNode) Kill()  {}
