package config

import "time"

// Queue configures `dsys queue`.
type Queue struct {
	Broker            string        `mapstructure:"broker" auto:"sqlite://$XDG_DATA_HOME/dsys/queue.db (the embedded broker; ~/.local/share/dsys/queue.db)" doc:"broker URL: sqlite://PATH (the embedded broker), amqp://, amqps://, pyamqp://user:password@host:port/vhost for RabbitMQ, or redis://[:password@]host[:port][/db], rediss:// for Redis (RabbitMQ and Redis serve Celery clients too)"`
	Queue             string        `mapstructure:"queue" doc:"queue that tasks go to and workers consume (comma-separated for several)"`
	Concurrency       int           `mapstructure:"concurrency" auto:"the number of CPUs" doc:"tasks a worker runs at once"`
	Prefetch          int           `mapstructure:"prefetch" doc:"unacknowledged messages a worker holds; 0 means equal to concurrency"`
	ResultExpires     time.Duration `mapstructure:"result_expires" doc:"how long results are kept (sqlite://, Redis results: 0 = for ever) or an unread reply queue lives (amqp://)"`
	ResultBackend     string        `mapstructure:"result_backend" doc:"where results go: empty = the broker's own store (the file on sqlite://, rpc:// on RabbitMQ, the same Redis on redis://), rpc://, or redis://[:password@]host[:port][/db] (Celery's Redis result backend)"`
	VisibilityTimeout time.Duration `mapstructure:"visibility_timeout" doc:"how long a task claimed from the embedded broker or Redis stays invisible to others without its worker renewing the lease (renewed at a third of it)"`
	MaxRedeliveries   int           `mapstructure:"max_redeliveries" doc:"deliveries of one message before it goes to <queue>.dead"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout" doc:"how long a stopping worker lets running tasks finish"`
	ConnectTimeout    time.Duration `mapstructure:"connect_timeout" doc:"how long a starting worker retries a broker (or result backend) it cannot reach, with backoff, logging each try; 0 = until stopped"`
	MaxMessageSize    ByteSize      `mapstructure:"max_message_size" doc:"larger task messages (also once decompressed) are dead-lettered and answered LimitExceeded"`
	TLS               QueueTLS      `mapstructure:"tls"`
	Tasks             []Task        `mapstructure:"tasks" doc:"task definitions: {name, builtin} or {name, command, timeout, retries, retry_backoff, allow_options}"`
	// Celery's tools beyond tasks: queue declarations, STARTED, remote control, events.
	QueueArguments  map[string]string `mapstructure:"queue_arguments" doc:"arguments of the task queues dsys creates, e.g. x-max-priority: 10 (queues that exist are used as declared)"`
	TrackStarted    bool              `mapstructure:"track_started" doc:"publish a STARTED state when a task begins (Celery's task_track_started)"`
	Hostname        string            `mapstructure:"hostname" doc:"worker node name for remote control and events; %h host, %n name, %d domain (Celery's -n)"`
	Events          bool              `mapstructure:"events" doc:"send task events to the event exchange from the start (Celery's -E)"`
	ControlExchange string            `mapstructure:"control_exchange" doc:"Celery's control_exchange: remote control commands come on <name>.pidbox"`
	EventExchange   string            `mapstructure:"event_exchange" doc:"Celery's event_exchange, where worker and task events go"`
}

// QueueTLS configures amqps:// connections.
type QueueTLS struct {
	CAFile             string `mapstructure:"ca_file" doc:"PEM file of CAs that sign the broker's certificate (default: system roots)"`
	CertFile           string `mapstructure:"cert_file" doc:"PEM client certificate for mutual TLS"`
	KeyFile            string `mapstructure:"key_file" doc:"PEM key of the client certificate"`
	ServerName         string `mapstructure:"server_name" doc:"name to verify the broker's certificate against (default: the URL's host)"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify" doc:"accept any broker certificate (testing only)"`
}

// Task defines one task a worker serves: a built-in under a name, or a command.
type Task struct {
	Name         string        `mapstructure:"name" json:"name"`
	Builtin      string        `mapstructure:"builtin" json:"builtin,omitempty"`
	Command      []string      `mapstructure:"command" json:"command,omitempty"`
	Timeout      time.Duration `mapstructure:"timeout" json:"timeout,omitempty"`
	Retries      int           `mapstructure:"retries" json:"retries,omitempty"`
	RetryBackoff time.Duration `mapstructure:"retry_backoff" json:"retry_backoff,omitempty"`
	// AllowOptions lets a command's arguments start with "-" where the
	// template gives no "--" before them.
	AllowOptions bool `mapstructure:"allow_options" json:"allow_options,omitempty"`
}
