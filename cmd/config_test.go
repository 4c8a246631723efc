package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigShowSources: config show reports a value from each of the four
// sources with the right source name, in text and JSON.
func TestConfigShowSources(t *testing.T) {
	dir := isolateConfig(t)
	if err := os.WriteFile("dsys.yaml", []byte("compute:\n  workers: 7\nqueue:\n  broker: amqp://bob:s3cret@rabbit//\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DSYS_ZMQ_TIMEOUT", "9s")

	out, errOut, code := runDsys(t, "", "--log-level", "debug", "-o", "json", "config", "show")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	want := map[string]struct {
		value  any
		source string
	}{
		"log.level":       {"debug", "flag"},
		"zmq.timeout":     {"9s", "DSYS_ZMQ_TIMEOUT"},
		"compute.workers": {float64(7), "dsys.yaml"},
		"queue.broker":    {"amqp://bob:****@rabbit//", "dsys.yaml"},
		"zmq.retries":     {float64(3), "default"},
	}
	for key, w := range want {
		if g := got[key]; g.Value != w.value || g.Source != w.source {
			t.Errorf("%s = %v from %q, want %v from %q", key, g.Value, g.Source, w.value, w.source)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("config show leaks the broker password")
	}
	_ = dir

	out, _, code = runDsys(t, "", "--log-level", "warn", "config", "show")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(l)
		lines[f[0]] = f[1:]
	}
	for key, w := range map[string][]string{
		"log.level":       {"warn", "flag"},
		"zmq.timeout":     {"9s", "DSYS_ZMQ_TIMEOUT"},
		"compute.workers": {"7", "dsys.yaml"},
		"zmq.retries":     {"3", "default"},
	} {
		if g := lines[key]; strings.Join(g, " ") != strings.Join(w, " ") {
			t.Errorf("text line for %s = %q, want %q", key, g, w)
		}
	}
}

func TestBadConfigStopsEveryCommand(t *testing.T) {
	isolateConfig(t)
	if err := os.WriteFile("dsys.yaml", []byte("compute:\n  wokers: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runDsys(t, "", "config", "show")
	if code != ExitUsage || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := `dsys: config: dsys.yaml:2: key "compute.wokers": unknown key (did you mean "compute.workers"?)` + "\n"
	if errOut != want {
		t.Errorf("stderr\n%q, want\n%q", errOut, want)
	}
}

func TestConfigInit(t *testing.T) {
	dir := isolateConfig(t)
	path := filepath.Join(dir, "sub", "dsys.yaml")
	if _, errOut, code := runDsys(t, "", "config", "init", path); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	first, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(first), "# ") {
		t.Fatalf("no commented config written: %v", err)
	}
	// The written file is a valid config for every command.
	if _, errOut, code := runDsys(t, "", "--config", path, "config", "show"); code != 0 {
		t.Fatalf("show with the written file: exit %d: %s", code, errOut)
	}
	// It refuses to overwrite without --force, and leaves the file alone.
	if err := os.WriteFile(path, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runDsys(t, "", "config", "init", path)
	if code != ExitUsage || !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, "--force") {
		t.Fatalf("second init: exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(path); string(b) != "# mine\n" {
		t.Fatalf("init without --force changed the file")
	}
	// --force replaces it, even when the existing file is a broken config.
	if err := os.WriteFile("dsys.yaml", []byte("{{{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runDsys(t, "", "config", "init", "--force"); code != 0 {
		t.Fatalf("init --force over a broken ./dsys.yaml: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile("dsys.yaml"); string(b) != string(first) {
		t.Errorf("init --force did not write the template")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestConfigInitLeavesEveryKeyAtDefault: the file config init writes is
// read, yet every key stays credited to default.
func TestConfigInitLeavesEveryKeyAtDefault(t *testing.T) {
	isolateConfig(t)
	if _, errOut, code := runDsys(t, "", "config", "init"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	out, errOut, code := runDsys(t, "", "-o", "json", "config", "show")
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	var got map[string]struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for key, e := range got {
		if want := "default"; key != "output" && e.Source != want {
			t.Errorf("%s comes from %q after config init, want %q", key, e.Source, want)
		}
	}
	if got["output"].Source != "flag" {
		t.Errorf("output comes from %q, want flag", got["output"].Source)
	}
}

// TestConfigShowNamesEachLayer: with a user file and ./dsys.yaml, each key
// is credited to the file it came from.
func TestConfigShowNamesEachLayer(t *testing.T) {
	dir := isolateConfig(t)
	user := filepath.Join(dir, "xdg", "dsys", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(user), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(user, []byte("compute:\n  workers: 3\nzmq:\n  retries: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("dsys.yaml", []byte("compute:\n  workers: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runDsys(t, "", "config", "show")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(l)
		rows[f[0]] = strings.Join(f[1:], " ")
	}
	for key, want := range map[string]string{"compute.workers": "5 dsys.yaml", "zmq.retries": "9 " + user, "zmq.hwm": "1000 default"} {
		if rows[key] != want {
			t.Errorf("%s: %q, want %q", key, rows[key], want)
		}
	}
	// An error in the weaker file still names that file and line.
	if err := os.WriteFile(user, []byte("zmq:\n  retries: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runDsys(t, "", "config", "show")
	if want := "dsys: config: " + user + `:2: key "zmq.retries": expected an integer, got "lots"` + "\n"; code != ExitUsage || errOut != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// TestConfigErrorsHideSecrets: a malformed PLAIN password list or broker
// URL is not echoed back.
func TestConfigErrorsHideSecrets(t *testing.T) {
	isolateConfig(t)
	t.Setenv("DSYS_ZMQ_PLAIN_USERS", "alice:wonderland")
	_, errOut, code := runDsys(t, "", "zmq", "serve")
	if code != ExitUsage || strings.Contains(errOut, "wonderland") || !strings.Contains(errOut, "zmq.plain.users") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	t.Setenv("DSYS_ZMQ_PLAIN_USERS", "")
	if err := os.WriteFile("dsys.yaml", []byte("queue:\n  broker: [amqp://guest:wonderland@rabbit//]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runDsys(t, "", "queue", "inspect")
	if code != ExitUsage || strings.Contains(errOut, "wonderland") || !strings.Contains(errOut, "amqp://guest:****@rabbit//") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
