package queue

import "fmt"

// Terminated is the cause of a task context cancelled by remote control
// (Celery's revoke with terminate=True): the run's result is REVOKED
// ("terminated"), and a command task's process group gets Signal.
type Terminated struct {
	Signal int // the signal number (15 = SIGTERM)
}

func (e *Terminated) Error() string {
	return fmt.Sprintf("queue: task terminated by remote control (signal %d)", e.Signal)
}
