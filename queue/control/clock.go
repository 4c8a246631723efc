package control

import "sync"

// Clock is Celery's Lamport clock (kombu.clocks.LamportClock): remote
// control messages and events carry its value, and a node moves it past
// every value it sees, so that their order is kept across nodes.
type Clock struct {
	mu    sync.Mutex
	value int64
}

// Forward advances the clock for a message this node sends.
func (c *Clock) Forward() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.value++
	return c.value
}

// Adjust moves the clock past a value another node sent.
func (c *Clock) Adjust(other int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.value = max(c.value, other) + 1
	return c.value
}

// Value is the clock's current value.
func (c *Clock) Value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}
