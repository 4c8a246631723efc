package compute

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCSVPerColumn(t *testing.T) {
	in := "name,x,y,z\na,1,10,\"5\"\nb,2,20,6\n\nc,3,30,7\n"
	r := mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.csv"}, Options{Op: Sum})
	if strings.Join(r.Names, " ") != "x y z" || !sameBits(r.Values(), []float64{6, 60, 18}) {
		t.Fatalf("names %v values %v", r.Names, r.Values())
	}
	r = mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.csv", Column: "y"}, Options{Op: Mean})
	if len(r.Shape) != 0 || r.Value() != 20 {
		t.Fatalf("column y: shape %v value %v", r.Shape, r.Value())
	}
	r = mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.csv", Column: "3"}, Options{Op: Max})
	if r.Value() != 7 {
		t.Fatalf("column 3: %v", r.Value())
	}
	if _, err := Reduce(context.Background(), &CSV{R: strings.NewReader(in), Name: "d.csv", Column: "w"}, Options{}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), `no column "w"`) {
		t.Fatalf("missing column: %v", err)
	}
}

func TestCSVNoHeaderTSVQuotedAndEmpty(t *testing.T) {
	in := "1\t\"a\tb\"\t2\n3\tc\t\n5\td\t4\n"
	r := mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.tsv", Delimiter: '\t'}, Options{Op: Mean})
	if strings.Join(r.Names, " ") != "0 2" {
		t.Fatalf("names %v", r.Names)
	}
	v := r.Values()
	if v[0] != 3 || !math.IsNaN(v[1]) {
		t.Fatalf("values %v (empty field is NaN)", v)
	}
	r = mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.tsv", Delimiter: '\t'}, Options{Op: Mean, SkipNaN: true})
	if v := r.Values(); v[1] != 3 {
		t.Fatalf("skipna values %v", v)
	}
}

func TestCSVErrors(t *testing.T) {
	cases := map[string]string{
		"x,y\n1,2\n3,4\n5,oops\n": `d.csv:4:3: malformed number "oops"`,
		"x,y\n1,2\n3\n":           `d.csv:3:1: 1 fields, want 2 like the first line`,
		"a,b\nx,y\n":              `d.csv:1: no numeric column (columns: "0", "1")`,
	}
	for in, want := range cases {
		for _, bs := range []int{0, 16} {
			_, err := Reduce(context.Background(), &CSV{R: strings.NewReader(in), Name: "d.csv", BlockBytes: bs}, Options{Op: Sum})
			if !errors.Is(err, ErrInput) || err.Error() != "compute: "+want {
				t.Errorf("%q block %d: got %v, want %s", in, bs, err, want)
			}
		}
	}
}

func TestCSVManyBlocksMatchesOneBlock(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,c\n")
	for i, v := range randData(8, 3000, 0) {
		b.WriteString(FormatFloat(v))
		if i%3 == 2 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(',')
		}
	}
	one := mustReduce(t, &CSV{R: strings.NewReader(b.String()), Name: "x"}, Options{Op: Stats}).Summaries()
	many := mustReduce(t, &CSV{R: strings.NewReader(b.String()), Name: "x", BlockBytes: 100}, Options{Op: Stats, Workers: 3}).Summaries()
	for i := range one {
		if one[i].Count != 1000 || one[i].Count != many[i].Count || !near(one[i].Mean, many[i].Mean) || !near(one[i].Std, many[i].Std) || one[i].Min != many[i].Min {
			t.Fatalf("column %d: %+v vs %+v", i, one[i], many[i])
		}
	}
}

// csvSums reduces in with op and returns "name=value" pairs.
func csvSums(t *testing.T, in string, o Options, bs int) (string, *Result) {
	t.Helper()
	r := mustReduce(t, &CSV{R: strings.NewReader(in), Name: "d.csv", BlockBytes: bs}, o)
	var parts []string
	for i := range r.Len() {
		name := ""
		if r.Names != nil {
			name = r.Names[i] + "="
		}
		parts = append(parts, name+r.Elem(i).String())
	}
	return strings.Join(parts, " "), r
}

