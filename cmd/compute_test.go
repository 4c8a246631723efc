package cmd

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
)

func TestComputeSeedJobSmall(t *testing.T) {
	isolateConfig(t)
	out, errOut, code := runDsys(t, "", "compute", "mean", "--shape", "300,200", "--chunks", "64,50")
	if code != 0 || errOut != "" {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil || math.Abs(v-0.5) > 0.01 {
		t.Fatalf("mean %q, want about 0.5", out)
	}
	// Same seed, shape and chunks: the same digits with any worker count.
	for _, w := range []string{"1", "3"} {
		again, _, _ := runDsys(t, "", "compute", "mean", "--shape", "300,200", "--chunks", "64,50", "--workers", w)
		if again != out {
			t.Fatalf("--workers %s: %q, want %q", w, again, out)
		}
	}
}

func TestComputeTextStdin(t *testing.T) {
	isolateConfig(t)
	var b strings.Builder
	for i := 1; i <= 1000; i++ {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	out, _, code := runDsys(t, b.String(), "compute", "mean")
	if code != 0 || out != "500.5\n" {
		t.Fatalf("code %d out %q, want 500.5", code, out)
	}
	out, _, _ = runDsys(t, b.String(), "compute", "sum", "-")
	if out != "500500\n" { // integers sum exactly, as datamash prints them
		t.Fatalf("sum %q", out)
	}
	out, _, _ = runDsys(t, b.String(), "compute", "stats")
	want := "count\t1000\nmean\t500.5\nstd\t288.6749902572095\nmin\t1\nmax\t1000\n"
	if out != want {
		t.Fatalf("stats %q, want %q", out, want)
	}
}

func TestComputeJSON(t *testing.T) {
	isolateConfig(t)
	out, _, code := runDsys(t, "", "compute", "sum", "--shape", "10,4", "--chunks", "3,4", "--axis", "1", "-o", "json")
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	for _, k := range []string{"op", "shape", "chunks", "result", "elapsed_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	if r, _ := m["result"].([]any); len(r) != 10 || m["op"] != "sum" {
		t.Errorf("result %v", m["result"])
	}
}

func writeNPY(t *testing.T, dir, name string, shape []int, vals []float64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := npy.WriteFile(p, shape, vals); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestComputeNPYAxisAndOut(t *testing.T) {
	dir := isolateConfig(t)
	in := writeNPY(t, dir, "a.npy", []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	out, _, code := runDsys(t, "", "compute", "sum", in, "--axis", "0")
	if code != 0 || out != "5.0\n7.0\n9.0\n" {
		t.Fatalf("code %d out %q", code, out)
	}
	dst := filepath.Join(dir, "out.npy")
	out, _, code = runDsys(t, "", "compute", "mean", in, "--axis", "-1", "--out", dst)
	if code != 0 || out != "" {
		t.Fatalf("code %d out %q", code, out)
	}
	f, _ := os.Open(dst)
	defer f.Close()
	h, err := npy.ReadHeader(f)
	if err != nil || len(h.Shape) != 1 || h.Shape[0] != 2 {
		t.Fatalf("header %+v %v", h, err)
	}
	var b [16]byte
	f.ReadAt(b[:], h.DataOffset)
	if math.Float64frombits(binary.LittleEndian.Uint64(b[:])) != 2 || math.Float64frombits(binary.LittleEndian.Uint64(b[8:])) != 5 {
		t.Fatalf("data %v", b)
	}
	out, _, _ = runDsys(t, "", "compute", "var", in, "--ddof", "1")
	if out != "3.5\n" {
		t.Fatalf("var ddof 1: %q", out)
	}
}

func TestComputeBadInput(t *testing.T) {
	dir := isolateConfig(t)
	trunc := filepath.Join(dir, "t.npy")
	hdr := npy.EncodeHeader(npy.Float64, false, []int{100})
	os.WriteFile(trunc, append(hdr, make([]byte, 80)...), 0o644)
	obj := filepath.Join(dir, "o.npy")
	h := "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"
	os.WriteFile(obj, append([]byte(npy.Magic+"\x01\x00"+string(rune(len(h)))+"\x00"), h...), 0o644)
	empty := writeNPY(t, dir, "empty.npy", []int{0, 3}, nil)
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("1 2\n3 4x\n"), 0o644)
	cases := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"mean", trunc}, "truncated: header says shape (100) of <f8 needs 800 bytes of data, the file has 80"},
		{"", []string{"mean", obj}, `dtype "|O" (Python objects) is not supported`},
		{"", []string{"mean", bad}, bad + `:2:3: malformed number "4x"`},
		{"1 2 x", []string{"sum"}, `-:1:5: malformed number "x"`},
		{"", []string{"mean", "--shape", "4294967296,4294967296,4294967296"}, "more than 2^63-1 elements"},
		{"", []string{"mean", filepath.Join(dir, "missing.npy")}, "no such file"},
		{"", []string{"mean", "--axis", "2", "--shape", "4,4"}, "axis 2 is out of range"},
		{" \n", []string{"mean"}, "empty input: mean needs at least one value"},
		{"", []string{"mean", "--rng", "mt"}, `unknown generator "mt"`},
		{"", []string{"mean", bad, "--seed", "3"}, "--seed applies to the random array"},
		{"", []string{"mean", bad, "--shape", "3,3"}, "--shape applies to the random array and --format raw"},
		{"", []string{"mean", bad, "--chunks", "3"}, "--chunks applies to random, .npy and raw input"},
		{"", []string{"mean", empty}, "empty input: mean needs at least one value"},
	}
	for _, c := range cases {
		out, errOut, code := runDsys(t, c.stdin, append([]string{"compute"}, c.args...)...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d stdout %q stderr %q, want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
	if out, _, code := runDsys(t, "", "compute", "sum", empty); code != 0 || out != "0.0\n" {
		t.Errorf("sum of an empty .npy: code %d out %q", code, out)
	}
	// Empty input is 0 for sum and count.
	for _, op := range []string{"sum", "count"} {
		out, _, code := runDsys(t, " ", "compute", op)
		if code != 0 || (out != "0.0\n" && out != "0\n") {
			t.Errorf("%s of empty input: code %d out %q", op, code, out)
		}
	}
}

func TestComputeCSV(t *testing.T) {
	dir := isolateConfig(t)
	p := filepath.Join(dir, "d.csv")
	os.WriteFile(p, []byte("name,x,y\na,1,2\nb,3,4\n"), 0o644)
	out, _, code := runDsys(t, "", "compute", "mean", p)
	if code != 0 || out != "x\t2.0\ny\t3.0\n" {
		t.Fatalf("code %d out %q", code, out)
	}
	out, _, _ = runDsys(t, "", "compute", "max", p, "--column", "y")
	if out != "4\n" {
		t.Fatalf("column y: %q", out)
	}
}

func TestComputeInterruptExits130(t *testing.T) {
	isolateConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, code := runDsysContext(t, ctx, "", "compute", "mean", "--shape", "100000,100000")
	if code != ExitInterrupted {
		t.Fatalf("code %d, want 130", code)
	}
}

// TestComputeSIGINTStopsPromptly runs the real binary on a long job and
// interrupts it once it logs that the reduction started.
func TestComputeSIGINTStopsPromptly(t *testing.T) {
	cmd := exec.Command(testenv.Binary(t), "compute", "mean", "--shape", "1000000,1000000", "--chunks", "1000,1000", "--log-level", "debug")
	d, err := interruptWhenLogged(t, cmd, "compute: reduce")
	if d > 2*time.Second {
		t.Errorf("took %v to stop after SIGINT", d)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitInterrupted {
		t.Fatalf("exit %v, want 130", err)
	}
}

// interruptWhenLogged starts cmd, sends it SIGINT once a line of its stderr
// contains marker, and returns how long it took to exit after the signal
// and how it exited. Every wait is bounded.
func interruptWhenLogged(t *testing.T, cmd *exec.Cmd, marker string) (time.Duration, error) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	drained := make(chan struct{})
	go func() { // reads stderr to its end, so the job never blocks on it
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), marker) {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-drained
		cmd.Wait()
		t.Fatalf("no %q on stderr within 20s", marker)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select { // EOF on stderr: the process has exited (Wait must not run before the reads end)
	case <-drained:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-drained
		cmd.Wait()
		t.Fatal("still running 20s after SIGINT")
	}
	err = cmd.Wait()
	return time.Since(start), err
}

// TestComputeDaskDigits: the command prints the very digits Dask prints.
func TestComputeDaskDigits(t *testing.T) {
	isolateConfig(t)
	py := testenv.Python(t, "dask.array")
	for _, c := range []struct{ seed, shape, chunks string }{
		{"0", "1000,1000", "100,100"},
		{"31337", "777,555", "200,123"},
	} {
		script := "import dask.array as da\nda.random.seed(" + c.seed + ")\nx = da.random.random((" + c.shape + "), chunks=(" + c.chunks + "))\nprint(x.mean().compute())\nprint(x.sum().compute())\n"
		want, err := exec.Command(py, "-c", script).Output()
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, op := range []string{"mean", "sum"} {
			out, errOut, code := runDsys(t, "", "compute", op, "--rng", "dask", "--dask-compat", "--seed", c.seed, "--shape", c.shape, "--chunks", c.chunks)
			if code != 0 {
				t.Fatalf("code %d: %s", code, errOut)
			}
			got.WriteString(out)
		}
		if got.String() != string(want) {
			t.Errorf("seed %s shape %s chunks %s: dsys printed %q, Dask %q", c.seed, c.shape, c.chunks, got.String(), want)
		}
	}
}
