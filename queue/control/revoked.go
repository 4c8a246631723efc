package control

import (
	"sort"
	"sync"
	"time"
)

// Revoked is the set of revoked task ids a worker remembers, as Celery's
// worker keeps it (worker_state.revoked): at most 50,000 ids, each for
// three hours after it was last revoked. Remote control fills it (revoke,
// and the revoked sets other nodes send in reply to hello); the worker
// consults it for every task it receives. Safe for concurrent use.
type Revoked struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	now  func() time.Time
	at   map[string]revokedEntry
	fifo []revokedEntry // in the order added; entries superseded by a later Add are skipped
	seq  uint64
}

type revokedEntry struct {
	id  string
	at  time.Time
	seq uint64
}

// Celery's REVOKES_MAX and REVOKE_EXPIRES.
const (
	revokesMax    = 50000
	revokeExpires = 3 * time.Hour
)

// NewRevoked returns an empty set with Celery's limits.
func NewRevoked() *Revoked {
	return &Revoked{max: revokesMax, ttl: revokeExpires, now: time.Now, at: map[string]revokedEntry{}}
}

// Add revokes ids (again: their three hours start anew).
func (r *Revoked) Add(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, id := range ids {
		if id == "" {
			continue
		}
		r.seq++
		e := revokedEntry{id, now, r.seq}
		r.at[id] = e
		r.fifo = append(r.fifo, e)
	}
	r.purge(now)
}

// Has reports whether id is revoked.
func (r *Revoked) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.at[id]
	return ok && r.now().Sub(e.at) < r.ttl
}

// IDs lists the revoked ids, sorted.
func (r *Revoked) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purge(r.now())
	ids := make([]string, 0, len(r.at))
	for id := range r.at {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Len is the number of revoked ids.
func (r *Revoked) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// purge drops the oldest ids beyond max and those older than ttl.
func (r *Revoked) purge(now time.Time) {
	i := 0
	for ; i < len(r.fifo); i++ {
		e := r.fifo[i]
		if cur, ok := r.at[e.id]; !ok || cur.seq != e.seq {
			continue // revoked again later, or dropped already
		}
		if len(r.at) <= r.max && now.Sub(e.at) < r.ttl {
			break
		}
		delete(r.at, e.id)
	}
	r.fifo = r.fifo[i:]
	if cap(r.fifo) > 4*r.max && len(r.fifo) < r.max {
		r.fifo = append([]revokedEntry(nil), r.fifo...)
	}
}
