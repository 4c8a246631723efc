package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// runBounded runs a command from the repository root, killed after limit.
func runBounded(t *testing.T, limit time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v:\n%s", name, strings.Join(args, " "), limit, out)
	}
	return string(out), err
}

// TestMakeHelpListsEveryTarget: every target of the Makefile has a
// "## target: what" comment, and make help prints them all.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	mk := testenv.LookPath(t, "make")
	data, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`(?m)^([a-z][a-z-]*):([^=]|$)`).FindAllStringSubmatch(string(data), -1)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## ([a-z][a-z-]*): \S`).FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = true
	}
	out, err := runBounded(t, time.Minute, nil, mk, "-s", "help")
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, m := range targets {
		name := m[1]
		if name == "all" {
			continue // the default goal, an alias of build
		}
		if !documented[name] {
			t.Errorf("target %s has no '## %s: ...' comment", name, name)
		}
		if !regexp.MustCompile(`(?m)^  ` + name + ` +\S`).MatchString(out) {
			t.Errorf("make help does not list %s:\n%s", name, out)
		}
	}
	if len(targets) < 10 {
		t.Errorf("found only %d targets in the Makefile", len(targets))
	}
}

// TestMakeInstallSaysWhere: make install names the installed binary and,
// when its directory is not on PATH, how to put it there.
func TestMakeInstallSaysWhere(t *testing.T) {
	mk := testenv.LookPath(t, "make")
	dir := t.TempDir()
	out, err := runBounded(t, 5*time.Minute, []string{"GOBIN=" + dir, "PATH=" + os.Getenv("PATH")}, mk, "-s", "install")
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "dsys")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no binary in GOBIN: %v\n%s", err, out)
	}
	for _, want := range []string{"installed " + bin + "\n", dir + " is not on PATH", `export PATH="` + dir + `:$PATH"`} {
		if !strings.Contains(out, want) {
			t.Errorf("make install says %q, lacking %q", out, want)
		}
	}
	// On PATH: no advice.
	out, err = runBounded(t, 5*time.Minute, []string{"GOBIN=" + dir, "PATH=" + dir + ":" + os.Getenv("PATH")}, mk, "-s", "install")
	if err != nil || strings.Contains(out, "not on PATH") {
		t.Errorf("with GOBIN on PATH: %v\n%s", err, out)
	}
}

// TestDemoZmqSurvivesABusyPort: the zmq part of make demo serves on a free
// port, so it works while something else holds 5555.
func TestDemoZmqSurvivesABusyPort(t *testing.T) {
	bin := testenv.Binary(t)
	if ln, err := net.Listen("tcp", "127.0.0.1:5555"); err == nil {
		defer ln.Close()
	} else {
		t.Logf("port 5555 is busy already (%v): all the better", err)
	}
	out, err := runBounded(t, time.Minute, []string{"DSYS=" + bin, "ZMQ_DEMO_PORT="}, "./scripts/demo-zmq.sh")
	if err != nil || !strings.Contains(out, "World\n") {
		t.Errorf("demo-zmq with 5555 busy: %v\n%s", err, out)
	}
}
