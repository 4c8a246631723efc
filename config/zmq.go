package config

import "time"

// Zmq configures `dsys zmq`.
type Zmq struct {
	Bind           []string      `mapstructure:"bind" doc:"endpoints a binding socket (serve, and --bind) listens on"`
	Connect        []string      `mapstructure:"connect" doc:"endpoints a connecting socket (send, and --connect) dials"`
	Timeout        time.Duration `mapstructure:"timeout" doc:"how long a request, a send or the wait for a first peer may take"`
	Retries        int           `mapstructure:"retries" doc:"how often send retries a request that timed out (Lazy Pirate)"`
	MaxMessageSize ByteSize      `mapstructure:"max_message_size" doc:"larger messages from a peer are dropped and logged"`
	HWM            int           `mapstructure:"hwm" doc:"messages queued per peer before a sender blocks"`
	Heartbeat      time.Duration `mapstructure:"heartbeat" doc:"interval of ZMTP PINGs to each peer; a peer silent for 3 intervals is dropped; 0s disables"`
	Plain          ZmqPlain      `mapstructure:"plain"`
	Curve          ZmqCurve      `mapstructure:"curve"`
}

// ZmqPlain holds ZMTP PLAIN credentials: User/Password for clients, Users for servers.
type ZmqPlain struct {
	User     string            `mapstructure:"user" doc:"PLAIN user name a client presents"`
	Password string            `mapstructure:"password" secret:"true" doc:"PLAIN password a client presents"`
	Users    map[string]string `mapstructure:"users" secret:"true" doc:"user: password pairs a server accepts; empty means no PLAIN"`
}

// ZmqCurve holds ZMTP CURVE keys (Z85): Server makes a socket a client of
// that server; without it, Secret makes a socket a server.
type ZmqCurve struct {
	Secret string   `mapstructure:"secret" secret:"true" doc:"our CURVE secret key (Z85, from dsys zmq keygen); a server needs one, a client without one uses a fresh key pair"`
	Server string   `mapstructure:"server" doc:"the CURVE server's public key (Z85): makes a socket a CURVE client of that server"`
	Allow  []string `mapstructure:"allow" doc:"CURVE client public keys (Z85) a server admits; empty admits any client that knows the server's key"`
}
