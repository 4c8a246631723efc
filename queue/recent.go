package queue

import "sync"

// recentSet remembers the last n strings added (a ring), for the ids of
// tasks whose result was published but whose ack was lost.
type recentSet struct {
	mu   sync.Mutex
	ring []string
	next int
	set  map[string]struct{}
}

func newRecentSet(n int) *recentSet {
	return &recentSet{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (r *recentSet) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set[s]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = s
	r.set[s] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}

func (r *recentSet) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[s]
	return ok
}
