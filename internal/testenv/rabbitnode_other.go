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
