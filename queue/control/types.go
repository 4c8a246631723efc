package control

// The replies of remote control commands, shaped as a Celery 5.2 worker
// shapes them (celery/worker/control.py), so that `celery inspect`, `celery
// status` and Flower read dsys workers as they read Celery's.

// Request is a task as Celery's Request.info() describes it: in the replies
// of active, reserved, scheduled and query_task.
type Request struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Args         []any          `json:"args"`
	Kwargs       map[string]any `json:"kwargs"`
	Type         string         `json:"type"`
	Hostname     string         `json:"hostname"`
	TimeStart    *float64       `json:"time_start"` // Unix seconds; null until it runs
	Acknowledged bool           `json:"acknowledged"`
	DeliveryInfo DeliveryInfo   `json:"delivery_info"`
	WorkerPID    *int           `json:"worker_pid"`
}

// DeliveryInfo is where a task came from.
type DeliveryInfo struct {
	Exchange    string `json:"exchange"`
	RoutingKey  string `json:"routing_key"`
	Priority    int    `json:"priority"`
	Redelivered bool   `json:"redelivered"`
}

// Scheduled is a task held for its eta, in the reply of scheduled.
type Scheduled struct {
	ETA      string  `json:"eta"` // ISO 8601
	Priority int     `json:"priority"`
	Request  Request `json:"request"`
}

// Stats is the reply of stats.
type Stats struct {
	Total         map[string]int `json:"total"` // tasks accepted, by name
	PID           int            `json:"pid"`
	Clock         string         `json:"clock"` // Celery sends it as a string
	Uptime        int64          `json:"uptime"`
	Pool          Pool           `json:"pool"`
	Broker        BrokerInfo     `json:"broker"`
	PrefetchCount int            `json:"prefetch_count"`
	Rusage        any            `json:"rusage"` // a Rusage, or "N/A"
}

// Pool describes the worker's execution slots (Celery: its pool processes;
// dsys runs tasks in goroutines of one process, which processes lists).
type Pool struct {
	MaxConcurrency        int    `json:"max-concurrency"`
	Processes             []int  `json:"processes"`
	MaxTasksPerChild      string `json:"max-tasks-per-child"`
	PutGuardedBySemaphore bool   `json:"put-guarded-by-semaphore"`
	Timeouts              [2]int `json:"timeouts"`
	Implementation        string `json:"implementation"`
}

// BrokerInfo is the broker connection as kombu's Connection.info() gives it.
type BrokerInfo struct {
	Hostname         string   `json:"hostname"`
	UserID           string   `json:"userid"`
	VirtualHost      string   `json:"virtual_host"`
	Port             int      `json:"port"`
	Insist           bool     `json:"insist"`
	SSL              bool     `json:"ssl"`
	Transport        string   `json:"transport"` // "amqp", "redis", "sqlite"
	ConnectTimeout   int      `json:"connect_timeout"`
	TransportOptions struct{} `json:"transport_options"`
	LoginMethod      string   `json:"login_method"`
	URIPrefix        *string  `json:"uri_prefix"`
	Heartbeat        float64  `json:"heartbeat"`
	FailoverStrategy string   `json:"failover_strategy"`
	Alternates       []string `json:"alternates"`
}

// Rusage is getrusage(RUSAGE_SELF), as Celery reports it (times in
// seconds, maxrss in KiB).
type Rusage struct {
	Utime    float64 `json:"utime"`
	Stime    float64 `json:"stime"`
	Maxrss   int64   `json:"maxrss"`
	Ixrss    int64   `json:"ixrss"`
	Idrss    int64   `json:"idrss"`
	Isrss    int64   `json:"isrss"`
	Minflt   int64   `json:"minflt"`
	Majflt   int64   `json:"majflt"`
	Nswap    int64   `json:"nswap"`
	Inblock  int64   `json:"inblock"`
	Oublock  int64   `json:"oublock"`
	Msgsnd   int64   `json:"msgsnd"`
	Msgrcv   int64   `json:"msgrcv"`
	Nsignals int64   `json:"nsignals"`
	Nvcsw    int64   `json:"nvcsw"`
	Nivcsw   int64   `json:"nivcsw"`
}

// QueueInfo is a consumed queue as kombu's Queue.as_dict(recurse=True)
// gives it, in the reply of active_queues.
type QueueInfo struct {
	Name             string         `json:"name"`
	Exchange         ExchangeInfo   `json:"exchange"`
	RoutingKey       string         `json:"routing_key"`
	QueueArguments   map[string]any `json:"queue_arguments"`
	BindingArguments map[string]any `json:"binding_arguments"`
	ConsumerArgs     map[string]any `json:"consumer_arguments"`
	Durable          bool           `json:"durable"`
	Exclusive        bool           `json:"exclusive"`
	AutoDelete       bool           `json:"auto_delete"`
	NoAck            bool           `json:"no_ack"`
	Alias            *string        `json:"alias"`
	Bindings         []any          `json:"bindings"`
	NoDeclare        *bool          `json:"no_declare"`
	Expires          *float64       `json:"expires"`
	MessageTTL       *float64       `json:"message_ttl"`
	MaxLength        *int           `json:"max_length"`
	MaxLengthBytes   *int           `json:"max_length_bytes"`
	MaxPriority      *int           `json:"max_priority"`
}

// ExchangeInfo is a queue's exchange in QueueInfo.
type ExchangeInfo struct {
	Name         string         `json:"name"`
	Type         string         `json:"type"`
	Arguments    map[string]any `json:"arguments"`
	Durable      bool           `json:"durable"`
	Passive      bool           `json:"passive"`
	AutoDelete   bool           `json:"auto_delete"`
	DeliveryMode *int           `json:"delivery_mode"`
	NoDeclare    bool           `json:"no_declare"`
}

// ok and errorReply are Celery's {"ok": …} and {"error": …} replies.
type ok struct {
	OK string `json:"ok"`
}

type errorReply struct {
	Error string `json:"error"`
}

// helloReply is the reply to mingle's hello: the revoked ids, each with
// when it was revoked (Celery's LimitedSet._data: id → [timestamp, id]),
// and the clock.
type helloReply struct {
	Revoked map[string][2]any `json:"revoked"`
	Clock   int64             `json:"clock"`
}
