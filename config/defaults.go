package config

import (
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
			Broker:          "amqp://guest:guest@localhost:5672//",
			Queue:           "celery",
			Concurrency:     ncpu,
			Prefetch:        0,
			ResultExpires:   24 * time.Hour,
			MaxRedeliveries: 5,
			ShutdownTimeout: 30 * time.Second,
			MaxMessageSize:  16 * MiB,
			// The seed's Celery app is named "tasks": serve its tasks.add out of the box.
			Tasks: []Task{{Name: "tasks.add", Builtin: "add"}},
		},
		Compute: Compute{Workers: ncpu, ChunkBytes: 8 * MiB, BlockBytes: 1 * MiB},
	}
}