// Nothing in a CSV file is dropped without a word: every value is used,
// counted as missing, or an error naming file:line:column.
func TestCSVHonest(t *testing.T) {
	cases := []struct {
		name, in string
		o        Options
		want     string
	}{
		{"empty line after the header", "a,b,c\n\n1,2,3\n4,5,6\n", Options{Op: Sum}, "a=5 b=7 c=9"},
		{"blank lines and CRLF", "a,b\r\n\r\n\r\n1,2\r\n\r\n3,4\r\n", Options{Op: Sum}, "a=4 b=6"},
		{"header only", "a,b,c\n", Options{Op: Sum}, "a=0 b=0 c=0"},
		{"header only, count", "a,b,c\n", Options{Op: Count}, "a=0 b=0 c=0"},
		{"BOM, no header", "\ufeff1,2\n3,4\n", Options{Op: Sum}, "0=4 1=6"},
		{"BOM before a header", "\ufeffx,y\n1,2\n", Options{Op: Sum}, "x=1 y=2"},
		{"NA in a header-less first row", "1,NA,3\n4,5,6\n", Options{Op: Count, SkipNaN: true}, "0=2 1=1 2=2"},
		{"NA first in a column", "x,y\nNA,1\n2,2\n", Options{Op: Sum, SkipNaN: true}, "x=2 y=3"},
		{"NA propagates without skipna", "x,y\nNA,1\n2,2\n", Options{Op: Sum}, "x=nan y=3"},
		{"every missing marker", "x\n1\nNA\nN/A\nNULL\nnull\nNone\n#N/A\n<NA>\nnan\n\n-nan\n", Options{Op: Count}, "x=10"},
		{"quoted thousands", "a,b\n\"1,000\",2\n\"-2,500.5\",3\n\"1,234,567\",4\n", Options{Op: Sum}, "a=1233066.5 b=9"},
		{"a column of missing values", "x,y\n1,\n2,\n", Options{Op: Count, SkipNaN: true}, "x=2 y=0"},
		{"integers print as integers", "x,y\n1,1.5\n2,2\n", Options{Op: Sum}, "x=3 y=3.5"},
	}
	for _, c := range cases {
		for _, bs := range []int{0, 16} {
			got, _ := csvSums(t, c.in, c.o, bs)
			if got != c.want {
				t.Errorf("%s (block %d): %s, want %s", c.name, bs, got, c.want)
			}
		}
	}
	// A header-only file is empty for ops that need values.
	if _, err := Reduce(context.Background(), &CSV{R: strings.NewReader("a,b\n"), Name: "d.csv"}, Options{Op: Mean}); !errors.Is(err, ErrInput) {
		t.Errorf("mean of a header-only file: %v", err)
	}
}

func TestCSVErrorsNameLineAndColumn(t *testing.T) {
	long := strings.Repeat("1,2\n", 200)
	cases := map[string]string{
		"a,b\n\"1,2\n3,4\n":             `d.csv:2:1: unterminated quoted field (a quoted field may not span lines)`,
		"a,b\n1,\"2\n":                  `d.csv:2:3: unterminated quoted field (a quoted field may not span lines)`,
		"a,b\n" + long + "5,\"6\n7,8\n": `d.csv:202:3: unterminated quoted field (a quoted field may not span lines)`,
		"x\n1\n2\nabc\n":                `d.csv:4:1: malformed number "abc"`,
		"x,y\nNA,1\n2,2\nabc,3\n":       `d.csv:4:1: malformed number "abc"`,
		"x,y\n1,2\n3,\"1,5\"\n":         `d.csv:3:3: malformed number "1,5"`,
	}
	for in, want := range cases {
		for _, bs := range []int{0, 16} {
			_, err := Reduce(context.Background(), &CSV{R: strings.NewReader(in), Name: "d.csv", BlockBytes: bs}, Options{Op: Sum})
			if !errors.Is(err, ErrInput) || err.Error() != "compute: "+want {
				t.Errorf("%.30q block %d: got %v, want %s", in, bs, err, want)
			}
		}
	}
}

// A column whose first value is not a number is a label column: left out,
// and said so (Result.Skipped), with where its first value is.
func TestCSVSkippedColumnsReported(t *testing.T) {
	got, r := csvSums(t, "name,x,code\nNA,1,\nbob,2,A7\nann,3,12\n", Options{Op: Sum}, 0)
	if got != "x=6" {
		t.Fatalf("sums %s, want x=6", got)
	}
	want := []SkippedColumn{{Index: 0, Name: "name", Value: "bob", Line: 3, Col: 1}, {Index: 2, Name: "code", Value: "A7", Line: 3, Col: 7}}
	if len(r.Skipped) != 2 || r.Skipped[0] != want[0] || r.Skipped[1] != want[1] {
		t.Fatalf("skipped %+v, want %+v", r.Skipped, want)
	}
}

// Every value is used or counted as missing: on random files of numbers,
// missing markers and blank lines, the counts add up to the rows.
func TestCSVEveryValueCounted(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	tokens := []string{"1", "-2.5", "", "NA", "nan", "\"7\"", "1e3", "\"1,000\"", " 4 "}
	for trial := range 20 {
		var b strings.Builder
		b.WriteString("a,b,c\n")
		rows, numbers := 0, [3]int{}
		for range 300 {
			if rng.IntN(10) == 0 {
				b.WriteString("\n")
				continue
			}
			for c := range 3 {
				tok := tokens[rng.IntN(len(tokens))]
				if k, _, _ := csvValue([]byte(tok)); k == valNumber && tok != "nan" {
					numbers[c]++
				}
				b.WriteString(tok)
				if c < 2 {
					b.WriteByte(',')
				}
			}
			b.WriteString("\n")
			rows++
		}
		for _, skip := range []bool{false, true} {
			r := mustReduce(t, &CSV{R: strings.NewReader(b.String()), Name: "d.csv", BlockBytes: 64 + trial}, Options{Op: Count, SkipNaN: skip, Workers: 3})
			if r.Len() != 3 {
				t.Fatalf("trial %d: %d columns", trial, r.Len())
			}
			for c := range 3 {
				want := rows
				if skip {
					want = numbers[c]
				}
				if got := int(r.Elem(c).Float); got != want {
					t.Fatalf("trial %d skipna %v column %d: count %d, want %d", trial, skip, c, got, want)
				}
			}
		}
	}
}
