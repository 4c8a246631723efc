package cmd

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// A .npy file on stdin is recognised by its magic bytes, as files are
// (whatever their name), with or without "-".
func TestComputeNPYOnStdin(t *testing.T) {
	dir := isolateConfig(t)
	in := writeNPY(t, dir, "a.npy", []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	b, _ := os.ReadFile(in)
	for _, args := range [][]string{{"sum", "-"}, {"sum"}, {"sum", "-", "--axis", "1"}} {
		out, errOut, code := runDsys(t, string(b), append([]string{"compute"}, args...)...)
		want := "21.0\n"
		if len(args) > 2 {
			want = "6.0\n15.0\n"
		}
		if code != 0 || out != want {
			t.Errorf("%v: code %d out %q stderr %q, want %q", args, code, out, errOut, want)
		}
	}
	renamed := filepath.Join(dir, "data.bin")
	os.WriteFile(renamed, b, 0o644)
	if out, errOut, code := runDsys(t, "", "compute", "max", renamed); code != 0 || out != "6.0\n" {
		t.Errorf("a .npy named data.bin: code %d out %q stderr %q", code, out, errOut)
	}
}

// --column N picks field N of whitespace-separated text; on .npy input it
// is an error (exit 2), as are other flags that do not apply.
func TestComputeColumnFlag(t *testing.T) {
	dir := isolateConfig(t)
	if out, errOut, code := runDsys(t, "1 10\n2 20\n", "compute", "sum", "--column", "1"); code != 0 || out != "30\n" {
		t.Errorf("text --column 1: code %d out %q stderr %q", code, out, errOut)
	}
	in := writeNPY(t, dir, "a.npy", []int{2}, []float64{1, 2})
	for _, args := range [][]string{
		{"sum", in, "--column", "0"},
		{"sum", in, "--delimiter", ";"},
		{"sum", in, "--dtype", "i4"},
		{"sum", "--format", "text", "--delimiter", ","},
	} {
		_, errOut, code := runDsys(t, "1 2", append([]string{"compute"}, args...)...)
		if code != ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "applies to") {
			t.Errorf("%v: code %d stderr %q, want exit 2 saying what it applies to", args, code, errOut)
		}
	}
}

// The stdin rule: random-array flags select the random array and stdin is
// never read (a warning says so when it holds data); otherwise piped data
// is the input.
func TestComputeStdinRule(t *testing.T) {
	isolateConfig(t)
	random, _, _ := runDsys(t, "", "compute", "mean", "--seed", "3", "--shape", "20,20")
	for _, flags := range [][]string{{"--seed", "3", "--shape", "20,20"}, {"--shape", "20,20", "--seed", "3", "--dist", "uniform"}} {
		out, errOut, code := runDsys(t, "1\n2\n3\n", append([]string{"compute", "mean"}, flags...)...)
		if code != 0 || out != random || !strings.Contains(errOut, "stdin is not read") {
			t.Errorf("%v with piped data: code %d out %q stderr %q", flags, code, out, errOut)
		}
	}
	if _, errOut, _ := runDsys(t, "1\n2\n3\n", "compute", "mean", "--seed", "3", "-q"); errOut != "" {
		t.Errorf("-q: stderr %q", errOut)
	}
	if _, errOut, _ := runDsys(t, "", "compute", "mean", "--seed", "3", "--shape", "5,5"); errOut != "" {
		t.Errorf("no piped data: stderr %q, want no warning", errOut)
	}
	if out, _, code := runDsys(t, "1\n2\n3\n", "compute", "mean", "--axis", "0"); code != 0 || out != "2.0\n" {
		t.Errorf("piped data without random flags: code %d out %q", code, out)
	}
	if out, _, code := runDsys(t, "1\n2\n3\n", "compute", "mean", "-", "--axis", "0"); code != 0 || out != "2.0\n" {
		t.Errorf("- : code %d out %q", code, out)
	}
}

