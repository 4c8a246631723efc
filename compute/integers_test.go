package compute

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

// TestIntegersExactLikePython: int64 and uint64 input is reduced in integer
// arithmetic: min, max and sum are exact at any magnitude, and sums beyond
// 64 bits are Python's sum, not NumPy's wrap-around (testdata/int_cases.py
// computes them with Python ints), for every axis combination and several
// chunkings, from files and from a pipe.
func TestIntegersExactLikePython(t *testing.T) {
	py := testenv.Python(t, "numpy")
	dir := t.TempDir()
	out, err := exec.Command(py, "testdata/int_cases.py", dir).Output()
	if err != nil {
		t.Fatalf("int_cases.py: %v", err)
	}
	var cases map[string]struct {
		Shape   []int               `json:"shape"`
		Results map[string][]string `json:"results"`
	}
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatal(err)
	}
	ops := map[string]Op{"sum": Sum, "min": Min, "max": Max}
	for name, c := range cases {
		path := filepath.Join(dir, name+".npy")
		ragged := make([]int, len(c.Shape))
		for i, s := range c.Shape {
			ragged[i] = max(s/3+1, 1)
		}
		for _, fo := range []FileOptions{{}, {ChunkBytes: 8 * 5}, {Chunks: ragged}} {
			f, err := OpenNPY(path, fo)
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range c.Results {
				opName, axes, _ := strings.Cut(key, "|")
				o := Options{Op: ops[opName], Workers: 3}
				if axes != "None" {
					for _, a := range strings.Split(axes, ",") {
						n, _ := strconv.Atoi(a)
						o.Axis = append(o.Axis, n)
					}
				}
				r := mustReduce(t, f, o)
				if r.Len() != len(want) {
					t.Fatalf("%s %s: %d values, want %d", name, key, r.Len(), len(want))
				}
				for i := range want {
					if got := r.Elem(i).String(); got != want[i] {
						t.Errorf("%s %s chunks %v [%d]: %s, Python %s", name, key, f.grid().Chunks, i, got, want[i])
						break
					}
				}
			}
			f.Close()
		}
		// The same from a pipe (sequential chunks).
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewNPY(pipeOf(t, b), "-", FileOptions{ChunkBytes: 8 * 7})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustReduce(t, p, Options{Op: Sum, Workers: 2}).Elem(0).String(), c.Results["sum|None"][0]; got != want {
			t.Errorf("%s from a pipe: sum %s, Python %s", name, got, want)
		}
	}
}

// Integers written in text (as seq prints them) sum exactly and print as
// integers, beyond 2^53 and beyond 64 bits; one value that is not written as
// an integer makes the result a float.
func TestTextIntegersExact(t *testing.T) {
	cases := []struct {
		in, op, want string
	}{
		{seqText(100), "sum", "5050"},
		{seqText(100), "max", "100"},
		{"9007199254740993 1 -1", "sum", "9007199254740993"},
		{"9223372036854775807 9223372036854775807 18446744073709551615", "sum", "36893488147419103229"},
		{"-9223372036854775808 -9223372036854775808", "sum", "-18446744073709551616"},
		{"-9223372036854775808 18446744073709551615", "min", "-9223372036854775808"},
		{"-9223372036854775808 18446744073709551615", "max", "18446744073709551615"},
		{"+5 007 -3", "sum", "9"},
		{"1 2.0", "sum", "3.0"},
		{"1 2e0", "max", "2.0"},
		{"1 nan 2", "sum", "nan"},
		{"1 2 3", "mean", "2.0"},
		{"9007199254740993 9007199254740995", "mean", "9007199254740994.0"},
		{"99999999999999999999", "sum", "1e+20"}, // beyond 64 bits: a float
	}
	for _, c := range cases {
		op, _ := ParseOp(c.op)
		for _, bs := range []int{0, 16} {
			r := mustReduce(t, &Text{R: strings.NewReader(c.in), Name: "-", BlockBytes: bs}, Options{Op: op, Workers: 3})
			if got := r.Elem(0).String(); got != c.want {
				t.Errorf("%s of %.40q (block %d): %s, want %s", c.op, c.in, bs, got, c.want)
			}
		}
	}
	r := mustReduce(t, &Text{R: strings.NewReader("1 nan 2"), Name: "-"}, Options{Op: Sum, SkipNaN: true})
	if got := r.Elem(0).String(); got != "3" {
		t.Errorf("nansum of 1 nan 2: %s, want 3", got)
	}
}

// Int128's arithmetic, conversions and text at the edges.
func TestInt128(t *testing.T) {
	maxU := UintOf(1<<64 - 1)
	s := maxU.Add(maxU).Add(IntOf(-1 << 63)).Add(IntOf(-1 << 63))
	if got := s.String(); got != "18446744073709551614" {
		t.Errorf("sum %s", got)
	}
	if got := IntOf(-5).Add(IntOf(3)).String(); got != "-2" {
		t.Errorf("-5+3 = %s", got)
	}
	if IntOf(-1).Cmp(UintOf(1<<64-1)) >= 0 || UintOf(1<<63).Cmp(IntOf(1<<63-1)) <= 0 {
		t.Error("Cmp orders wrongly across 64 bits")
	}
	big, _ := parseInt128("123456789012345678901234567890")
	if got := big.Float64(); got != 1.2345678901234568e29 {
		t.Errorf("Float64 %v", got)
	}
	if got := IntOf(7).ratio(2); got != 3.5 {
		t.Errorf("ratio %v", got)
	}
	// 2^64+1 over 3: exact rational rounding.
	v, _ := parseInt128("18446744073709551617")
	if got := v.ratio(3); got != 6148914691236517205.666666 {
		t.Errorf("ratio %v", got)
	}
	for _, s := range []string{"0", "-1", "170141183460469231731687303715884105727", "-170141183460469231731687303715884105728"} {
		v, ok := parseInt128(s)
		if !ok || v.String() != s || v.Big().String() != s {
			t.Errorf("%s: %v %v %v", s, ok, v, v.Big())
		}
	}
	if _, ok := parseInt128("170141183460469231731687303715884105728"); ok {
		t.Error("2^127 parsed")
	}
	for tok, want := range map[string]string{"18446744073709551615": "18446744073709551615", "-9223372036854775808": "-9223372036854775808"} {
		if v, ok := parseIntToken([]byte(tok)); !ok || v.String() != want {
			t.Errorf("%s: %v %v", tok, v, ok)
		}
	}
	for _, tok := range []string{"18446744073709551616", "-9223372036854775809", "1.0", "", "-", "1e3", "0x10"} {
		if _, ok := parseIntToken([]byte(tok)); ok {
			t.Errorf("%q read as an integer", tok)
		}
	}
}
