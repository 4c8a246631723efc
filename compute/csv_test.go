package compute

import (
	"context"
	"errors"
	"math"
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
