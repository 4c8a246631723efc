package queue

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/queue/celery"
)

// guardOptions make the test binary the command guard (see TestMain).
func guardOptions() CommandOptions {
	return CommandOptions{Guard: []string{"/proc/self/exe", CommandGuardArg}, KillGrace: time.Second}
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// What a command leaves running dies when it ends: its group goes with
// the guard. (Without the guard, sleep 300 lived on.)
func TestCommandGroupEndsWithTheCommand(t *testing.T) {
	f, err := CommandTask([]string{"sh", "-c", "sleep 300 & echo $!"}, guardOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := f(ctx, &celery.Task{Name: "cmd"})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := v.(interface{ String() string })
	if !ok {
		t.Fatalf("result %#v, want the pid of sleep", v)
	}
	pid, _ := strconv.Atoi(n.String())
	if pid <= 0 {
		t.Fatalf("result %v", v)
	}
	if alive(pid) {
		t.Errorf("sleep %d outlived its command", pid)
	}
}

// A soft time limit (SIGTERM to the group) stops the command and its
// children, not the guard; the group is gone when the task returns.
func TestCommandGuardOutlivesTerminate(t *testing.T) {
	dir := t.TempDir()
	f, err := CommandTask([]string{"sh", "-c", "sleep 300 & echo $! > " + dir + "/pid; wait"}, guardOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f(ctx, &celery.Task{Name: "cmd"})
		done <- err
	}()
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 && time.Now().Before(deadline) { // bounded: the command writes the file at once
		b, _ := os.ReadFile(dir + "/pid")
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the command never started")
	}
	cancel(ErrSoftTimeLimit)
	select {
	case err := <-done:
		if !errors.Is(err, ErrSoftTimeLimit) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the command outlived its cancellation")
	}
	if alive(pid) {
		t.Errorf("sleep %d outlived the soft time limit", pid)
	}
}

// A guard started by hand (not leading its group) refuses to run.
func TestCommandGuardRefusesOutsideAGroup(t *testing.T) {
	if err := RunCommandGuard(strings.NewReader(""), &strings.Builder{}); err == nil {
		t.Fatal("the guard ran in the test's own process group")
	}
}

// A Guard that is not a guard fails the command, which never runs.
func TestCommandWrongGuard(t *testing.T) {
	dir := t.TempDir()
	f, err := CommandTask([]string{"touch", dir + "/ran"}, CommandOptions{Guard: []string{"echo", "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f(context.Background(), &celery.Task{Name: "cmd"})
	var re *celery.RemoteError
	if !errors.As(err, &re) || re.Type != "CommandError" || !strings.Contains(re.Error(), "did not say it was ready") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(dir + "/ran"); err == nil {
		t.Error("the command ran without its guard")
	}
}