// A while-read loop around `dsys compute mean` with the random array's flags
// keeps its input: each iteration runs, none reads the loop's lines.
func TestComputeWhileReadLoopKeepsItsInput(t *testing.T) {
	bin := testenv.Binary(t)
	script := fmt.Sprintf(`printf '1\n2\n3\n' | while read s; do %s compute mean --seed "$s" --shape 10,10 -q; done`, bin)
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "\n"); n != 3 {
		t.Fatalf("%d results, want 3 (one per line of the loop): %q", n, out)
	}
}

// Text whose values are all integers sums and prints as an integer, as
// datamash prints it.
func TestComputeIntegerTextLikeDatamash(t *testing.T) {
	isolateConfig(t)
	for _, c := range []struct{ in, want string }{
		{seqLines(100), "5050\n"},
		{"9007199254740993\n1\n", "9007199254740994\n"},
		{"1\n2.5\n", "3.5\n"},
	} {
		if out, _, code := runDsys(t, c.in, "compute", "sum"); code != 0 || out != c.want {
			t.Errorf("sum of %.20q: code %d out %q, want %q", c.in, code, out, c.want)
		}
	}
	dm := testenv.LookPath(t, "datamash")
	cmd := exec.Command(dm, "sum", "1")
	cmd.Stdin = strings.NewReader(seqLines(100))
	want, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, _, _ := runDsys(t, seqLines(100), "compute", "sum"); out != string(want) {
		t.Errorf("dsys %q, datamash %q", out, want)
	}
}

func seqLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

