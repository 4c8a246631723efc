package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// onEachBroker runs test on the embedded broker and on RabbitMQ, each with
// a queue of its own.
func onEachBroker(t *testing.T, test func(t *testing.T, brokerURL, q string)) {
	t.Run("sqlite", func(t *testing.T) {
		testenv.Binary(t)
		dir := isolateConfig(t)
		test(t, "sqlite://"+filepath.Join(dir, "q.db"), "commands")
	})
	t.Run("amqp", func(t *testing.T) {
		brokerURL, q := queueEnv(t)
		test(t, brokerURL, q)
	})
}

// commandConfig writes a config file that serves tasks (YAML list items)
// from brokerURL's queue q and returns the --config arguments for the
// worker and for submit.
func commandConfig(t *testing.T, brokerURL, q, tasks string) []string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "dsys.yaml")
	yaml := fmt.Sprintf("queue:\n  broker: %s\n  queue: %s\n  concurrency: 1\n  tasks:\n", brokerURL, q)
	for _, line := range strings.Split(strings.TrimSpace(tasks), "\n") {
		yaml += "    " + strings.TrimSpace(line) + "\n"
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--config", cfg}
}

// A task argument that starts with "-" is not an option to the command:
// `sort {0}` called with -o/PATH answers a TypeError naming the argument
// and writes nothing (the defect: sort wrote PATH); after "--" in the
// template, or with allow_options: true, it passes as it is.
func TestQueueCommandRefusesOptionInjection(t *testing.T) {
	onEachBroker(t, func(t *testing.T, brokerURL, q string) {
		dir := t.TempDir()
		input := filepath.Join(dir, "input")
		if err := os.WriteFile(input, []byte("b\na\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		common := commandConfig(t, brokerURL, q, fmt.Sprintf(`
- {name: sort, command: [sort, "{0}", %[1]q]}
- {name: sort-files, command: [sort, --, "{0}"]}
- {name: sort-options, command: [sort, "{0}", %[1]q], allow_options: true}`, input))
		t.Chdir(dir) // the worker runs here: sort -- -dashed reads ./-dashed
		startWorkerProc(t, common...)
		submit := func(task, arg string) (string, string, int) {
			t.Helper()
			return runDsys(t, "", append([]string{"queue", "submit", "--wait", "--timeout", "30s", task, `"` + arg + `"`}, common...)...)
		}

		victim := filepath.Join(dir, "victim")
		out, errOut, code := submit("sort", "-o"+victim)
		if code != 1 || !strings.Contains(errOut, `TypeError: sort: argument 0 starts with "-"`) ||
			!strings.Contains(errOut, "allow_options: true") {
			t.Errorf("sort -o%s: %q %q exit %d, want a TypeError naming argument 0", victim, out, errOut, code)
		}
		if _, err := os.Stat(victim); err == nil {
			t.Fatal("the argument made sort write a file")
		}
		// Refused as bad arguments are: the caller's mistake, answered and
		// acknowledged, not dead-lettered.
		if row := inspectRowOf(t, append(common, "--queue", q)...); row.Dead != 0 {
			t.Errorf("the refused task was dead-lettered: %+v", row)
		}

		// After "--" the argument is a file name, even one starting with "-".
		dashed := filepath.Join(dir, "-dashed")
		if err := os.WriteFile(dashed, []byte("d\nc\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := submit("sort-files", "-dashed"); code != 0 || out != "c\nd\n" {
			t.Errorf("sort -- -dashed: %q %q exit %d", out, errOut, code)
		}

		// allow_options: the task's author lets callers pass options.
		if out, errOut, code := submit("sort-options", "-r"); code != 0 || out != "b\na\n" {
			t.Errorf("sort -r with allow_options: %q %q exit %d", out, errOut, code)
		}
	})
}
