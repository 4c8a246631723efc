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