// --chunks -1 is the whole axis, as in Dask.
func TestComputeChunksMinusOne(t *testing.T) {
	isolateConfig(t)
	out, _, code := runDsys(t, "", "compute", "mean", "--shape", "300,200", "--chunks", "-1,50", "-o", "json")
	var m struct {
		Chunks []int  `json:"chunks"`
		Result any    `json:"result"`
		Elapsd *any   `json:"elapsed"`
		Secs   *any   `json:"elapsed_s"`
		Op     string `json:"op"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || code != 0 {
		t.Fatalf("code %d: %v %q", code, err, out)
	}
	if fmt.Sprint(m.Chunks) != "[300 50]" {
		t.Errorf("chunks %v, want [300 50]", m.Chunks)
	}
	if m.Secs == nil || m.Elapsd != nil {
		t.Errorf("durations carry their unit: elapsed_s, not elapsed: %s", out)
	}
	same, _, _ := runDsys(t, "", "compute", "mean", "--shape", "300,200", "--chunks", "300,50")
	plain, _, _ := runDsys(t, "", "compute", "mean", "--shape", "300,200", "--chunks", "-1,50")
	if same != plain {
		t.Errorf("--chunks -1,50 %q differs from 300,50 %q", plain, same)
	}
	if _, errOut, code := runDsys(t, "", "compute", "mean", "--chunks", "-2,50"); code != ExitUsage || !strings.Contains(errOut, "-1 for the whole axis") {
		t.Errorf("-2: code %d %q", code, errOut)
	}
}

// --axis takes several axes with NumPy's semantics (compared with NumPy for
// every combination); a repeated axis, or --axis given twice, is an error.
func TestComputeSeveralAxesLikeNumPy(t *testing.T) {
	dir := isolateConfig(t)
	py := testenv.Python(t, "numpy")
	vals := make([]float64, 4*5*6)
	for i := range vals {
		vals[i] = float64((i*7919)%101) - 50.5
	}
	in := writeNPY(t, dir, "a.npy", []int{4, 5, 6}, vals)
	combos := []string{"0", "1", "2", "0,1", "0,2", "1,2", "0,1,2", "-1,0", "2,-3"}
	var script strings.Builder
	script.WriteString("import numpy as np\na = np.load('" + in + "')\n")
	for _, c := range combos {
		fmt.Fprintf(&script, "print(' '.join(repr(float(v)) for v in np.ravel(a.sum(axis=(%s,)))))\n", c)
		fmt.Fprintf(&script, "print(' '.join(repr(float(v)) for v in np.ravel(a.max(axis=(%s,)))))\n", c)
	}
	want, err := exec.Command(py, "-c", script.String()).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(want)), "\n")
	for i, c := range combos {
		for j, op := range []string{"sum", "max"} {
			for _, chunks := range [][]string{nil, {"--chunks", "3,2,4"}} {
				out, errOut, code := runDsys(t, "", append([]string{"compute", op, in, "--axis", c}, chunks...)...)
				if code != 0 {
					t.Fatalf("--axis %s: code %d %s", c, code, errOut)
				}
				if got := strings.Join(strings.Fields(out), " "); got != lines[2*i+j] {
					t.Errorf("%s --axis %s %v: %s, NumPy %s", op, c, chunks, got, lines[2*i+j])
				}
			}
		}
	}
	for _, args := range [][]string{{"--axis", "1,1"}, {"--axis", "0,-3"}, {"--axis", "0", "--axis", "1"}, {"--axis", "3"}, {"--axis", "x"}} {
		_, errOut, code := runDsys(t, "", append([]string{"compute", "sum", in}, args...)...)
		if code != ExitUsage || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d stderr %q, want exit 2", args, code, errOut)
		}
	}
}

// Flag values complete: --rng, --dist, --format.
func TestComputeFlagCompletion(t *testing.T) {
	isolateConfig(t)
	for flag, want := range map[string][]string{"--rng": {"fast", "dask"}, "--dist": {"uniform", "normal"}, "--format": {"npy", "csv", "tsv", "raw", "text"}} {
		out, _, code := runDsys(t, "", "__complete", "compute", "mean", flag, "")
		if code != 0 {
			t.Fatalf("%s: code %d", flag, code)
		}
		for _, w := range want {
			if !strings.Contains(out, "\n"+w+"\t") && !strings.HasPrefix(out, w+"\t") {
				t.Errorf("%s completes %q, want %s among them", flag, out, w)
			}
		}
	}
}

// CSV columns that are not numeric are named on stderr, and in -o json.
func TestComputeCSVSkippedColumnsWarned(t *testing.T) {
	dir := isolateConfig(t)
	p := filepath.Join(dir, "d.csv")
	os.WriteFile(p, []byte("name,x\nann,1\nbob,2\n"), 0o644)
	out, errOut, code := runDsys(t, "", "compute", "sum", p)
	if code != 0 || out != "x\t3\n" || !strings.Contains(errOut, `d.csv:2:1: column \"name\" is not numeric`) {
		t.Errorf("code %d out %q stderr %q", code, out, errOut)
	}
	out, _, _ = runDsys(t, "", "compute", "sum", p, "-o", "json", "-q")
	var m struct {
		Skipped []struct {
			Name string `json:"name"`
			Line int    `json:"line"`
		} `json:"skipped_columns"`
		Result []int `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m.Skipped) != 1 || m.Skipped[0].Name != "name" || m.Result[0] != 3 {
		t.Errorf("json %q: %v %+v", out, err, m)
	}
}

// -o json streams any result: a value, an array, stats objects; integers
// exactly, nan and inf as strings.
func TestComputeJSONResults(t *testing.T) {
	dir := isolateConfig(t)
	in := writeNPY(t, dir, "a.npy", []int{2, 2}, []float64{1, 2, 3, nan()})
	for args, want := range map[string]string{
		"sum " + in:                          `"nan"`,
		"sum " + in + " --axis 1":            `[3.0,"nan"]`,
		"count " + in + " --axis 0":          `[2,2]`,
		"stats " + in + " --axis 0 --skipna": `[{"count":2,"mean":2.0,"std":1.0,"min":1.0,"max":3.0},{"count":1,"mean":2.0,"std":0.0,"min":2.0,"max":2.0}]`,
	} {
		out, errOut, code := runDsys(t, "", append(append([]string{"compute"}, strings.Fields(args)...), "-o", "json")...)
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &m); err != nil || code != 0 {
			t.Fatalf("%s: code %d %v %q %s", args, code, err, out, errOut)
		}
		if string(m["result"]) != want {
			t.Errorf("%s: result %s, want %s", args, m["result"], want)
		}
	}
}

func nan() float64 { return math.NaN() }
