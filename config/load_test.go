package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// isolate gives a test an empty working directory and config home and no
// DSYS_* variables.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("HOME", filepath.Join(dir, "home"))
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "DSYS_") && !strings.HasPrefix(name, "DSYS_TEST_") {
			t.Setenv(name, "")
		}
	}
	return dir
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flagSet makes flags like the commands bind, and sets those in set.
func flagSet(t *testing.T, set map[string]string) map[string]*pflag.Flag {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("broker", "", "")
	fs.Int("workers", 0, "")
	fs.Duration("timeout", 0, "")
	fs.StringSlice("connect", nil, "")
	for name, v := range set {
		if err := fs.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]*pflag.Flag{
		"queue.broker":    fs.Lookup("broker"),
		"compute.workers": fs.Lookup("workers"),
		"zmq.timeout":     fs.Lookup("timeout"),
		"zmq.connect":     fs.Lookup("connect"),
	}
}

const precedenceFile = `
queue:
  broker: amqp://file@filehost//
compute:
  workers: 11
zmq:
  timeout: 11s
  connect: [tcp://file:1, tcp://file:2]
`

// TestPrecedence checks that each source beats the next, for a string, an
// int, a duration and a list.
func TestPrecedence(t *testing.T) {
	type want struct {
		broker  string
		workers int
		timeout time.Duration
		connect []string
		source  string
	}
	def := Default()
	cases := []struct {
		name  string
		file  bool
		env   bool
		flags bool
		want  want
	}{
		{"defaults", false, false, false, want{def.Queue.Broker, def.Compute.Workers, def.Zmq.Timeout, def.Zmq.Connect, "default"}},
		{"file beats default", true, false, false, want{"amqp://file@filehost//", 11, 11 * time.Second, []string{"tcp://file:1", "tcp://file:2"}, "dsys.yaml"}},
		{"env beats file", true, true, false, want{"amqp://env@envhost//", 22, 22 * time.Second, []string{"tcp://env:1", "tcp://env:2"}, "ENV"}},
		{"flag beats env", true, true, true, want{"amqp://flag@flaghost//", 33, 33 * time.Second, []string{"tcp://flag:1", "tcp://flag:2"}, "flag"}},
		{"flag beats default", false, false, true, want{"amqp://flag@flaghost//", 33, 33 * time.Second, []string{"tcp://flag:1", "tcp://flag:2"}, "flag"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			if c.name == "defaults" { // the default broker's path follows HOME
				c.want.broker = Default().Queue.Broker
			}
			if c.file {
				writeFile(t, "dsys.yaml", precedenceFile)
			}
			if c.env {
				t.Setenv("DSYS_QUEUE_BROKER", "amqp://env@envhost//")
				t.Setenv("DSYS_COMPUTE_WORKERS", "22")
				t.Setenv("DSYS_ZMQ_TIMEOUT", "22s")
				t.Setenv("DSYS_ZMQ_CONNECT", "tcp://env:1, tcp://env:2")
			}
			set := map[string]string{}
			if c.flags {
				set = map[string]string{"broker": "amqp://flag@flaghost//", "workers": "33", "timeout": "33s", "connect": "tcp://flag:1,tcp://flag:2"}
			}
			l, err := Load(Options{Flags: flagSet(t, set)})
			if err != nil {
				t.Fatal(err)
			}
			got := want{l.Config.Queue.Broker, l.Config.Compute.Workers, l.Config.Zmq.Timeout, l.Config.Zmq.Connect, ""}
			got.source = c.want.source
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			for _, key := range []string{"queue.broker", "compute.workers", "zmq.timeout", "zmq.connect"} {
				wantSrc := c.want.source
				if wantSrc == "ENV" {
					wantSrc = EnvName(key)
				}
				if s := l.Source(key).String(); s != wantSrc {
					t.Errorf("source of %s = %q, want %q", key, s, wantSrc)
				}
			}
			if s := l.Source("log.level").String(); s != "default" {
				t.Errorf("untouched key log.level has source %q", s)
			}
		})
	}
}

