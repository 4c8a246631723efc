package queue

import (
	"context"
	"errors"
	"fmt"
)

// Terminated is the cause of a task context cancelled by remote control
// (Celery's revoke with terminate=True): the run's result is REVOKED
// ("terminated"), and a command task's process group gets Signal.
type Terminated struct {
	Signal int // the signal number (15 = SIGTERM)
}

func (e *Terminated) Error() string {
	return fmt.Sprintf("queue: task terminated by remote control (signal %d)", e.Signal)
}

// sigterm is SIGTERM's number, the signal a cancelled command gets.
const sigterm = 15

// stopSignal is the signal a command whose context ended gets: the one a
// remote terminate asked for, else SIGTERM.
func stopSignal(ctx context.Context) int {
	var t *Terminated
	if errors.As(context.Cause(ctx), &t) && t.Signal > 0 {
		return t.Signal
	}
	return sigterm
}
