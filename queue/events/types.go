package events

// Event is one of the event messages below. Its type (Celery's event
// name) comes from its Go type; the dispatcher fills its Header.
type Event interface {
	header() *Header
	eventType() string
}

// Header holds the fields every Celery event has; the dispatcher fills
// them when it sends the event.
type Header struct {
	Hostname  string  `json:"hostname"`
	Utcoffset int     `json:"utcoffset"`
	PID       int     `json:"pid"`
	Clock     int64   `json:"clock"`
	Timestamp float64 `json:"timestamp"` // Unix seconds
	Type      string  `json:"type"`
}

func (h *Header) header() *Header { return h }

// Worker is worker-online, worker-heartbeat and worker-offline.
type Worker struct {
	Header
	Kind      string     `json:"-"`         // online, heartbeat, offline
	Freq      float64    `json:"freq"`      // seconds between heartbeats
	Active    int        `json:"active"`    // tasks running
	Processed int        `json:"processed"` // tasks accepted so far
	Loadavg   [3]float64 `json:"loadavg"`
	SwIdent   string     `json:"sw_ident"`
	SwVer     string     `json:"sw_ver"`
	SwSys     string     `json:"sw_sys"`
}

// TaskReceived: the worker took a task from its queue.
type TaskReceived struct {
	Header
	UUID     string  `json:"uuid"`
	Name     string  `json:"name"`
	Args     string  `json:"args"`   // argsrepr
	Kwargs   string  `json:"kwargs"` // kwargsrepr
	RootID   *string `json:"root_id"`
	ParentID *string `json:"parent_id"`
	Retries  int     `json:"retries"`
	ETA      *string `json:"eta"`     // ISO 8601
	Expires  *string `json:"expires"` // ISO 8601
}

// TaskStarted: the task began to run.
type TaskStarted struct {
	Header
	UUID string `json:"uuid"`
}

// TaskSucceeded: the task returned.
type TaskSucceeded struct {
	Header
	UUID    string  `json:"uuid"`
	Result  string  `json:"result"`  // repr of the value
	Runtime float64 `json:"runtime"` // seconds
}

// TaskFailed: the task raised, for good (task-failed) or to be retried
// (task-retried, Retried set).
type TaskFailed struct {
	Header
	Retried   bool   `json:"-"`
	UUID      string `json:"uuid"`
	Exception string `json:"exception"` // repr, e.g. "ValueError('boom')"
	Traceback string `json:"traceback"`
}

// TaskRevoked: the task was not run (revoked, expired) or was terminated.
type TaskRevoked struct {
	Header
	UUID       string `json:"uuid"`
	Terminated bool   `json:"terminated"`
	Signum     *int   `json:"signum"`
	Expired    bool   `json:"expired"`
}

// TaskRejected: the message was refused (dsys: dead-lettered).
type TaskRejected struct {
	Header
	UUID    string `json:"uuid"`
	Requeue bool   `json:"requeue"`
}

func (*TaskReceived) eventType() string  { return "task-received" }
func (*TaskStarted) eventType() string   { return "task-started" }
func (*TaskSucceeded) eventType() string { return "task-succeeded" }
func (*TaskRevoked) eventType() string   { return "task-revoked" }
func (*TaskRejected) eventType() string  { return "task-rejected" }

// eventType of TaskFailed is task-failed, or task-retried when Retried.
func (e *TaskFailed) eventType() string {
	if e.Retried {
		return "task-retried"
	}
	return "task-failed"
}

// eventType of Worker is its Kind: worker-online, -heartbeat or -offline.
func (e *Worker) eventType() string { return "worker-" + e.Kind }
