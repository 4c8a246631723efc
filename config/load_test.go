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

// TestSearchPathsOrder: the layered files, weakest first, with the XDG
// directory and its ~/.config fallback.
func TestSearchPathsOrder(t *testing.T) {
	dir := isolate(t)
	want := []string{"/etc/dsys/config.yaml", filepath.Join(dir, "xdg", "dsys", "config.yaml"), "dsys.yaml"}
	if got := SearchPaths(); !reflect.DeepEqual(got, want) {
		t.Errorf("SearchPaths() = %q, want %q", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	want[1] = filepath.Join(dir, "home", ".config", "dsys", "config.yaml")
	if got := SearchPaths(); !reflect.DeepEqual(got, want) {
		t.Errorf("without XDG_CONFIG_HOME: SearchPaths() = %q, want %q", got, want)
	}
}

// TestFilesLayer: every file of the search path is read, and each key comes
// from the strongest file that sets it, which its source names; a named
// file (--config, DSYS_CONFIG) replaces the search.
func TestFilesLayer(t *testing.T) {
	dir := isolate(t)
	etc := writeFile(t, filepath.Join(dir, "etc", "config.yaml"), "compute: {workers: 1, block_bytes: 4KiB}\nzmq: {retries: 7}\nlog: {level: warn}\n")
	user := writeFile(t, filepath.Join(dir, "xdg", "dsys", "config.yaml"), "compute:\n  workers: 2\nzmq:\n  timeout: 2s\n")
	search := []string{etc, user, "dsys.yaml"}
	l, err := Load(Options{Search: search})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Files, []string{etc, user}) {
		t.Errorf("files read %q, want %q", l.Files, []string{etc, user})
	}
	writeFile(t, "dsys.yaml", "compute:\n  workers: 3\n")
	if l, err = Load(Options{Search: search}); err != nil {
		t.Fatal(err)
	}
	c := l.Config
	got := []any{c.Compute.Workers, c.Compute.BlockBytes, c.Zmq.Retries, c.Zmq.Timeout, c.Log.Level, c.Queue.Queue}
	want := []any{3, 4 * KiB, 7, 2 * time.Second, "warn", "celery"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	for key, src := range map[string]string{
		"compute.workers":     "dsys.yaml",
		"compute.block_bytes": etc,
		"zmq.retries":         etc,
		"zmq.timeout":         user,
		"log.level":           etc,
		"queue.queue":         "default",
	} {
		if s := l.Source(key).String(); s != src {
			t.Errorf("source of %s = %q, want %q", key, s, src)
		}
	}
	// The environment still beats every file.
	t.Setenv("DSYS_ZMQ_RETRIES", "9")
	if l, err = Load(Options{Search: search}); err != nil || l.Config.Zmq.Retries != 9 {
		t.Fatalf("DSYS_ZMQ_RETRIES=9 gave %d, %v", l.Config.Zmq.Retries, err)
	}
	t.Setenv("DSYS_ZMQ_RETRIES", "")

	// A named file is the only one read.
	named := writeFile(t, filepath.Join(dir, "named.toml"), "[compute]\nworkers = 4\n")
	t.Setenv("DSYS_CONFIG", named)
	if l, err = Load(Options{Search: search}); err != nil {
		t.Fatal(err)
	}
	if l.Config.Compute.Workers != 4 || l.Config.Zmq.Retries != 3 || !reflect.DeepEqual(l.Files, []string{named}) {
		t.Errorf("DSYS_CONFIG: workers %d, retries %d, files %q; want 4, the default 3, only %s", l.Config.Compute.Workers, l.Config.Zmq.Retries, l.Files, named)
	}
	flagged := writeFile(t, filepath.Join(dir, "flagged.json"), `{"compute": {"workers": 5}}`)
	if l, err = Load(Options{File: flagged, Search: search}); err != nil || l.Config.Compute.Workers != 5 || len(l.Files) != 1 {
		t.Fatalf("--config: workers %d, files %q, err %v; want 5 from %s alone", l.Config.Compute.Workers, l.Files, err, flagged)
	}
}

// TestLayeredErrorsNameTheirFile: a bad value, an unknown key or a parse
// error in any layer names that file and line.
func TestLayeredErrorsNameTheirFile(t *testing.T) {
	dir := isolate(t)
	good := writeFile(t, filepath.Join(dir, "good.yaml"), "compute:\n  workers: 2\n")
	cases := []struct{ content, want string }{
		{"log:\n  level: info\nzmq:\n  retries: lots\n", `bad.yaml:4: key "zmq.retries": expected an integer, got "lots"`},
		{"zmq:\n  retires: 2\n", `bad.yaml:2: key "zmq.retires": unknown key (did you mean "zmq.retries"?)`},
		{"zmq:\n  retries: 2\n  retries: 3\n", `bad.yaml:3: mapping key "retries" already defined at line 2`},
	}
	for _, c := range cases {
		bad := writeFile(t, filepath.Join(dir, "bad.yaml"), c.content)
		for _, order := range [][]string{{bad, good}, {good, bad}} {
			_, err := Load(Options{Search: order})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("files %q: err %v, want it to contain %q", order, err, c.want)
			}
		}
	}
}

func TestNoFileIsFine(t *testing.T) {
	isolate(t)
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Config, Default()) || len(l.Files) != 0 {
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
		{"unparsable toml", "", map[string]string{"DSYS_CONFIG": "bad.toml"}, []string{"bad.toml:1", "cannot parse TOML"}},
		{"unknown key with suggestion", "compute:\n  wokers: 4\n", nil, []string{"dsys.yaml:2", `"compute.wokers"`, "unknown key", `did you mean "compute.workers"`}},
		{"unknown section", "computer:\n  workers: 4\n", nil, []string{"dsys.yaml:", `"computer.workers"`, "unknown key"}},
		{"int of wrong type", "compute:\n  workers: many\n", nil, []string{"dsys.yaml:2", `"compute.workers"`, "expected an integer", `"many"`}},
		{"fractional int", "compute:\n  workers: 2.5\n", nil, []string{"dsys.yaml:2", "expected an integer", "2.5"}},
		{"duration of wrong type", "zmq:\n  timeout: 5 parsecs\n", nil, []string{"dsys.yaml:2", `"zmq.timeout"`, "expected a duration", `"5 parsecs"`}},
		{"bare number for a duration", "zmq:\n  timeout: 5\n", nil, []string{`"zmq.timeout"`, "expected a duration"}},
		{"list of maps for a string list", "zmq:\n  connect: [{a: 1}]\n", nil, []string{`"zmq.connect"`, "expected a list of strings"}},
		{"bad byte size", "zmq:\n  max_message_size: lots\n", nil, []string{`"zmq.max_message_size"`, "expected a byte size"}},
		{"section as scalar", "compute: 5\n", nil, []string{"dsys.yaml:1", `"compute"`, "expected a mapping"}},
		{"task with unknown field", "queue:\n  tasks:\n    - name: x\n      comand: [ls]\n", nil, []string{`"queue.tasks"`, "task 0", `unknown field "comand" (did you mean "command"?`}},
		{"task with a bad duration", "queue:\n  tasks:\n    - {name: x, builtin: add, timeout: soon}\n", nil, []string{`"queue.tasks"`, `task 0: field "timeout": expected a duration`, `"soon"`}},
		{"task with a bad count", "queue:\n  tasks:\n    - {name: x, builtin: add, retries: many}\n", nil, []string{`task 0: field "retries": expected an integer, got "many"`}},
		{"task command as a string", "queue:\n  tasks:\n    - {name: x, command: ls -l}\n", nil, []string{`task 0: field "command": expected a list`}},
		{"top level is a list", "- a\n- b\n", nil, []string{"dsys.yaml:1", "expected a mapping of keys"}},
		{"duplicate key", "compute:\n  workers: 1\n  workers: 2\n", nil, []string{"dsys.yaml:3", `mapping key "workers" already defined at line 2`}},
		{"bad output", "output: yaml\n", nil, []string{"dsys.yaml:1", `"output"`, "expected text or json"}},
		{"env output", "", map[string]string{"DSYS_OUTPUT": "xml"}, []string{"DSYS_OUTPUT", "expected text or json"}},
		{"env quiet", "", map[string]string{"DSYS_QUIET": "maybe"}, []string{"DSYS_QUIET", "expected true or false"}},
		{"allow_options on a builtin", "queue:\n  tasks:\n    - {name: x, builtin: add, allow_options: true}\n", nil, []string{"task 0 (x)", "allow_options is for command tasks only"}},
		{"allow_options not a boolean", "queue:\n  tasks:\n    - {name: x, command: [ls], allow_options: maybe}\n", nil, []string{`task 0: field "allow_options": expected true or false`}},
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
    - {name: sorted, command: [sort, "{0}"], allow_options: true}
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
		{Name: "sorted", Command: []string{"sort", "{0}"}, AllowOptions: true},
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
		"amqp://u:pa ss@h:x/":            "amqp://u:****@h:x/", // does not parse: masked by hand
		"amqp://u:p@ss@h:5672/":          "amqp://u:****@h:5672/",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTemplateCommentsEveryKey: the file `config init` writes changes
// nothing — every key keeps its default and config show credits it to
// default — and uncommenting it gives a file that sets every key, valid, to
// its default: each commented line is "# " after the indentation of a
// valid line.
func TestTemplateCommentsEveryKey(t *testing.T) {
	isolate(t)
	commented, plain := string(Template()), string(template(false))
	for _, k := range Keys() {
		if !strings.Contains(commented, k.Env) {
			t.Errorf("template does not document %s", k.Name)
		}
	}
	cl, pl := strings.Split(commented, "\n"), strings.Split(plain, "\n")
	if len(cl) != len(pl) {
		t.Fatalf("commented template has %d lines, uncommented %d", len(cl), len(pl))
	}
	for i := range cl {
		ok := cl[i] == pl[i]
		lead := len(pl[i]) - len(strings.TrimLeft(pl[i], " "))
		for n := 0; !ok && n <= lead; n++ {
			ok = cl[i] == pl[i][:n]+"# "+pl[i][n:]
		}
		if !ok {
			t.Errorf("line %d: %q is neither %q nor it commented out", i+1, cl[i], pl[i])
		}
	}

	for _, c := range []struct{ name, content, source string }{
		{"the template", commented, "default"},
		{"the uncommented template", plain, "dsys.yaml"},
	} {
		writeFile(t, "dsys.yaml", c.content)
		l, err := Load(Options{})
		if err != nil {
			t.Fatalf("%s does not load: %v", c.name, err)
		}
		if !reflect.DeepEqual(l.Config, Default()) {
			t.Errorf("%s differs from the defaults:\n%+v\n%+v", c.name, l.Config, Default())
		}
		for _, k := range Keys() {
			if s := l.Source(k.Name).String(); s != c.source {
				t.Errorf("with %s, %s comes from %q, want %s", c.name, k.Name, s, c.source)
			}
		}
	}
}

// TestSecretsNeverEchoed: a malformed value of a secret key, or a URL with
// a password, is masked in the error as config show masks it.
func TestSecretsNeverEchoed(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  map[string]string
		want string // what the message shows instead
	}{
		{"users from env without =", "", map[string]string{"DSYS_ZMQ_PLAIN_USERS": "alice:wonder"}, `got "****"`},
		{"users from env, one pair broken", "", map[string]string{"DSYS_ZMQ_PLAIN_USERS": "alice=wonder,bob"}, `got "alice=****,****"`},
		{"users as a list", "zmq:\n  plain:\n    users: [wonder]\n", nil, "got a list of 1 values (not shown: a secret)"},
		{"users with a nested map", "zmq:\n  plain:\n    users: {alice: {pw: wonder}}\n", nil, `got {"alice":"****"}`},
		{"password as a list", "zmq:\n  plain:\n    password: [wonder]\n", nil, "not shown: a secret"},
		{"password as a map", "zmq:\n  plain:\n    password: {wonder: 1}\n", nil, "got ****"},
		{"broker URL of the wrong type", "queue:\n  broker: [amqp://guest:wonder@rabbit//]\n", nil, `got ["amqp://guest:****@rabbit//"]`},
		{"URL in a bad list", "zmq:\n  connect: [{a: tcp://u:wonder@h:1}]\n", nil, `got [{"a":"tcp://u:****@h:1"}]`},
		{"URL in a task", "queue:\n  tasks:\n    - {name: x, command: [curl, http://u:wonder@h/], retries: x}\n", nil, `got "x"`},
		{"unparsable URL in a bad list", "zmq:\n  connect: [{a: 'amqp://u:won der@h:x/'}]\n", nil, `amqp://u:****@h:x/`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			if c.file != "" {
				writeFile(t, "dsys.yaml", c.file)
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load(Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); strings.Contains(msg, "wonder") || !strings.Contains(msg, c.want) {
				t.Errorf("message %q: want %q in it and no secret", msg, c.want)
			}
		})
	}
}

// TestNoGoInternalsInErrors: config errors speak of the user's input, not
// of the parsers and converters behind them.
func TestNoGoInternalsInErrors(t *testing.T) {
	files := map[string]string{
		"dsys.yaml":  "queue:\n  tasks:\n    - {name: x, builtin: add, retries: many, timeout: soon}\n",
		"list.yaml":  "- a\n",
		"dup.yaml":   "log: {level: info}\nlog: {level: warn}\n",
		"dup.toml":   "a = 1\na = 2\n",
		"bad.json":   "{\"log\": }",
		"list.json":  "[1, 2]",
		"tasks.yaml": "queue:\n  tasks: [{name: x, builtin: add, retry_backoff: [1]}]\n",
		"type.yaml":  "queue:\n  tasks: [[1]]\n",
	}
	internals := []string{"strconv.", "time: ", "yaml: ", "toml: ", "json: ", "interface {}", "map[string]", "!!", "mapstructure", "decoding failed"}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			isolate(t)
			writeFile(t, name, content)
			_, err := Load(Options{File: name})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, name) {
				t.Errorf("message %q does not name the file", msg)
			}
			msg = strings.ReplaceAll(msg, name, "FILE")
			for _, bad := range internals {
				if strings.Contains(msg, bad) {
					t.Errorf("message %q shows %q", msg, bad)
				}
			}
		})
	}
}

