package compute

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// runPlan computes every task of a plan as remote workers would — the spec
// through JSON, each task on a TaskRunner, its partials through the binary
// encoding — and adds them in a shuffled order.
func runPlan(t testing.TB, p *Plan, seed uint64) (*Result, error) {
	t.Helper()
	js, err := json.Marshal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	var spec JobSpec
	if err := json.Unmarshal(js, &spec); err != nil {
		t.Fatal(err)
	}
	order := make([]int, p.Tasks())
	for i := range order {
		order[i] = i
	}
	rand.New(rand.NewPCG(seed, 1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var tr TaskRunner
	for _, task := range order {
		pieces, err := tr.Run(context.Background(), &spec, task)
		if err != nil {
			return nil, err
		}
		for i, ps := range pieces {
			if pieces[i], err = DecodePartials(AppendPartials(nil, ps)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Add(task, pieces); err != nil {
			t.Fatalf("Add(%d): %v", task, err)
		}
	}
	return p.Result()
}

// sameResult compares two results element by element, bit for bit, as
// dsys prints them and as JSON carries them.
func sameResult(t testing.TB, what string, got, want *Result) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Input.Shape, want.Input.Shape) ||
		!slices.Equal(got.Input.Chunks, want.Input.Chunks) || got.Len() != want.Len() {
		t.Fatalf("%s: shape %v input %+v, want %v input %+v", what, got.Shape, got.Input, want.Shape, want.Input)
	}
	if !slices.Equal(got.Names, want.Names) || fmt.Sprint(got.Skipped) != fmt.Sprint(want.Skipped) {
		t.Fatalf("%s: names %v skipped %v, want %v %v", what, got.Names, got.Skipped, want.Names, want.Skipped)
	}
	for i := range want.Len() {
		g, w := got.Elem(i), want.Elem(i)
		if g.String() != w.String() || math.Float64bits(g.Float) != math.Float64bits(w.Float) ||
			fmt.Sprint(got.Summary(i)) != fmt.Sprint(want.Summary(i)) {
			t.Fatalf("%s [%d]: %v (%v), want %v (%v)", what, i, g, got.Summary(i), w, want.Summary(i))
		}
	}
}

// checkPlan holds a plan of o over a source (opened afresh by open) to
// Reduce: the same bits, or the same error.
func checkPlan(t *testing.T, what string, open func() Source, o Options, po PlanOptions) {
	t.Helper()
	want, wantErr := Reduce(context.Background(), open(), o)
	p, err := NewPlan(context.Background(), open(), o, po)
	var got *Result
	if err == nil {
		got, err = runPlan(t, p, uint64(len(what)))
	}
	switch {
	case wantErr != nil || err != nil:
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || errors.Is(err, ErrInput) != errors.Is(wantErr, ErrInput) {
			t.Fatalf("%s: plan error %v, Reduce error %v", what, err, wantErr)
		}
	default:
		sameResult(t, what, got, want)
	}
}

var planOps = []Op{Mean, Sum, Min, Max, Var, Std, Count, Stats}

func TestPlanRandomHasReduceBits(t *testing.T) {
	for _, c := range []struct {
		shape, chunks []int
		dist          Dist
		gen           RNG
	}{
		{[]int{100, 120}, []int{30, 25}, Uniform, FastRNG},
		{[]int{100, 120}, []int{30, 25}, Normal, DaskRNG},
		{[]int{40, 9, 17}, []int{7, 4, 17}, Uniform, DaskRNG},
		{[]int{1000}, []int{64}, Normal, FastRNG},
		{[]int{0, 5}, []int{3, 2}, Uniform, FastRNG},
	} {
		rank := len(c.shape)
		for _, axis := range [][]int{nil, {0}, {rank - 1}, {0, rank - 1}} {
			for _, op := range planOps {
				for _, compat := range []bool{false, true} {
					o := Options{Op: op, Axis: axis, DaskCompat: compat, DDOF: 1}
					what := fmt.Sprintf("%v/%v %v %v axis %v %v compat %v", c.shape, c.chunks, c.dist, c.gen, axis, op, compat)
					checkPlan(t, what, func() Source {
						r, err := NewRandom(c.shape, c.chunks, 11, c.dist, c.gen)
						if err != nil {
							t.Fatal(err)
						}
						return r
					}, o, PlanOptions{})
				}
			}
		}
	}
}

func TestPlanArrayFilesHaveReduceBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var f8, i4, f4 []byte
	for range 24 * 18 {
		f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(rng.NormFloat64()*1e6+3))
		i4 = binary.BigEndian.AppendUint32(i4, uint32(rng.Int32()))
		f4 = binary.LittleEndian.AppendUint32(f4, math.Float32bits(float32(rng.Float64())))
	}
	f8[8*7+7] = 0x7f // some NaN
	f8[8*7+6] = 0xf8
	files := []struct {
		name, format string
		data         []byte
		dtype        string
		shape        []int
	}{
		{"c.npy", "npy", npyBytes(t, "<f8", false, []int{24, 18}, f8), "", nil},
		{"f.npy", "npy", npyBytes(t, ">i4", true, []int{24, 18}, i4), "", nil},
		{"x.raw", "raw", f4, "f4", []int{4, 6, 18}},
		{"y.raw", "raw", f4, "f4", nil},
	}
	for _, f := range files {
		path := writeFile(t, f.name, f.data)
		format, _ := ParseFormat(f.format)
		open := func(chunks []int) func() Source {
			return func() Source {
				in, err := OpenInput(context.Background(), path, nil, format)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { in.Close() })
				var a *ArrayFile
				if format == FormatNPY {
					a, err = in.NPY(context.Background(), FileOptions{Chunks: chunks})
				} else {
					a, err = in.Raw(f.dtype, f.shape, FileOptions{Chunks: chunks})
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close() })
				return a
			}
		}
		rank := len(f.shape)
		if f.shape == nil {
			rank = 2
			if f.format == "raw" {
				rank = 1
			}
		}
		for _, chunks := range [][]int{nil, []int{5, 4, 7}[:rank]} {
			for _, axis := range [][]int{nil, {0}, {-1}} {
				for _, op := range planOps {
					for _, skip := range []bool{false, true} {
						what := fmt.Sprintf("%s chunks %v axis %v %v skipna %v", f.name, chunks, axis, op, skip)
						checkPlan(t, what, open(chunks), Options{Op: op, Axis: axis, SkipNaN: skip}, PlanOptions{})
					}
				}
			}
		}
	}
}

