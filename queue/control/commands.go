package control

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// errNoReply: the command is not answered (Celery's shutdown raises
// SystemExit before replying).
var errNoReply = errors.New("no reply")

// commands are the remote control commands a dsys worker answers, by
// Celery's names (celery/worker/control.py), each with its reply.
var commands = map[string]func(n *Node, a args) (any, error){
	"ping":     func(*Node, args) (any, error) { return ok{"pong"}, nil },
	"active":   func(n *Node, _ args) (any, error) { return nonNil(n.h.Active()), nil },
	"reserved": func(n *Node, _ args) (any, error) { return nonNil(n.h.Reserved()), nil },
	"scheduled": func(n *Node, _ args) (any, error) {
		s := n.h.Scheduled()
		if s == nil {
			s = []Scheduled{}
		}
		return s, nil
	},
	"registered": func(n *Node, a args) (any, error) {
		builtins := a.bool("builtins")
		names := []string{}
		for _, name := range n.h.Registered() {
			if builtins || !strings.HasPrefix(name, "celery.") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		return names, nil
	},
	"stats": func(n *Node, _ args) (any, error) {
		s := n.h.Stats()
		s.PID = n.pid
		s.Clock = fmt.Sprint(n.opts.Clock.Value())
		s.Uptime = int64(time.Since(n.started).Round(time.Second) / time.Second)
		if s.Total == nil {
			s.Total = map[string]int{}
		}
		if s.Rusage == nil {
			s.Rusage = "N/A"
		}
		return s, nil
	},
	"active_queues": func(n *Node, _ args) (any, error) {
		q := n.h.ActiveQueues()
		if q == nil {
			q = []QueueInfo{}
		}
		return q, nil
	},
	"conf": func(n *Node, _ args) (any, error) {
		c := n.h.Conf()
		c["control_exchange"] = n.opts.Exchange
		return c, nil
	},
	"query_task": func(n *Node, a args) (any, error) {
		want := map[string]bool{}
		for _, id := range a.strings("ids") {
			want[id] = true
		}
		out := map[string][2]any{}
		for _, set := range []struct {
			state string
			reqs  []Request
		}{{"active", n.h.Active()}, {"reserved", n.h.Reserved()}} {
			for _, r := range set.reqs {
				if want[r.ID] {
					out[r.ID] = [2]any{set.state, r}
				}
			}
		}
		for _, s := range n.h.Scheduled() {
			if want[s.Request.ID] {
				out[s.Request.ID] = [2]any{"reserved", s.Request}
			}
		}
		return out, nil
	},
	"revoke": func(n *Node, a args) (any, error) {
		return n.revoke(a.strings("task_id"), a.bool("terminate"), a.string("signal"))
	},
	"terminate": func(n *Node, a args) (any, error) {
		return n.revoke(a.strings("task_id"), true, a.string("signal"))
	},
	"revoked": func(n *Node, _ args) (any, error) { return n.opts.Revoked.IDs(), nil },
	"hello": func(n *Node, a args) (any, error) {
		from := a.string("from_node")
		if from == n.opts.Hostname {
			return nil, nil
		}
		ids := make([]string, 0)
		for id := range a.object("revoked") {
			ids = append(ids, id)
		}
		n.opts.Revoked.Add(ids...)
		n.log.Info("queue: remote control: sync with "+from, "revoked", len(ids))
		return helloReply{Revoked: n.helloRevoked(), Clock: n.opts.Clock.Forward()}, nil
	},
	"clock": func(n *Node, _ args) (any, error) {
		return map[string]int64{"clock": n.opts.Clock.Value()}, nil
	},
	"enable_events": func(n *Node, _ args) (any, error) {
		if n.h.TaskEvents(true) {
			n.log.Info("queue: remote control: task events enabled")
			return ok{"task events enabled"}, nil
		}
		return ok{"task events already enabled"}, nil
	},
	"disable_events": func(n *Node, _ args) (any, error) {
		if n.h.TaskEvents(false) {
			n.log.Info("queue: remote control: task events disabled")
			return ok{"task events disabled"}, nil
		}
		return ok{"task events already disabled"}, nil
	},
	"heartbeat": func(n *Node, _ args) (any, error) {
		n.h.Heartbeat()
		return nil, nil
	},
	"shutdown": func(n *Node, a args) (any, error) {
		msg := a.string("msg")
		if msg == "" {
			msg = "Got shutdown from remote"
		}
		n.log.Warn("queue: remote control: " + msg)
		n.h.Shutdown(msg)
		return nil, errNoReply
	},
	"report": func(n *Node, _ args) (any, error) {
		return ok{fmt.Sprintf("software -> dsys (Celery protocol 2) pid:%d\nnode -> %s", n.pid, n.opts.Hostname)}, nil
	},
}

// revoke remembers ids as revoked (a task arriving later is not run; its
// state is REVOKED) and, with terminate, stops those running here.
func (n *Node) revoke(ids []string, terminate bool, signal string) (any, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("revoke: no task_id")
	}
	n.opts.Revoked.Add(ids...)
	if terminate {
		sig, err := signalNumber(signal)
		if err != nil {
			return nil, err
		}
		done := n.h.Terminate(ids, sig)
		if len(done) == 0 {
			return ok{"terminate: tasks unknown"}, nil
		}
		n.log.Info("queue: remote control: terminated", "ids", done, "signal", sig)
		return ok{"terminate: " + strings.Join(done, ", ")}, nil
	}
	n.log.Info("queue: remote control: tasks flagged as revoked", "ids", ids)
	return ok{fmt.Sprintf("tasks %s flagged as revoked", strings.Join(ids, ", "))}, nil
}

func nonNil(r []Request) []Request {
	if r == nil {
		return []Request{}
	}
	return r
}

// args are a command's arguments as the JSON decoder gives them.
type args map[string]any

func (a args) string(k string) string {
	s, _ := a[k].(string)
	return s
}

func (a args) bool(k string) bool {
	b, _ := a[k].(bool)
	return b
}

func (a args) object(k string) map[string]any {
	m, _ := a[k].(map[string]any)
	return m
}

// strings reads a string or a list of strings (Celery's maybe_list).
func (a args) strings(k string) []string {
	switch v := a[k].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// match is kombu.matcher.match: "glob" (shell patterns) or "pcre"
// (a regular expression searched in the name).
func match(name, pattern, matcher string) bool {
	switch matcher {
	case "glob":
		ok, err := path.Match(pattern, name)
		return err == nil && ok
	case "pcre":
		re, err := regexp.Compile(pattern)
		return err == nil && re.MatchString(name)
	}
	return false
}

// signalNumber reads a signal as Celery's signals.signum does: a number,
// or an upper-case name with or without "SIG" ("TERM" when empty).
func signalNumber(name string) (int, error) {
	if name == "" {
		name = "SIGTERM"
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	if name != strings.ToUpper(name) {
		return 0, fmt.Errorf("signal name must be uppercase string, got %q", name)
	}
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	n := signalByName(name)
	if n == 0 {
		return 0, fmt.Errorf("unknown signal %s on %s", name, runtime.GOOS)
	}
	return n, nil
}
