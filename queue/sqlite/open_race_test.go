package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Processes that start at once on a new queue file (two workers started
// together) all open it: none mistakes the file another is creating for a
// foreign database.
func TestOpenRacesOnANewFile(t *testing.T) {
	for round := range 100 {
		path := filepath.Join(t.TempDir(), "queue.db")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr, err := Open(ctx, path, Options{})
				if err == nil {
					err = tr.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
	}
}
