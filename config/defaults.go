package config

import (
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Default returns the built-in configuration: the one place defaults live.
func Default() Config {
	ncpu := runtime.NumCPU()
	return Config{
		Output: "text",
		Log:    Log{Level: "info"},
		Zmq: Zmq{
			Bind:           []string{"tcp://*:5555"},
			Connect:        []string{"tcp://localhost:5555"},
			Timeout:        5 * time.Second,
			Retries:        3,
			MaxMessageSize: 64 * MiB,
			HWM:            1000,
			Plain:          ZmqPlain{Users: map[string]string{}},
			Curve:          ZmqCurve{Allow: []string{}},
		},
		Queue: Queue{
			Broker:            DefaultBroker(),
			Queue:             "celery",
			Concurrency:       ncpu,
			Prefetch:          0,
			ResultExpires:     24 * time.Hour,
			VisibilityTimeout: 30 * time.Second,
			MaxRedeliveries:   5,
			ShutdownTimeout:   30 * time.Second,
			MaxMessageSize:    16 * MiB,
			// The seed's Celery app is named "tasks": serve its tasks.add out of the box.
			Tasks:           []Task{{Name: "tasks.add", Builtin: "add"}},
			QueueArguments:  map[string]string{},
			Hostname:        "celery@%h",
			ControlExchange: "celery",
			EventExchange:   "celeryev",
		},
		Compute: Compute{Workers: ncpu, ChunkBytes: 8 * MiB, BlockBytes: 1 * MiB},
	}
}

// DefaultBroker is the embedded broker's file in the user's data directory:
// sqlite://$XDG_DATA_HOME/dsys/queue.db (~/.local/share/dsys/queue.db).
func DefaultBroker() string {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return "sqlite://" + filepath.Join(dir, "dsys", "queue.db")
}