// TestLenientKeepsWhatReads: Lenient never fails; what cannot be read
// keeps its default, what can is used.
func TestLenientKeepsWhatReads(t *testing.T) {
	isolate(t)
	writeFile(t, "dsys.yaml", "{{{")
	t.Setenv("DSYS_OUTPUT", "json")
	t.Setenv("DSYS_COMPUTE_WORKERS", "many")
	t.Setenv("DSYS_LOG_LEVEL", "loud")
	c := Lenient(Options{})
	def := Default()
	if c.Output != "json" || c.Compute.Workers != def.Compute.Workers || c.Log.Level != def.Log.Level {
		t.Errorf("lenient: output %q, workers %d, level %q; want json and the defaults", c.Output, c.Compute.Workers, c.Log.Level)
	}
	t.Setenv("DSYS_CONFIG", "missing.yaml")
	if c := Lenient(Options{}); c.Output != "json" {
		t.Errorf("a missing named file should not stop Lenient: output %q", c.Output)
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

// TestDecodeEveryKind: each kind of value a key may have decodes from the
// file's types and from the environment's strings, and says what it
// expected otherwise — so a subsystem adding a key of any of these kinds
// needs no decoder of its own.
func TestDecodeEveryKind(t *testing.T) {
	var dst struct {
		I  int
		F  float64
		B  bool
		S  string
		D  time.Duration
		Z  ByteSize
		L  []string
		M  map[string]string
		Ts []Task
	}
	v := reflect.ValueOf(&dst).Elem()
	good := []struct {
		field int
		raw   any
		want  any
	}{
		{0, 3, 3}, {0, int64(3), 3}, {0, 3.0, 3}, {0, " 3 ", 3},
		{1, 0.5, 0.5}, {1, 2, 2.0}, {1, "0.25", 0.25},
		{2, true, true}, {2, "false", false},
		{3, "x", "x"}, {3, 7, "7"},
		{4, "90s", 90 * time.Second}, {4, 0, time.Duration(0)},
		{5, "64KiB", 64 * KiB}, {5, 512, ByteSize(512)},
		{6, "a, b", []string{"a", "b"}}, {6, []any{"a", 1}, []string{"a", "1"}},
		{7, "k=v", map[string]string{"k": "v"}}, {7, map[string]any{"K": 1}, map[string]string{"K": "1"}},
		{8, `[{"name": "e", "builtin": "echo"}]`, []Task{{Name: "e", Builtin: "echo"}}},
	}
	for _, c := range good {
		if err := decodeInto(v.Field(c.field), c.raw); err != nil {
			t.Errorf("%T field %d from %#v: %v", v.Field(c.field).Interface(), c.field, c.raw, err)
			continue
		}
		if got := v.Field(c.field).Interface(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("field %d from %#v = %#v, want %#v", c.field, c.raw, got, c.want)
		}
	}
	bad := []struct {
		field int
		raw   any
		want  string
	}{
		{0, "x", "expected an integer"}, {0, 2.5, "expected an integer"},
		{1, "x", "expected a number"}, {1, "NaN", "expected a number"},
		{2, "maybe", "expected true or false"},
		{3, []any{1}, "expected a string"},
		{4, "5", "expected a duration"},
		{5, "lots", "expected a byte size"},
		{6, map[string]any{}, "expected a list of strings"},
		{7, "k", "expected a mapping"},
		{8, "[", "in JSON"},
	}
	for _, c := range bad {
		err := decodeInto(v.Field(c.field), c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("field %d from %#v: err %v, want %q", c.field, c.raw, err, c.want)
		}
	}
}