// textCases are text and CSV files with what makes their cutting hard:
// byte order marks, blank lines, tokens and lines across reads, headers,
// labels and missing values, integers and errors.
func textCases(t *testing.T) []struct {
	name, text string
	format     Format
	column     string
} {
	rng := rand.New(rand.NewPCG(9, 9))
	var nums, ints, field, csv, wide strings.Builder
	nums.WriteString("\xef\xbb\xbf")
	for i := range 3000 {
		fmt.Fprintf(&nums, "%.17g", rng.NormFloat64()*math.Pow(10, float64(rng.IntN(30)-15)))
		nums.WriteString([]string{" ", "\n", "\t", "  \n"}[i%4])
		fmt.Fprintf(&ints, "%d\n", rng.Int64()>>rng.IntN(60))
		fmt.Fprintf(&field, "a%d %g %d\n", i, rng.Float64(), i)
	}
	csv.WriteString("\xef\xbb\xbfname,price,qty,note\n\n")
	for i := range 2000 {
		fmt.Fprintf(&csv, "item%d,%.6f,%d,\"x, y\"\n", i, rng.Float64()*100, rng.IntN(1000))
		if i%97 == 0 {
			csv.WriteString("\n,NA,,\n")
		}
	}
	for i := range 50 {
		for j := range 300 {
			if j > 0 {
				wide.WriteByte(',')
			}
			fmt.Fprintf(&wide, "%d", i*j)
		}
		wide.WriteByte('\n')
	}
	bad := strings.Repeat("1.5 2.5\n", 2000) + "3 4x 5\n" + strings.Repeat("7\n", 100)
	long := strings.Repeat("1 ", 3000) + strings.Repeat("9", 5000) + " 2"
	badCSV := "a,b\n" + strings.Repeat("1,2\n", 3000) + "3,zz\n4,5\n"
	return []struct {
		name, text string
		format     Format
		column     string
	}{
		{"nums.txt", nums.String(), FormatText, ""},
		{"ints.txt", ints.String(), FormatText, ""},
		{"field.txt", field.String(), FormatText, "1"},
		{"prices.csv", csv.String(), FormatCSV, ""},
		{"qty.csv", csv.String(), FormatCSV, "qty"},
		{"wide.csv", wide.String(), FormatCSV, ""},
		{"empty.txt", "", FormatText, ""},
		{"blank.csv", "\n\n", FormatCSV, ""},
		{"bad.txt", bad, FormatText, ""},
		{"long.txt", long, FormatText, ""},
		{"bad.csv", badCSV, FormatCSV, ""},
	}
}