func TestFileLookupOrder(t *testing.T) {
	dir := isolate(t)
	etc := "/etc/dsys/config.yaml"
	if _, err := os.Stat(etc); err == nil {
		t.Logf("%s exists on this machine; it ranks last, so the order below still holds", etc)
	}
	xdg := writeFile(t, filepath.Join(dir, "xdg", "dsys", "config.yaml"), "compute: {workers: 2}\n")
	l, err := Load(Options{})
	if err != nil || l.File != xdg {
		t.Fatalf("file %q, err %v; want the XDG file %s", l.File, err, xdg)
	}
	writeFile(t, "dsys.yaml", "compute: {workers: 3}\n")
	if l, err = Load(Options{}); err != nil || l.File != "dsys.yaml" || l.Config.Compute.Workers != 3 {
		t.Fatalf("file %q, err %v; ./dsys.yaml should win over the XDG file", l.File, err)
	}
	named := writeFile(t, filepath.Join(dir, "named.toml"), "[compute]\nworkers = 4\n")
	t.Setenv("DSYS_CONFIG", named)
	if l, err = Load(Options{}); err != nil || l.File != named || l.Config.Compute.Workers != 4 {
		t.Fatalf("file %q, err %v; DSYS_CONFIG should win over ./dsys.yaml", l.File, err)
	}
	flagged := writeFile(t, filepath.Join(dir, "flagged.json"), `{"compute": {"workers": 5}}`)
	if l, err = Load(Options{File: flagged}); err != nil || l.File != flagged || l.Config.Compute.Workers != 5 {
		t.Fatalf("file %q, err %v; --config should win over DSYS_CONFIG", l.File, err)
	}
	// XDG_CONFIG_HOME unset: ~/.config/dsys/config.yaml.
	t.Setenv("DSYS_CONFIG", "")
	os.Remove("dsys.yaml")
	t.Setenv("XDG_CONFIG_HOME", "")
	home := writeFile(t, filepath.Join(dir, "home", ".config", "dsys", "config.yaml"), "compute: {workers: 6}\n")
	if l, err = Load(Options{}); err != nil || l.File != home {
		t.Fatalf("file %q, err %v; want %s", l.File, err, home)
	}
}

func TestNoFileIsFine(t *testing.T) {
	isolate(t)
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Config, Default()) || l.File != "" {
		t.Errorf("without a file the config should be the defaults")
	}
}

