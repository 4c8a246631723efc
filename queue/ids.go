package queue

import "github.com/google/uuid"

// newID returns a random UUID4 string, the form of Celery's task ids.
func newID() string { return uuid.NewString() }