func TestPlanTextAndCSVHaveReduceBits(t *testing.T) {
	for _, c := range textCases(t) {
		path := writeFile(t, c.name, []byte(c.text))
		for _, bs := range []int{16, 100, 1000, 4096, 1 << 20} {
			open := func() Source {
				in, err := OpenInput(context.Background(), path, nil, c.format)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { in.Close() })
				if c.format == FormatCSV {
					return in.CSV(0, c.column, bs)
				}
				return in.Text(c.column, bs)
			}
			for _, tb := range []int{1, 3000, 1 << 30} {
				for _, op := range []Op{Mean, Sum, Min, Var, Stats, Count} {
					what := fmt.Sprintf("%s block %d task %d %v", c.name, bs, tb, op)
					checkPlan(t, what, open, Options{Op: op}, PlanOptions{TaskBytes: tb})
				}
			}
		}
	}
}

// A plan refuses what other processes cannot open, and a task of a file
// that changed names the difference.
func TestPlanRefusesStreamsAndChangedFiles(t *testing.T) {
	ctx := context.Background()
	for _, src := range []Source{
		&Text{R: strings.NewReader("1 2 3"), Name: "-"},
		func() Source {
			in, err := OpenInput(ctx, "-", strings.NewReader("1\n2\n"), FormatText)
			if err != nil {
				t.Fatal(err)
			}
			return in.Text("", 0)
		}(),
	} {
		if _, err := NewPlan(ctx, src, Options{}, PlanOptions{}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "other processes") {
			t.Errorf("%T: NewPlan error %v, want an input error about other processes", src, err)
		}
	}
	path := writeFile(t, "x.npy", npyBytes(t, "<f8", false, []int{4, 4}, f64bytes(make([]float64, 16)...)))
	a, err := OpenNPY(path, FileOptions{Chunks: []int{2, 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	p, err := NewPlan(ctx, a, Options{}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, npyBytes(t, "<f8", false, []int{2, 4}, f64bytes(make([]float64, 8)...)), 0o644); err != nil {
		t.Fatal(err)
	}
	var tr TaskRunner
	if _, err := tr.Run(ctx, &p.Spec, 0); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "not the file the client read") {
		t.Errorf("changed file: %v", err)
	}
	p.Spec.Float = "arm64"
	if _, err := tr.Run(ctx, &p.Spec, 0); err == nil || !strings.Contains(err.Error(), "rounds floating point differently") {
		t.Errorf("other float flavor: %v", err)
	}
	p.Spec.Version++
	if _, err := tr.Run(ctx, &p.Spec, 0); err == nil || !strings.Contains(err.Error(), "same dsys release") {
		t.Errorf("other version: %v", err)
	}
}

// taskBits pins what the tasks of a few jobs compute, for each JobVersion.
// When a change makes this test fail, tasks of the same spec now compute
// other bits than released workers do: bump JobVersion (so that mixed
// releases refuse each other instead of mixing bits) and add its hash.
var taskBits = map[int]string{
	1: "3d70addb9297e017612c1bb5a525fb8187dbc26348e214528221c32c93a32b4e",
}

func TestJobVersionPinsTaskBits(t *testing.T) {
	if FloatFlavor() != "amd64/v1" {
		t.Skipf("the hashes are pinned for amd64/v1 builds, this is %s", FloatFlavor())
	}
	h := sha256.New()
	var tr TaskRunner
	for _, gen := range []RNG{FastRNG, DaskRNG} {
		for _, dist := range []Dist{Uniform, Normal} {
			for _, op := range planOps {
				for _, axis := range [][]int{nil, {1}} {
					r, err := NewRandom([]int{300, 70}, []int{64, 30}, 42, dist, gen)
					if err != nil {
						t.Fatal(err)
					}
					p, err := NewPlan(context.Background(), r, Options{Op: op, Axis: axis, DDOF: 1}, PlanOptions{})
					if err != nil {
						t.Fatal(err)
					}
					for k := range p.Tasks() {
						pieces, err := tr.Run(context.Background(), &p.Spec, k)
						if err != nil {
							t.Fatal(err)
						}
						for _, ps := range pieces {
							h.Write(AppendPartials(nil, ps))
						}
					}
				}
			}
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want := taskBits[JobVersion]; got != want {
		t.Fatalf("tasks of JobVersion %d compute %s, pinned %q: if the change is meant, bump JobVersion and pin the new hash", JobVersion, got, want)
	}
}
