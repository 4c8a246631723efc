package cmd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// osProc is one line of a process listing from /proc.
type osProc struct {
	pid, ppid int
	state     string
	cmdline   string
}

// processes lists the processes that run (zombies have ended).
func processes(t *testing.T) []osProc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []osProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err1 := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		cmdline, err2 := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		i := bytes.LastIndexByte(stat, ')')
		if err1 != nil || err2 != nil || i < 0 {
			continue // gone meanwhile
		}
		f := strings.Fields(string(stat[i+1:]))
		ppid, _ := strconv.Atoi(f[1])
		if f[0] == "Z" {
			continue
		}
		out = append(out, osProc{pid: pid, ppid: ppid, state: f[0], cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))})
	}
	return out
}

// descendants lists the running processes below pid.
func descendants(t *testing.T, pid int) []osProc {
	t.Helper()
	all := processes(t)
	below := map[int]bool{pid: true}
	var out []osProc
	for grew := true; grew; {
		grew = false
		for _, p := range all {
			if below[p.ppid] && !below[p.pid] {
				below[p.pid] = true
				out = append(out, p)
				grew = true
			}
		}
	}
	return out
}

// matching lists the running processes whose command line contains s.
func matching(t *testing.T, s string) []osProc {
	t.Helper()
	var out []osProc
	for _, p := range processes(t) {
		if strings.Contains(p.cmdline, s) && p.pid != os.Getpid() {
			out = append(out, p)
		}
	}
	return out
}

// killOnCleanup kills whatever of ps still runs when the test ends, so
// that a failure leaves nothing behind.
func killOnCleanup(t *testing.T, ps []osProc) {
	t.Cleanup(func() {
		for _, p := range ps {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
}

// vm reads a VmRSS or VmHWM figure of pid, in bytes.
func vm(t *testing.T, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// A command's process group dies with its worker: SIGKILL the worker while
// `sh -c 'sleep 300 & sleep 300'` runs, and none of the three processes is
// left (the defect: they were re-parented to init and ran on, and the
// redelivered task started a second copy).
func TestQueueCommandDiesWithWorker(t *testing.T) {
	onEachBroker(t, func(t *testing.T, brokerURL, q string) {
		marker := strconv.FormatInt(time.Now().UnixNano(), 10)
		common := commandConfig(t, brokerURL, q, fmt.Sprintf(`- {name: spawn, command: [sh, -c, 'sleep 300 & sleep 300', %s]}`, marker))
		w := startWorkerProc(t, common...)
		if _, errOut, code := runDsys(t, "", append([]string{"queue", "submit", "spawn"}, common...)...); code != 0 {
			t.Fatalf("submit: %s", errOut)
		}
		// Bounded: the command starts at once; /osProc is polled, there is
		// nothing to wait on.
		var group []osProc
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			group = descendants(t, w.cmd.Process.Pid)
			sleeps := 0
			for _, p := range group {
				if p.cmdline == "sleep 300" {
					sleeps++
				}
			}
			if sleeps == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the command's two sleeps never ran; below the worker: %+v", group)
			}
		}
		killOnCleanup(t, group)
		if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-w.exited
		var left []osProc
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			left = left[:0]
			for _, p := range group {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); err == nil && len(b) > 0 && isRunning(p.pid) {
					left = append(left, p)
				}
			}
			if len(left) == 0 {
				break
			}
		}
		if len(left) > 0 {
			t.Fatalf("10 s after the worker's SIGKILL these of its %d processes still run: %+v", len(group), left)
		}
		t.Logf("the worker's SIGKILL took all of %+v", group)
	})
}

// isRunning reports whether pid runs (not a zombie).
func isRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(stat, ')')
	return err == nil && i > 0 && !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// Output has a hard cap that stops the command: yes is killed the moment
// it passes 16 MiB, the task fails with a CommandError that says so, and
// the worker's memory grows by at most twice the cap (the defect: yes ran
// on, burning a core, until killed by hand). A 16 MB result that fits
// goes through; the worker's and the client's peak memory are logged.
func TestQueueCommandOutputCap(t *testing.T) {
	onEachBroker(t, func(t *testing.T, brokerURL, q string) {
		marker := "dsys-cap-" + strconv.FormatInt(time.Now().UnixNano(), 10)
		common := commandConfig(t, brokerURL, q, fmt.Sprintf(`
- {name: runaway, command: [yes, %s]}
- {name: big, command: [sh, -c, 'head -c 16000000 /dev/zero | tr "\0" y']}`, marker))
		w := startWorkerProc(t, common...)
		base := vm(t, w.cmd.Process.Pid, "VmRSS")

		client := func(task string) (stdout, stderr string, code int, maxRSS int64) {
			t.Helper()
			c := exec.Command(testenv.Binary(t), append([]string{"queue", "submit", "--wait", "--timeout", "60s", task}, common...)...)
			var o, e bytes.Buffer
			c.Stdout, c.Stderr = &o, &e
			err := c.Run()
			if _, ok := err.(*exec.ExitError); err != nil && !ok {
				t.Fatal(err)
			}
			return o.String(), e.String(), c.ProcessState.ExitCode(), c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		}

		out, errOut, code, _ := client("runaway")
		if code != 1 || !strings.Contains(errOut, "CommandError: yes: output exceeds 16777216 bytes: killed") {
			t.Fatalf("runaway: %d bytes, %q, exit %d; want the cap's CommandError", len(out), errOut, code)
		}
		if left := matching(t, marker); len(left) > 0 {
			t.Fatalf("yes still runs after its task answered: %+v", left)
		}
		grew := vm(t, w.cmd.Process.Pid, "VmHWM") - base
		t.Logf("runaway: worker RSS %d MiB at start, peak +%.1f MiB for a 16 MiB cap", base>>20, float64(grew)/(1<<20))
		if grew > 2*16<<20 {
			t.Errorf("the worker's peak RSS grew by %.1f MiB, more than twice the 16 MiB cap", float64(grew)/(1<<20))
		}

		out, errOut, code, clientRSS := client("big")
		if code != 0 || len(out) != 16000001 || strings.Trim(out, "y") != "\n" {
			t.Fatalf("big: %d bytes, %q, exit %d", len(out), errOut, code)
		}
		grew = vm(t, w.cmd.Process.Pid, "VmHWM") - base
		t.Logf("16 MB result: worker peak RSS +%.1f MiB over its start, client peak RSS %.1f MiB", float64(grew)/(1<<20), float64(clientRSS)/(1<<20))
	})
}
