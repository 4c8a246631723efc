package compute

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/dsys-dev/dsys/internal/testenv"
)

type daskCase struct {
	Seed   uint64 `json:"seed"`
	Shape  []int  `json:"shape"`
	Chunks []int  `json:"chunks"`
	Dist   string `json:"dist"`
	Axis   []int  `json:"axis"`
}

// TestDaskCompatDigits runs Dask 2022.12 on several seeds, shapes and ragged
// chunkings and checks that DaskRNG reproduces its values and that
// DaskCompat reproduces its mean and sum digit for digit.
func TestDaskCompatDigits(t *testing.T) {
	py := testenv.Python(t, "dask.array")
	ax := func(a ...int) []int { return a }
	cases := []daskCase{
		{Seed: 0, Shape: []int{1000, 1000}, Chunks: []int{100, 100}, Dist: "uniform"},
		{Seed: 42, Shape: []int{2000, 3000}, Chunks: []int{700, 1100}, Dist: "uniform"},
		{Seed: 7, Shape: []int{100003}, Chunks: []int{9999}, Dist: "uniform"},
		{Seed: 123456789, Shape: []int{37, 41, 43}, Chunks: []int{10, 7, 20}, Dist: "uniform"},
		{Seed: 4294967295, Shape: []int{500, 300}, Chunks: []int{499, 1}, Dist: "uniform"},
		{Seed: 3, Shape: []int{300, 200}, Chunks: []int{64, 50}, Dist: "normal"},
		{Seed: 5, Shape: []int{300, 200}, Chunks: []int{64, 50}, Dist: "uniform", Axis: ax(0)},
		{Seed: 5, Shape: []int{300, 200}, Chunks: []int{64, 50}, Dist: "uniform", Axis: ax(1)},
		{Seed: 9, Shape: []int{20, 30, 40}, Chunks: []int{7, 9, 11}, Dist: "uniform", Axis: ax(1)},
		{Seed: 9, Shape: []int{20, 30, 40}, Chunks: []int{7, 9, 11}, Dist: "uniform", Axis: ax(1, 2)},
		{Seed: 9, Shape: []int{20, 30, 40}, Chunks: []int{7, 9, 11}, Dist: "uniform", Axis: ax(0, -2)},
		{Seed: 9, Shape: []int{20, 30, 40}, Chunks: []int{7, 9, 11}, Dist: "uniform", Axis: ax(0, 1, 2)},
	}
	if testing.Short() {
		cases = append(cases[:1], cases[2:]...)
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(py, "testdata/dask_cases.py")
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dask_cases.py: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d result lines for %d cases", len(lines), len(cases))
	}
	for i, c := range cases {
		var want struct{ Mean, Sum, First []string }
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatal(err)
		}
		dist, _ := ParseDist(c.Dist)
		src, err := NewRandom(c.Shape, c.Chunks, c.Seed, dist, DaskRNG)
		if err != nil {
			t.Fatal(err)
		}
		// Chunk 0's first row starts the array.
		var got []string
		if err := src.read(t.Context(), 0, newWorkerState(), func(a []float64, _ []int64) error {
			if got == nil {
				for _, v := range a[:min(len(a), 5, c.Chunks[len(c.Chunks)-1])] {
					got = append(got, FormatFloat(v))
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("case %d: reading chunk 0: %v", i, err)
		}
		if n := len(got); strings.Join(got, " ") != strings.Join(want.First[:n], " ") {
			t.Errorf("case %d: first values %v, dask %v", i, got, want.First[:n])
		}
		o := Options{DaskCompat: true, Workers: 3}
		o.Axis = c.Axis
		for _, op := range []Op{Mean, Sum} {
			o.Op = op
			var vals []string
			for _, v := range mustReduce(t, src, o).Values() {
				vals = append(vals, FormatFloat(v))
			}
			w := want.Mean
			if op == Sum {
				w = want.Sum
			}
			if strings.Join(vals, " ") != strings.Join(w, " ") {
				if len(vals) > 4 {
					t.Errorf("case %d %+v: %v differs from dask", i, c, op)
				} else {
					t.Errorf("case %d %+v: %v %v, dask %v", i, c, op, vals, w)
				}
			}
		}
	}
}
