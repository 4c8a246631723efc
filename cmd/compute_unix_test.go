//go:build linux

package cmd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/compute/npy"
	"github.com/dsys-dev/dsys/internal/testenv"
)

// Ctrl-C while dsys waits on a pipe that stays open (`sleep 30 | dsys
// compute mean`) exits 130 at once, for every input kind and wherever the
// wait is: for the first bytes, for a .npy header's data, in mid-stream.
func TestComputeSIGINTWhileWaitingOnAPipe(t *testing.T) {
	bin := testenv.Binary(t)
	npyHead := string(npy.EncodeHeader(npy.Float64, false, []int{1000, 1000}))
	cases := []struct {
		name  string
		args  []string
		first string // written before the wait; the pipe then stays open
	}{
		{"text", nil, ""},
		{"text, mid-stream", nil, "1 2 3\n"},
		{"text --column", []string{"--column", "0"}, "1\n"},
		{"csv", []string{"--format", "csv"}, ""},
		{"csv after the header", []string{"--format", "csv"}, "a,b\n"},
		{"npy by magic", []string{"-"}, ""},
		{"npy, header sent", []string{"-"}, npyHead},
		{"npy --format", []string{"--format", "npy"}, ""},
		{"raw", []string{"--format", "raw", "--shape", "1000"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close() // open, and silent after first, until the test ends
			if _, err := w.WriteString(c.first); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append([]string{"compute", "mean", "--log-level", "debug"}, c.args...)...)
			cmd.Stdin = r
			d, err := interruptWhenLogged(t, cmd, "compute: opening the input")
			if d > 2*time.Second {
				t.Errorf("took %v to exit after SIGINT", d)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitInterrupted {
				t.Fatalf("exit %v, want 130", err)
			}
		})
	}
}

// peakRSS runs dsys under GNU time and returns its peak resident set size in
// bytes. (The rusage of a child forked from the test process itself would
// start from the test process's own high-water mark.)
func peakRSS(t *testing.T, args ...string) (int64, string) {
	t.Helper()
	gnuTime := testenv.LookPath(t, "/usr/bin/time")
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", rssFile, testenv.Binary(t)}, args...)...)
	cmd.Env = append(os.Environ(), "DSYS_COMPUTE_WORKERS=2")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	b, _ := os.ReadFile(rssFile)
	f := strings.Fields(string(b))
	kb, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("GNU time wrote %q", b)
	}
	return kb << 10, string(out)
}

// Per-row reductions hold the result's values, not a partial state per row
// (mean --axis 1 of a (5e6, 4) .npy peaked at 1.27 GB; a random (1e7, 2) at
// 2.55 GB): memory is workers × chunk size plus the output itself.
func TestComputePerRowMemoryBounded(t *testing.T) {
	rows := 5_000_000
	if testing.Short() {
		rows = 1_000_000
	}
	dir := t.TempDir()
	vals := make([]float64, rows*4)
	for i := range vals {
		vals[i] = float64(i % 1000)
	}
	in := filepath.Join(dir, "rows.npy")
	if err := npy.WriteFile(in, []int{rows, 4}, vals); err != nil {
		t.Fatal(err)
	}
	vals = nil
	const slack = 64 << 20 // the binary, the runtime, two 8 MiB chunks and their batches
	out := int64(rows) * 8
	rss, _ := peakRSS(t, "compute", "mean", in, "--axis", "1", "--out", filepath.Join(dir, "o.npy"))
	if rss > out+slack {
		t.Errorf("mean --axis 1 of (%d, 4): peak RSS %d MB, want at most %d MB (output %d MB)", rows, rss>>20, (out+slack)>>20, out>>20)
	}
	rrows := 2 * rows
	out = int64(rrows) * 8
	rss, _ = peakRSS(t, "compute", "mean", "--shape", fmt.Sprintf("%d,2", rrows), "--axis", "1", "--out", filepath.Join(dir, "r.npy"))
	if rss > out+slack {
		t.Errorf("random (%d, 2) --axis 1: peak RSS %d MB, want at most %d MB (output %d MB)", rrows, rss>>20, (out+slack)>>20, out>>20)
	}
}

// A 200,000-column CSV is reduced within 1 GB (it used to reserve 8 × 8192
// bytes per column per worker: 1M columns ran out of memory).
func TestComputeWideCSVWithin1GB(t *testing.T) {
	cols, rows := 200_000, 12
	dir := t.TempDir()
	p := filepath.Join(dir, "wide.csv")
	f, _ := os.Create(p)
	bw := bufio.NewWriter(f)
	for r := range rows {
		for c := range cols {
			if c > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprint(bw, (r+c)%97)
		}
		bw.WriteByte('\n')
	}
	bw.Flush()
	f.Close()
	rss, out := peakRSS(t, "compute", "sum", p)
	if rss > 1<<30 {
		t.Errorf("peak RSS %d MB, want under 1 GB", rss>>20)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := func(c int) string {
		s := 0
		for r := range rows {
			s += (r + c) % 97
		}
		return fmt.Sprintf("%d\t%d", c, s)
	}
	if len(lines) != cols || lines[0] != want(0) || lines[cols-1] != want(cols-1) {
		t.Fatalf("%d lines, first %q last %q; want %d, %q … %q", len(lines), lines[0], lines[len(lines)-1], cols, want(0), want(cols-1))
	}
}
