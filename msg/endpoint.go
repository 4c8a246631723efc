package msg

import (
	"fmt"
	"net"
	"strings"
)

// Endpoint is a parsed ZeroMQ endpoint: tcp://host:port, ipc://path or
// inproc://name.
type Endpoint struct {
	Transport string // "tcp", "ipc" or "inproc"
	Addr      string // host:port, filesystem path or inproc name
}

// String returns the endpoint in transport://address form.
func (e Endpoint) String() string { return e.Transport + "://" + e.Addr }

// ParseEndpoint parses s. For tcp, host "*" means every interface and port
// "*" or "0" an ephemeral port (bind only).
func ParseEndpoint(s string) (Endpoint, error) {
	tr, addr, ok := strings.Cut(s, "://")
	if !ok || addr == "" {
		return Endpoint{}, fmt.Errorf("%w %q: want transport://address (tcp, ipc, inproc)", ErrEndpoint, s)
	}
	e := Endpoint{Transport: tr, Addr: addr}
	switch tr {
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w %q: %v", ErrEndpoint, s, err)
		}
		if port == "" {
			return Endpoint{}, fmt.Errorf("%w %q: missing port", ErrEndpoint, s)
		}
		if port != "*" {
			if _, err := net.LookupPort("tcp", port); err != nil {
				return Endpoint{}, fmt.Errorf("%w %q: bad port %q", ErrEndpoint, s, port)
			}
		}
		if host == "" {
			return Endpoint{}, fmt.Errorf("%w %q: missing host (use * to bind every interface)", ErrEndpoint, s)
		}
	case "ipc", "inproc":
	default:
		return Endpoint{}, fmt.Errorf("%w %q: unsupported transport %q (tcp, ipc, inproc)", ErrEndpoint, s, tr)
	}
	return e, nil
}

// listenAddr is the address to hand to net.Listen for a tcp endpoint.
func (e Endpoint) listenAddr() string {
	host, port, _ := net.SplitHostPort(e.Addr)
	if host == "*" {
		host = ""
	}
	if port == "*" {
		port = "0"
	}
	return net.JoinHostPort(host, port)
}
