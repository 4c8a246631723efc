package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/brokertest"
	"github.com/dsys-dev/dsys/queue/sqlite"
)

func open(t testing.TB, path string, opts sqlite.Options) *sqlite.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return tr
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	brokertest.Run(t, func(t testing.TB) broker.Transport { return open(t, path, sqlite.Options{}) })
}
