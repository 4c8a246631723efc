package compute

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/compute/npy"

	"github.com/dsys-dev/dsys/internal/testenv"
)

type npCase struct {
	Shape   []int               `json:"shape"`
	DType   string              `json:"dtype"`
	Results map[string][]string `json:"results"`
}

// numpyCases writes the .npy files of testdata/numpy_cases.py into a
// temporary directory and returns NumPy's results for them.
func numpyCases(t *testing.T) (string, map[string]npCase) {
	t.Helper()
	py := testenv.Python(t, "numpy")
	dir := t.TempDir()
	out, err := exec.Command(py, "testdata/numpy_cases.py", dir).Output()
	if err != nil {
		t.Fatalf("numpy_cases.py: %v", err)
	}
	var cases map[string]npCase
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatal(err)
	}
	return dir, cases
}

func parseRepr(t testing.TB, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return f
}

// agrees compares our value with NumPy's: exactly for min, max, count and
// whole numbers; within a few ulps (scaled by the data) otherwise, since
// NumPy sums less accurately.
func agrees(got, want float64, exact bool) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if exact {
		return got == want
	}
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func TestNPYMatchesNumPy(t *testing.T) {
	dir, cases := numpyCases(t)
	ops := map[string]Op{"mean": Mean, "sum": Sum, "min": Min, "max": Max, "var": Var, "std": Std, "count": Count, "var1": Var}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".npy")
			// Tiny auto chunks and explicit ragged chunks: many chunks, edges.
			ragged := make([]int, len(c.Shape))
			for i, s := range c.Shape {
				ragged[i] = max(s/3+1, 1)
			}
			for _, fo := range []FileOptions{{ChunkBytes: 8 * 37}, {Chunks: ragged}} {
				f, err := OpenNPY(path, fo)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if FormatShape(f.Shape()) != FormatShape(c.Shape) {
					t.Fatalf("shape %v, numpy %v", f.Shape(), c.Shape)
				}
				for key, want := range c.Results {
					if op, ok := map[string]Op{"isum": Sum, "imin": Min, "imax": Max}[key]; ok {
						r := mustReduce(t, f, Options{Op: op})
						if got := r.Elem(0).String(); got != want[0] {
							t.Errorf("%s: got %s, numpy %s", key, got, want[0])
						}
						continue
					}
					// "op|axis|skip": see testdata/numpy_cases.py.
					opName, axis, skip := splitKey(t, key)
					o := Options{Op: ops[opName], SkipNaN: skip, Workers: 3}
					if opName == "var1" {
						o.DDOF = 1
					}
					if axis != "None" {
						a, err := strconv.Atoi(axis)
						if err != nil {
							t.Fatalf("%s: bad axis: %v", key, err)
						}
						o.Axis = []int{a}
					}
					r, err := Reduce(context.Background(), f, o)
					if err != nil {
						t.Fatalf("%s: %v", key, err)
					}
					got := r.Values()
					if len(got) != len(want) {
						t.Fatalf("%s: %d values, numpy %d", key, len(got), len(want))
					}
					exact := opName == "min" || opName == "max" || opName == "count"
					for i := range want {
						if w := parseRepr(t, want[i]); !agrees(got[i], w, exact) {
							t.Errorf("%s chunks %v [%d]: got %s, numpy %s", key, f.grid().Chunks, i, FormatFloat(got[i]), want[i])
							break
						}
					}
				}
			}
		})
	}
}

