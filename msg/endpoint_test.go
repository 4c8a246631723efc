package msg

import (
	"errors"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for _, ok := range []string{"tcp://*:5555", "tcp://localhost:5555", "tcp://[::1]:5555", "tcp://127.0.0.1:*", "ipc:///tmp/x.sock", "inproc://name"} {
		if _, err := ParseEndpoint(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "localhost:5555", "tcp://localhost", "tcp://:5555", "udp://x:1", "tcp://x:notaport", "inproc://"} {
		if _, err := ParseEndpoint(bad); !errors.Is(err, ErrEndpoint) {
			t.Errorf("%q: got %v, want ErrEndpoint", bad, err)
		}
	}
}