// TestBadInput covers every bad-input case: each is one *Error naming the
// file (with its line) or the variable, the key, and what was expected.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		file string // content of dsys.yaml, or "" for none
		env  map[string]string
		want []string // substrings of the message
	}{
		{"unparsable yaml", "zmq:\n  timeout: [5s\n", nil, []string{"dsys.yaml", "cannot parse"}},
		{"unparsable toml", "", map[string]string{"DSYS_CONFIG": "bad.toml"}, []string{"bad.toml", "cannot parse"}},
		{"unknown key with suggestion", "compute:\n  wokers: 4\n", nil, []string{"dsys.yaml:2", `"compute.wokers"`, "unknown key", `did you mean "compute.workers"`}},
		{"unknown section", "computer:\n  workers: 4\n", nil, []string{"dsys.yaml:", `"computer.workers"`, "unknown key"}},
		{"int of wrong type", "compute:\n  workers: many\n", nil, []string{"dsys.yaml:2", `"compute.workers"`, "expected an integer", `"many"`}},
		{"fractional int", "compute:\n  workers: 2.5\n", nil, []string{"dsys.yaml:2", "expected an integer", "2.5"}},
		{"duration of wrong type", "zmq:\n  timeout: 5 parsecs\n", nil, []string{"dsys.yaml:2", `"zmq.timeout"`, "expected a duration", `"5 parsecs"`}},
		{"bare number for a duration", "zmq:\n  timeout: 5\n", nil, []string{`"zmq.timeout"`, "expected a duration"}},
		{"list of maps for a string list", "zmq:\n  connect: [{a: 1}]\n", nil, []string{`"zmq.connect"`, "expected a list of strings"}},
		{"bad byte size", "zmq:\n  max_message_size: lots\n", nil, []string{`"zmq.max_message_size"`, "expected a byte size"}},
		{"section as scalar", "compute: 5\n", nil, []string{"dsys.yaml:1", `"compute"`, "expected a mapping"}},
		{"task with unknown field", "queue:\n  tasks:\n    - name: x\n      comand: [ls]\n", nil, []string{`"queue.tasks"`, "task 0", "unknown field comand"}},
		{"task with neither builtin nor command", "queue:\n  tasks:\n    - name: x\n", nil, []string{`"queue.tasks"`, "needs builtin or command"}},
		{"out of range", "compute:\n  workers: 0\n", nil, []string{"dsys.yaml:2", `"compute.workers"`, "expected a positive integer"}},
		{"bad log level", "log:\n  level: loud\n", nil, []string{`"log.level"`, "expected debug, info, warn or error"}},
		{"env int", "", map[string]string{"DSYS_COMPUTE_WORKERS": "many"}, []string{"DSYS_COMPUTE_WORKERS", `"compute.workers"`, "expected an integer"}},
		{"env duration", "", map[string]string{"DSYS_ZMQ_TIMEOUT": "5 parsecs"}, []string{"DSYS_ZMQ_TIMEOUT", `"zmq.timeout"`, "expected a duration"}},
		{"env tasks not JSON", "", map[string]string{"DSYS_QUEUE_TASKS": "[{name: x"}, []string{"DSYS_QUEUE_TASKS", "in JSON"}},
		{"missing named file", "", map[string]string{"DSYS_CONFIG": "nope.yaml"}, []string{"nope.yaml", "DSYS_CONFIG", "no such file"}},
		{"unknown format", "", map[string]string{"DSYS_CONFIG": "conf.ini"}, []string{"conf.ini", "unknown config format"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			if c.file != "" {
				writeFile(t, "dsys.yaml", c.file)
			}
			writeFile(t, "bad.toml", "[compute\nworkers = 1\n")
			writeFile(t, "conf.ini", "[compute]\n")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load(Options{})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "config: ") {
				t.Errorf("message %q should be one line starting with 'config: '", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestUnknownEnvironmentVariableWarns(t *testing.T) {
	isolate(t)
	t.Setenv("DSYS_COMPUTE_WOKERS", "3")
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "DSYS_COMPUTE_WOKERS") || !strings.Contains(l.Warnings[0], "DSYS_COMPUTE_WORKERS") {
		t.Errorf("warnings %q", l.Warnings)
	}
}

func TestMapAndTaskValues(t *testing.T) {
	isolate(t)
	writeFile(t, "dsys.yaml", `
zmq:
  plain:
    users:
      Alice: s3cret
      bob: hunter2
queue:
  tasks:
    - name: tasks.add
      builtin: add
    - name: resize
      command: [convert, "{0}", -resize, "{1}", "{0}.small.png"]
      timeout: 60s
      retries: 3
      retry_backoff: 2s
`)
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"Alice": "s3cret", "bob": "hunter2"}; !reflect.DeepEqual(l.Config.Zmq.Plain.Users, want) {
		t.Errorf("users %v, want %v (user names keep their case)", l.Config.Zmq.Plain.Users, want)
	}
	want := []Task{
		{Name: "tasks.add", Builtin: "add"},
		{Name: "resize", Command: []string{"convert", "{0}", "-resize", "{1}", "{0}.small.png"}, Timeout: time.Minute, Retries: 3, RetryBackoff: 2 * time.Second},
	}
	if !reflect.DeepEqual(l.Config.Queue.Tasks, want) {
		t.Errorf("tasks %+v, want %+v", l.Config.Queue.Tasks, want)
	}
	t.Setenv("DSYS_ZMQ_PLAIN_USERS", "carol=pw1,dave=pw2")
	t.Setenv("DSYS_QUEUE_TASKS", `[{"name": "e", "builtin": "echo"}]`)
	if l, err = Load(Options{}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"carol": "pw1", "dave": "pw2"}; !reflect.DeepEqual(l.Config.Zmq.Plain.Users, want) {
		t.Errorf("users from env %v, want %v", l.Config.Zmq.Plain.Users, want)
	}
	if want := []Task{{Name: "e", Builtin: "echo"}}; !reflect.DeepEqual(l.Config.Queue.Tasks, want) {
		t.Errorf("tasks from env %+v", l.Config.Queue.Tasks)
	}
}

func TestEntriesRedactSecrets(t *testing.T) {
	isolate(t)
	writeFile(t, "dsys.yaml", `
queue:
  broker: amqp://guest:topsecret@rabbit:5672/vhost
zmq:
  connect: [tcp://localhost:5555]
  plain:
    user: admin
    password: hunter2
    users: {alice: s3cret}
`)
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range l.Entries() {
		got[e.Key] = e
	}
	if len(got) != len(Keys()) {
		t.Errorf("%d entries for %d keys", len(got), len(Keys()))
	}
	checks := map[string]string{
		"queue.broker":       "amqp://guest:****@rabbit:5672/vhost",
		"zmq.plain.password": "****",
		"zmq.plain.user":     "admin",
		"zmq.plain.users":    "alice=****",
		"zmq.timeout":        "5s",
		"zmq.connect":        "tcp://localhost:5555",
	}
	for key, want := range checks {
		if d := got[key].Display(); d != want {
			t.Errorf("%s displays %q, want %q", key, d, want)
		}
	}
	for _, e := range l.Entries() {
		if s := e.Display(); strings.Contains(s, "topsecret") || strings.Contains(s, "hunter2") || strings.Contains(s, "s3cret") {
			t.Errorf("%s leaks a secret: %q", e.Key, s)
		}
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"amqp://guest:secret@host//":     "amqp://guest:****@host//",
		"amqps://u:p%40ss@h:5671/v":      "amqps://u:****@h:5671/v",
		"amqp://guest@host//":            "amqp://guest@host//",
		"tcp://*:5555":                   "tcp://*:5555",
		"not a url":                      "not a url",
		"pyamqp://a:b@localhost:5672//x": "pyamqp://a:****@localhost:5672//x",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTemplateLoadsAsDefaults: the file `config init` writes parses and
// changes nothing.
func TestTemplateLoadsAsDefaults(t *testing.T) {
	isolate(t)
	writeFile(t, "dsys.yaml", string(Template()))
	l, err := Load(Options{})
	if err != nil {
		t.Fatalf("template does not load: %v", err)
	}
	if !reflect.DeepEqual(l.Config, Default()) {
		t.Errorf("template config differs from defaults:\n%+v\n%+v", l.Config, Default())
	}
	for _, k := range Keys() {
		if !strings.Contains(string(Template()), k.Env) {
			t.Errorf("template does not document %s", k.Name)
		}
	}
}

func TestByteSize(t *testing.T) {
	good := map[string]ByteSize{"0": 0, "512": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1.5GiB": 3 << 29, "10MB": 10e6, "2 k": 2048}
	for in, want := range good {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "1.5", "-1", "5 parsecs", "1e3", "99999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) should fail", in)
		}
	}
	if s := (64 * MiB).String(); s != "64MiB" {
		t.Errorf("String() = %q", s)
	}
}