// splitKey reads a result key of numpy_cases.py: "op|axis|skip".
func splitKey(t testing.TB, key string) (op, axis string, skip bool) {
	t.Helper()
	parts := strings.Split(key, "|")
	if len(parts) != 3 || (parts[2] != "0" && parts[2] != "1") {
		t.Fatalf("result key %q: want op|axis|skip", key)
	}
	return parts[0], parts[1], parts[2] == "1"
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func npyBytes(t testing.TB, descr string, fortran bool, shape []int, data []byte) []byte {
	t.Helper()
	dt, err := npy.ParseDescr(descr)
	if err != nil {
		t.Fatal(err)
	}
	return append(npy.EncodeHeader(dt, fortran, shape), data...)
}

func f64bytes(vals ...float64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func TestNPYTruncatedReportsBytes(t *testing.T) {
	p := writeFile(t, "t.npy", npyBytes(t, "<f8", false, []int{10, 10}, f64bytes(make([]float64, 99)...)))
	_, err := OpenNPY(p, FileOptions{})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "needs 800 bytes of data, the file has 792") {
		t.Fatalf("got %v", err)
	}
}

func TestNPYUnsupportedDTypeNamed(t *testing.T) {
	hdr := "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"
	b := append([]byte(npy.Magic+"\x01\x00"), byte(len(hdr)), 0)
	p := writeFile(t, "o.npy", append(b, hdr...))
	_, err := OpenNPY(p, FileOptions{})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), `"|O"`) {
		t.Fatalf("got %v", err)
	}
}

func TestNPYNotNPY(t *testing.T) {
	p := writeFile(t, "x.npy", []byte("hello world, not numpy"))
	if _, err := OpenNPY(p, FileOptions{}); !errors.Is(err, ErrInput) {
		t.Fatalf("got %v", err)
	}
	if _, err := OpenNPY(filepath.Join(t.TempDir(), "missing.npy"), FileOptions{}); !errors.Is(err, ErrInput) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v", err)
	}
}

// pipeOf returns the read end of a pipe that b is written into.
func pipeOf(t *testing.T, b []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Write(b)
		w.Close()
	}()
	t.Cleanup(func() { r.Close(); <-done })
	return r
}

func TestNPYFromPipe(t *testing.T) {
	vals := randData(9, 6*700, 0)
	b := npyBytes(t, "<f8", false, []int{6, 700}, f64bytes(vals...))
	file := writeFile(t, "a.npy", b)
	for _, axis := range [][]int{nil, {0}, {1}} {
		f, err := OpenNPY(file, FileOptions{ChunkBytes: 8 * 1000})
		if err != nil {
			t.Fatal(err)
		}
		want := mustReduce(t, f, Options{Op: Var, Axis: axis}).Values()
		f.Close()
		p, err := NewNPY(pipeOf(t, b), "-", FileOptions{ChunkBytes: 8 * 1000})
		if err != nil {
			t.Fatal(err)
		}
		got := mustReduce(t, p, Options{Op: Var, Axis: axis, Workers: 3}).Values()
		if !sameBits(got, want) {
			t.Fatalf("axis %v: pipe %v, file %v", axis, got, want)
		}
	}
	// A truncated stream reports what it expected and what it got.
	p, err := NewNPY(pipeOf(t, b[:len(b)-10]), "-", FileOptions{ChunkBytes: 8 * 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Reduce(context.Background(), p, Options{Op: Mean})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "expected 33600 bytes of data, got 33590") {
		t.Fatalf("got %v", err)
	}
}

func TestRawFile(t *testing.T) {
	var b []byte
	for i := range 12 {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(float32(i)))
	}
	p := writeFile(t, "x.bin", b)
	f, err := OpenRaw(p, ">f4", []int{3, 4}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := mustReduce(t, f, Options{Op: Sum, Axis: []int{1}}).Values()
	if !sameBits(got, []float64{6, 22, 38}) {
		t.Fatalf("row sums %v", got)
	}
	if _, err := OpenRaw(p, "f8", []int{3, 4}, FileOptions{}); !errors.Is(err, ErrInput) {
		t.Fatalf("wrong size: %v", err)
	}
	if _, err := OpenRaw(p, "f16", nil, FileOptions{}); !errors.Is(err, ErrInput) {
		t.Fatalf("bad dtype: %v", err)
	}
	g, err := OpenRaw(p, "i2", nil, FileOptions{})
	if err != nil || FormatShape(g.Shape()) != "24" {
		t.Fatalf("shape from size: %v %v", g, err)
	}
	g.Close()
}
