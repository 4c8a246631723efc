package sqlite

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// notifier tells waiters that the queue file changed: on a write by any
// process (file notifications on its directory: inotify, kqueue, ...) and
// at once on a write by this one. Waiters take wait() before looking, then
// block on it, so no change between the look and the block is missed.
type notifier struct {
	mu      sync.Mutex
	changed chan struct{}
	w       *fsnotify.Watcher
	done    chan struct{}
}

func newNotifier(path string, log *slog.Logger) *notifier {
	n := &notifier{changed: make(chan struct{}), done: make(chan struct{})}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(path))
	}
	if err != nil {
		// Every wait is bounded (safetyPoll): slower to notice other
		// processes, still correct.
		log.Warn("queue: sqlite: no file notifications; other processes' writes are noticed within 2s", "err", err)
		if w != nil {
			w.Close()
		}
		close(n.done)
		return n
	}
	n.w = w
	base := filepath.Base(path)
	go func() {
		defer close(n.done)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if strings.HasPrefix(filepath.Base(ev.Name), base) && ev.Op&(fsnotify.Write|fsnotify.Create) != 0 {
					n.poke()
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				n.poke() // an overflow may have lost events: look again
			}
		}
	}()
	return n
}

// wait returns a channel closed at the next change.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// poke wakes every waiter.
func (n *notifier) poke() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

func (n *notifier) close() {
	if n.w != nil {
		n.w.Close()
	}
	<-n.done
}
