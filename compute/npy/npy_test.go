package npy

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		in      string
		descr   string
		fortran bool
		shape   []int
	}{
		{"{'descr': '<f8', 'fortran_order': False, 'shape': (10000, 10000), }", "<f8", false, []int{10000, 10000}},
		{"{'shape': (3,), 'fortran_order': True, 'descr': '>i4'}", ">i4", true, []int{3}},
		{"{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": ()}", "|u1", false, []int{}},
		{"{'descr': '<f2', 'fortran_order': False, 'shape': (2L, 3L), }   \n", "<f2", false, []int{2, 3}},
	}
	for _, c := range cases {
		h, err := ParseHeader([]byte(c.in), 1)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if h.Descr != c.descr || h.Fortran != c.fortran || len(h.Shape) != len(c.shape) {
			t.Errorf("%s: got %+v", c.in, h)
		}
		for i := range c.shape {
			if h.Shape[i] != c.shape[i] {
				t.Errorf("%s: shape %v", c.in, h.Shape)
			}
		}
	}
}

func TestParseHeaderRefuses(t *testing.T) {
	cases := map[string]string{
		"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }":                         "Python objects",
		"{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (3,), }": "structured dtype",
		"{'descr': '<U5', 'fortran_order': False, 'shape': (3,), }":                        "strings",
		"{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }":                       "complex",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }":                       "negative",
		"{'descr': '<f8', 'fortran_order': False}":                                         "missing key",
		"{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}":                              "fortran_order",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}":                  "unexpected keys",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)":                           "expected",
		"{'descr': '<f16', 'fortran_order': False, 'shape': (3,), }":                       "not supported",
	}
	for in, want := range cases {
		_, err := ParseHeader([]byte(in), 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", in, err, want)
		}
	}
}

func TestReadHeaderTruncatedAndVersions(t *testing.T) {
	full := EncodeHeader(Float64, false, []int{4})
	for _, n := range []int{0, 5, 9, 20} {
		if _, err := ReadHeader(bytes.NewReader(full[:n])); !errors.Is(err, ErrFormat) {
			t.Errorf("%d bytes: got %v, want ErrFormat", n, err)
		}
	}
	bad := append([]byte(nil), full...)
	bad[6] = 4
	if _, err := ReadHeader(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "version 4.0") {
		t.Errorf("version 4: got %v", err)
	}
	h, err := ReadHeader(bytes.NewReader(full))
	if err != nil || h.DataOffset != int64(len(full)) || h.DataOffset%64 != 0 {
		t.Fatalf("got %+v, %v", h, err)
	}
}

func TestDecodeAllDTypes(t *testing.T) {
	for _, d := range strings.Fields(Supported) {
		for _, o := range []string{"<", ">"} {
			dt, err := ParseDescr(o + d)
			if err != nil {
				t.Fatal(err)
			}
			dec := dt.DecodeFunc()
			src := make([]byte, 3*dt.Size)
			// The value 1 in each encoding.
			one := map[string][]byte{
				"f8": {0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, "f4": {0, 0, 0x80, 0x3f}, "f2": {0, 0x3c},
			}[d]
			if one == nil {
				one = make([]byte, dt.Size)
				one[0] = 1
			}
			if o == ">" && dt.Size > 1 {
				one = append([]byte(nil), one...)
				for i, j := 0, len(one)-1; i < j; i, j = i+1, j-1 {
					one[i], one[j] = one[j], one[i]
				}
			}
			copy(src[dt.Size:], one)
			dst := make([]float64, 3)
			dec(dst, src)
			if dst[0] != 0 || dst[1] != 1 || dst[2] != 0 {
				t.Errorf("%s%s: decoded %v, want [0 1 0]", o, d, dst)
			}
		}
	}
}

func TestHalf(t *testing.T) {
	cases := map[uint16]float64{0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 0x1p-24, 0x7c00: math.Inf(1), 0x3555: 0.333251953125}
	for h, want := range cases {
		if got := HalfToFloat64(h); got != want {
			t.Errorf("%#x: %v, want %v", h, got, want)
		}
	}
	if !math.IsNaN(HalfToFloat64(0x7e00)) {
		t.Error("0x7e00 is not NaN")
	}
}

func TestWriteFileNumPyLoads(t *testing.T) {
	py := testenv.Python(t, "numpy")
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npy")
	data := []float64{0.5, math.NaN(), -1e300, 3, math.Inf(-1), 6}
	if err := WriteFile(path, []int{2, 3}, data); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", `import numpy as np, sys
a = np.load(sys.argv[1])
print(a.dtype.str, a.shape, a.flags['C_CONTIGUOUS'], [repr(float(x)) for x in a.ravel()])`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v: %s", err, out)
	}
	want := "<f8 (2, 3) True ['0.5', 'nan', '-1e+300', '3.0', '-inf', '6.0']\n"
	if string(out) != want {
		t.Fatalf("numpy read %q, want %q", out, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestWriteFileShapeMismatchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "x.npy"), []int{4}, []float64{1}); err == nil {
		t.Fatal("no error for a shape mismatch")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left: %v", entries)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("{'descr': '<f8', 'fortran_order': False, 'shape': (10000, 10000), }"))
	f.Add([]byte("{'descr': [('a', '<f8')], 'fortran_order': True, 'shape': (), }"))
	f.Add([]byte("{'descr': '>i2', 'fortran_order': False, 'shape': (1L,2,3,), }"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b, 3)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !strings.HasPrefix(err.Error(), "npy: ") {
				t.Fatalf("error without the npy prefix: %v", err)
			}
			return
		}
		for _, s := range h.Shape {
			if s < 0 {
				t.Fatalf("negative size accepted: %v", h.Shape)
			}
		}
		// What parsed must survive an encode/read round trip.
		enc := EncodeHeader(h.DType, h.Fortran, h.Shape)
		h2, err := ReadHeader(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-reading our own header %q: %v", enc, err)
		}
		if h2.DType != h.DType || h2.Fortran != h.Fortran || len(h2.Shape) != len(h.Shape) {
			t.Fatalf("round trip changed %+v into %+v", h, h2)
		}
	})
}
