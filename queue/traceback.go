package queue

import (
	"strings"

	"github.com/dsys-dev/dsys/queue/celery"
)

// traceback renders a failure raised by Go code in the layout of Python's
// tracebacks: a header, a frame line naming the worker and the task, the
// detail (a command's stderr, a panic's stack) indented, and last the
// exception as Python prints it ("module.Type: message", builtins
// unqualified). Celery clients show it as AsyncResult.traceback; Flower and
// log tools that parse tracebacks find the exception on the last line.
func traceback(hostname string, task *celery.Task, exc *celery.RemoteError, detail string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n  dsys worker ")
	b.WriteString(hostname)
	b.WriteString(", task ")
	b.WriteString(task.Name)
	b.WriteByte('[')
	b.WriteString(task.ID)
	b.WriteString("]\n")
	for _, line := range strings.Split(strings.TrimRight(detail, "\n"), "\n") {
		if line != "" {
			b.WriteString("    ")
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if exc.Module != "" && exc.Module != "builtins" {
		b.WriteString(exc.Module)
		b.WriteByte('.')
	}
	b.WriteString(exc.Type)
	if msg := strings.TrimPrefix(exc.Error(), exc.Type); msg != "" {
		b.WriteString(msg) // ": message"
	}
	b.WriteByte('\n')
	return b.String()
}

// remoteError maps a task's error to the exception Celery clients see, with
// a traceback in Python's layout when the error brings none of its own (a
// command's stderr and a panic's stack are kept as they are).
func (r *rules) remoteError(err error, def *TaskDef, task *celery.Task) *celery.RemoteError {
	exc := remoteError(err, def, task)
	if exc.Traceback != "" && exc.Traceback != err.Error() {
		return exc
	}
	cp := *exc
	cp.Traceback = traceback(r.origin, task, exc, "")
	return &cp
}
