// Package events sends Celery's event messages — worker-online,
// worker-heartbeat, worker-offline and the task-* events — to the topic
// exchange "celeryev" (Celery's event_exchange), where `celery events`,
// Flower and app.events.Receiver read them. Events are at most once: a
// full buffer or a lost connection drops them, and the task work never
// waits for them.
package events

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// Options configure a Dispatcher. The zero value is the documented default.
type Options struct {
	// Hostname is the node name the events carry (default "celery@" + the
	// host name).
	Hostname string
	// Exchange is Celery's event_exchange (default "celeryev").
	Exchange string
	// TaskEvents sends task events from the start (celery worker -E);
	// worker events are always sent. SetTaskEvents changes it.
	TaskEvents bool
	// Interval is the heartbeat interval (default 2s, as Celery's).
	Interval time.Duration
	// Clock is the Lamport clock shared with remote control (nil: a
	// counter of the dispatcher's own).
	Clock interface{ Forward() int64 }
	// Load reports the worker's running tasks and the tasks it accepted
	// so far, for heartbeats (nil: zeros).
	Load func() (active, processed int)
	// Version is the software version heartbeats carry (sw_ver).
	Version string
	// Logger gets a line when events are dropped (nil: discard).
	Logger *slog.Logger
}

// Dispatcher sends events. Create it with New and start it with Run.
type Dispatcher struct {
	b     broker.Broadcaster
	opts  Options
	log   *slog.Logger
	ex    broker.Exchange
	pid   int
	tasks atomic.Bool
	queue chan Event
	beat  chan struct{}

	dropMu  sync.Mutex
	dropped int
	ownTick atomic.Int64
}

// bufferSize bounds the events waiting to be sent.
const bufferSize = 4096

// New returns a dispatcher sending over b.
func New(b broker.Broadcaster, opts Options) *Dispatcher {
	if opts.Hostname == "" {
		host, _ := os.Hostname()
		opts.Hostname = "celery@" + host
	}
	if opts.Exchange == "" {
		opts.Exchange = "celeryev"
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Dispatcher{b: b, opts: opts, log: log, pid: os.Getpid(),
		// Celery's event exchange: topic, durable (kombu's defaults).
		ex:    broker.Exchange{Name: opts.Exchange, Kind: broker.Topic, Durable: true},
		queue: make(chan Event, bufferSize), beat: make(chan struct{}, 1)}
	d.tasks.Store(opts.TaskEvents)
	return d
}

// TaskEvents reports whether task events are being sent.
func (d *Dispatcher) TaskEvents() bool { return d != nil && d.tasks.Load() }

// SetTaskEvents turns task events on or off (Celery's enable_events and
// disable_events); changed is false when they were so already.
func (d *Dispatcher) SetTaskEvents(on bool) (changed bool) {
	return d.tasks.Swap(on) != on
}

// Heartbeat sends a worker-heartbeat soon (Celery's heartbeat command).
func (d *Dispatcher) Heartbeat() {
	select {
	case d.beat <- struct{}{}:
	default:
	}
}

// Send queues a task event; it never blocks (a full buffer drops it).
// Task events are dropped while task events are off.
func (d *Dispatcher) Send(e Event) {
	if d == nil || !d.tasks.Load() {
		return
	}
	select {
	case d.queue <- e:
	default:
		d.dropMu.Lock()
		d.dropped++
		d.dropMu.Unlock()
	}
}

// Run sends worker-online, then the queued events and a heartbeat every
// Interval, until ctx is done; then it sends what is queued and
// worker-offline, within a few seconds, and returns.
func (d *Dispatcher) Run(ctx context.Context) {
	d.publish(ctx, d.worker("online"))
	tick := time.NewTicker(d.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case e := <-d.queue:
			d.publish(ctx, e)
		case <-tick.C:
			d.publish(ctx, d.worker("heartbeat"))
			d.reportDrops()
		case <-d.beat:
			d.publish(ctx, d.worker("heartbeat"))
		case <-ctx.Done():
			end, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			for {
				select {
				case e := <-d.queue:
					d.publish(end, e)
					continue
				default:
				}
				break
			}
			d.publish(end, d.worker("offline"))
			return
		}
	}
}

func (d *Dispatcher) reportDrops() {
	d.dropMu.Lock()
	n := d.dropped
	d.dropped = 0
	d.dropMu.Unlock()
	if n > 0 {
		d.log.Warn("queue: events: buffer full, task events dropped", "dropped", n)
	}
}

func (d *Dispatcher) worker(kind string) *Worker {
	active, processed := 0, 0
	if d.opts.Load != nil {
		active, processed = d.opts.Load()
	}
	return &Worker{Kind: kind, Freq: d.opts.Interval.Seconds(), Active: active, Processed: processed,
		Loadavg: loadAverage(), SwIdent: "dsys", SwVer: d.opts.Version, SwSys: swSys()}
}

// publish fills the event's header and sends it: routing key = its type
// with "-" as "." (task-succeeded → task.succeeded), header hostname, as
// Celery's EventDispatcher sends it.
func (d *Dispatcher) publish(ctx context.Context, e Event) {
	h := e.header()
	h.Type = e.eventType()
	h.Hostname = d.opts.Hostname
	h.PID = d.pid
	h.Utcoffset = utcoffset()
	if d.opts.Clock != nil {
		h.Clock = d.opts.Clock.Forward()
	} else {
		h.Clock = d.ownTick.Add(1)
	}
	if h.Timestamp == 0 {
		h.Timestamp = float64(time.Now().UnixNano()) / 1e9
	}
	body, err := json.Marshal(e)
	if err != nil {
		d.log.Warn("queue: events: cannot encode "+h.Type, "err", err)
		return
	}
	m := &broker.Message{ContentType: celery.ContentType, ContentEncoding: celery.ContentEncoding,
		Headers: map[string]any{"hostname": d.opts.Hostname}, Body: body}
	if err := d.b.Broadcast(ctx, d.ex, strings.ReplaceAll(h.Type, "-", "."), m); err != nil {
		d.log.Debug("queue: events: not sent", "type", h.Type, "err", err)
	}
}

// utcoffset is Celery's utcoffset(): hours west of UTC.
func utcoffset() int {
	_, off := time.Now().Zone()
	return -off / 3600
}

// swSys is Python's platform.system() for this OS.
func swSys() string {
	switch runtime.GOOS {
	case "linux":
		return "Linux"
	case "darwin":
		return "Darwin"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	}
	return runtime.GOOS
}
