//go:build !unix

package queue

// rusage is not available on this OS: "N/A", as Celery reports it.
func rusage() any { return "N/A" }
